"""The settings tests/server/test_script.py runs as scripts: every choice of every field, with every cell.

The walk takes, for each cell, every architecture with every task it can be laid over (the encoder-decoder
with each of its sentence tasks, its source read both ways, one and two encoder directions, each attention
meeting each of those), and rotates the other keys through their choices (init, clip, nonlinearity,
bidirectional, layers, a tbptt window, the forget bias, gain, seed, the recall task's lag) so that each of them
meets each cell.  :func:`missing_choices` says what it fails to cover; the choices come from
engine/config/space.py's FIELDS, so a choice added there is missing here until walked.  Sizes are small (T of 5
to 9, H = 4, N = 3) except where a choice needs more: the copy task reaches its 10 symbols at T = 23, and the
sentiment word moves past step 1 once T // 4 > 2.
"""

from __future__ import annotations

import numpy as np
import pytest

from engine import Config
from engine.config import FIELD_BY_NAME, FIELDS
from engine.config.space import SEQ2SEQ_TASKS
from engine.lessons import lesson_config, try_config
from engine.lessons.catalogue import get_lesson
from server.wire.encoding import from_wire

ENCODER_DECODER = "encoder-decoder"
# The choice and yes/no keys that change the trace (optimizer only changes what Train does).
CHOICE_FIELDS = tuple(f for f in FIELDS if f.kind in ("choice", "bool") and f.affects != ("training",))
SEQ_LEN = {"copy": 23, "sentiment": 9, "translate": 7}  # what these tasks need to show all they do; else 6
TBPTT = 3  # cuts a T of 6 to 9 into two or three windows

# Truncated at 10 steps of 30, the many-to-one RNN's h_0 gets no gradient at all; the identity start keeps
# the full gradient alive across the cuts, so truncating changes the parameters' gradient norm by 7%.
TRUNCATED = {"tbptt": 10, "seq_len": 30, "hidden_size": 8, "batch_size": 4, "init": "identity"}
LESSON = "translation-bottleneck"


def _choices(name: str) -> tuple:
    f = FIELD_BY_NAME[name]
    return (False, True) if f.kind == "bool" else f.choices


def _one_module(cell_index: int, cell: str) -> list[dict]:
    settings = []
    archs = [a for a in _choices("arch") if a != ENCODER_DECODER]
    for a, arch in enumerate(archs):
        for t, task in enumerate(_choices("task")):
            m = a * len(_choices("task")) + t  # rotates the other keys against arch and task alike
            s = {
                "cell": cell, "arch": arch, "task": task, "seq_len": SEQ_LEN.get(task, 6 - m % 2),
                "hidden_size": 4, "batch_size": 3, "seed": 100 * cell_index + m,
                "init": _choices("init")[(m + a) % 4], "clip": _choices("clip")[m % 3], "clip_at": 1e-3,
                "bidirectional": m % 5 in (1, 3), "num_layers": 2 if m % 7 in (2, 5) else 1,
                "tbptt": TBPTT if (m + a) % 2 else 0, "gain": 1.25 if m % 4 == 2 else 1.0,
            }  # fmt: skip
            if cell == "rnn":
                s["nonlinearity"] = "relu" if (m // 2) % 2 else "tanh"
            if cell == "lstm":
                s["forget_bias"] = (0.0, 1.0, -1.0)[(m // 3) % 3]
            if task == "recall":
                s["lag"] = 2 + m % 2  # within T, so most steps recall a sign
            settings.append(s)
    return settings


def _encoder_decoder(cell_index: int, cell: str) -> list[dict]:
    settings = []
    for t, task in enumerate(SEQ2SEQ_TASKS):
        for r, reverse_source in enumerate(_choices("reverse_source")):
            for bidirectional in _choices("bidirectional"):
                m = 4 * t + 2 * r + bidirectional
                settings.append({
                    "cell": cell, "arch": ENCODER_DECODER, "task": task, "reverse_source": reverse_source,
                    "bidirectional": bidirectional, "num_layers": 1 + (t + r) % 2, "seq_len": 5 + m % 2,
                    "hidden_size": 4, "batch_size": 3, "seed": 100 * cell_index + 50 + m,
                    "init": _choices("init")[m % 4], "clip": _choices("clip")[m % 3], "clip_at": 1e-3,
                    "attention": _choices("attention")[(m + t) % 3],  # each meets every task, order, direction, clip
                })  # fmt: skip
    return settings


def lesson_settings() -> dict[str, dict]:
    """The translation lesson's link and each of its tries, as the config each one opens."""
    lesson = get_lesson(LESSON)
    configs = {"link": lesson_config(lesson)} | {f"try {i}": try_config(lesson, i) for i in range(len(lesson.tries))}
    return {f"{LESSON} {name}": c.non_default() for name, c in configs.items()}


def walk() -> dict[str, dict]:
    """Every setting the test runs, keyed by a label that names it in a failure."""
    settings = {}
    for i, cell in enumerate(_choices("cell")):
        for s in _one_module(i, cell) + _encoder_decoder(i, cell):
            label = ", ".join(f"{k}={v}" for k, v in s.items() if k in ("cell", "arch", "task"))
            settings[label + f" #{len(settings)}"] = s
    settings["truncated"] = TRUNCATED
    settings["full"] = {**TRUNCATED, "tbptt": 0}
    return settings | lesson_settings()


def missing_choices(settings: list[dict]) -> list[str]:
    """What the settings fail to cover: per cell, a choice of a key where the key applies; an (arch, task) pair;
    a tbptt window on an architecture whose T can be cut."""
    configs = [Config.from_dict(s) for s in settings]
    missing = []
    for cell in _choices("cell"):
        mine = [c for c in configs if c.cell == cell]
        pairs = {(c.arch, c.task) for c in mine}
        archs = _choices("arch")
        for arch in archs:
            for task in SEQ2SEQ_TASKS if arch == ENCODER_DECODER else _choices("task"):
                if (arch, task) not in pairs:
                    missing.append(f"{cell}: arch={arch} with task={task}")
            cut = any(c.arch == arch and 0 < c.tbptt < c.seq_len for c in mine)
            if arch not in (ENCODER_DECODER, "one-to-one") and not cut:
                missing.append(f"{cell}: arch={arch} with a tbptt window")
        for f in (f for f in CHOICE_FIELDS if f.name != "cell"):
            applying = [c for c in mine if f.applies_to(c.to_dict())]
            if not applying and f.applies_to({**Config().to_dict(), "cell": cell, "arch": ENCODER_DECODER}):
                missing.append(f"{cell}: {f.name} never applies")
            seen = {getattr(c, f.name) for c in applying}
            missing += [f"{cell}: {f.name}={v}" for v in _choices(f.name) if applying and v not in seen]
    return missing


def assert_same_numbers(printed: dict, doc: dict, label: str) -> None:
    """The script's loss, gradient norms before and after clipping and every ‖∂L/∂h_t‖ are the trace's, to 1e-5."""
    want = np.array(doc["backward"]["grad_h_norm"])
    got = np.array(printed["grad_h_norm"])
    assert got.shape == want.shape, label  # (L, D, T), or (L, D, 2T) for the encoder-decoder
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=0, err_msg=label)
    for key in ("total_norm", "total_norm_clipped"):
        assert printed[key] == pytest.approx(doc["done"][key], rel=1e-5, abs=0), (label, key)
    assert printed["loss"] == pytest.approx(doc["done"]["loss"], rel=1e-5, abs=0), label
    attention = doc["done"]["attention"]
    assert ("attention" in printed) == (attention is not None), label
    if attention is not None:  # the alignment of the first sentence, the encoder's gradient by its two roads
        for key in ("alignment", "grad_attention_norm", "grad_recurrent_norm"):
            np.testing.assert_allclose(printed["attention"][key], attention[key], rtol=1e-5, atol=0, err_msg=label)


def assert_same_lag_row(printed: dict, doc: dict, label: str) -> None:
    """The script's row of the lag map, backpropagated from its last output alone, is /api/trace?lag=1's row for that
    output step, to 1e-5."""
    row, backward = printed["lag_row"], doc["backward"]
    steps = backward["output_steps"]
    assert row["output_step"] == steps[-1], label  # the last output: always one of the map's rows
    want = np.array(from_wire(backward["grad_h_by_output"]), float)[:, :, steps.index(row["output_step"])]
    got = np.array(row["grad_h"])
    assert got.shape == want.shape, label  # (L, D, T), or (L, D, 2T) for the encoder-decoder
    assert (got == 0).sum() == (want == 0).sum(), label  # exactly where the output reaches nothing (tbptt, later steps)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=0, err_msg=label)
