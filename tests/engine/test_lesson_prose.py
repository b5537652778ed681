"""Lessons: every number in the prose is measured, filled in from a naive reference, or accounted for (the file
and the claims: test_lessons.py)."""

import dataclasses
import math
import re
from types import MappingProxyType

import pytest
import torch

from engine.data import COPY_SYMBOLS, copy_length, task_loss
from engine.lab import prepare
from engine.lessons import LESSONS, lesson_config, render_lesson, try_config
from engine.lessons import lab as lab_lessons
from engine.lessons.catalogue import (
    PLACEHOLDER,
    Claim,
    get_lesson,
)
from engine.lessons.numbers import magnitude, measure
from tests.engine.attention_reference import alignment_share_reference, source_reach_reference
from tests.engine.lesson_reference import LAG_MEASURES, reference_lag_measure
from tests.engine.reference import reference_gates, reference_trace


def _measured(lesson, claim):
    return lesson_config(lesson) if claim.on_try is None else try_config(lesson, claim.on_try)


# Lessons of the main page; the cliff page's lessons have their own tests (tests/engine/test_cliff_lessons.py).
LAB = [lesson for lesson in LESSONS if lesson.view == "lab"]


# --- every number in the prose ------------------------------------------------------------------------------
# A number in a lesson's text is either a placeholder, filled from the trace of the lesson's own link (checked
# against a naive autograd below), or one of: 0, 1, 2 as structure (indices, ln 2, 1 − z_t); a value of the
# link or a try, its seq_len − 1, or the threshold of one of the lesson's claims (each measured above); a
# citation's year; or a fact listed here, computed independently and compared at the precision written.

_SUP = str.maketrans("⁻⁰¹²³⁴⁵⁶⁷⁸⁹", "-0123456789")
_NUMBER = re.compile(r"(\d{1,3}(?:,\d{3})+|\d+(?:\.\d+)?)([⁻⁰¹²³⁴⁵⁶⁷⁸⁹]+)?")
_YEAR = re.compile(r"\b(?:19|20)\d\d(?=[);])")
_SIGMOID = lambda x: 1 / (1 + math.exp(-x))  # noqa: E731


def _gate_magnitude(lesson_id, on_try=None):
    return measure(get_lesson(lesson_id), "gate_product", on_try)


COMMON_FACTS = {"0.5": _SIGMOID(0.0), "0.95": _SIGMOID(3.0), "95": 100 * _SIGMOID(3.0), "0.69": math.log(2),
                "0.693": math.log(2), "50": 100 * 0.5}  # fmt: skip
FACTS = {
    "exploding-gradients": {"7,600": 1.2**49, "32": torch.finfo(torch.float32).bits},
    "lstm-cell-state": {"0.006": 0.95**99},
    "sentiment-review": {"15": 20 - 20 // 4, "45": 60 - 60 // 4},  # the word is before step T // 4
    "copy-memory": {"10": copy_length(40), "30": 40 - copy_length(40), "8": COPY_SYMBOLS,
                    "0.14": 0.95**39,  # the text raises 0.95 itself
                    # the question's options are the measured products of the link and of its first try
                    "0.1": lambda: _gate_magnitude("copy-memory"), "10⁻¹²": lambda: _gate_magnitude("copy-memory", 0)},
    "tagging-both-ways": {"1.5": 1.5, "0.087": 1.5 / 12 * math.log(2), "12": 12},  # word at 1 or 2: mean 1.5
    "price-forecast": {"40": 60 - 20},
    # the paper's target; 1 / max σ′ = 4, the weight below which x ↦ w·σ(x) + b has one resting point only
    "the-cliff": {"0.7": 0.7, "4": 1 / (_SIGMOID(0.0) * (1 - _SIGMOID(0.0)))},
    "truncated-bptt": {"27": 30 - 3},  # the last window of 3 steps starts at T − 3
    "attention-against-length": {"10": 10},  # the fitted slope's unit: decades every 10 source words
    # the adding problem's baseline: the variance of a sum of two U(0, 1) values is 2 · 1/12 = 1/6
    "adding-problem-against-length": {"6": 1 / (2 / 12)},
    # T = 12 copies K = copy_length(12) symbols at a lag of T − K; the try's T = 24 copies 10 at 14
    "copy-before-and-after-training": {"5": copy_length(12), "7": 12 - copy_length(12), "10": copy_length(24),
                                       "14": 24 - copy_length(24)},
}  # fmt: skip


def _texts(lesson):
    yield from ((name, getattr(lesson, name)) for name in ("summary", "question", "answer", "analogy", "equation",
                                                           "equation_says"))  # fmt: skip
    yield from ((f"explanation {i}", p) for i, p in enumerate(lesson.explanation))
    yield from ((f"try {i}", t.look_for) for i, t in enumerate(lesson.tries))
    yield from ((f"claim {i}", c.says) for i, c in enumerate(lesson.claims))


def _allowed_values(lesson):
    values = {0.0, 1.0, 2.0}
    configs = [lesson_config(lesson)] + [try_config(lesson, i) for i in range(len(lesson.tries))]
    length = "T" if lesson.view == "cliff" else "seq_len"
    keys = set(lesson.link) | {t.key for t in lesson.tries} | {length}
    for cfg in configs:
        values |= {float(getattr(cfg, k)) for k in keys if type(getattr(cfg, k)) in (int, float)}
        values.add(float(getattr(cfg, length) - 1))
        if lesson.view == "sweep":  # a sweep's values and alternatives are the link's too
            alternatives = [v for a in cfg.over for v in a.set.values()]
            values |= {float(v) for v in (*cfg.values, *alternatives) if type(v) in (int, float)}
    for claim in lesson.claims:
        values |= {float(v) for v in claim.params.values() if type(v) in (int, float)}
        if claim.params.get("metric") == "accuracy":  # a share of the words, said as a percentage
            values |= {100 * float(v) for v in claim.params.values() if type(v) in (int, float)}
    return values


def _value(digits, sup):
    base = float(digits.replace(",", ""))
    return base if sup is None else base ** int(sup.translate(_SUP))


def _written_matches(written, value):
    """``value`` rounds to ``written`` at the precision written (7,600 to the hundred, 0.14 to the hundredth)."""
    digits = written.replace(",", "")
    if "." in digits:
        unit = 10.0 ** -len(digits.split(".")[1])
    else:
        unit = 10.0 ** (len(digits) - len(digits.rstrip("0"))) if digits.strip("0") else 1.0
    return abs(value - float(digits)) <= unit / 2


def _unaccounted(lesson):
    allowed, facts = _allowed_values(lesson), {**COMMON_FACTS, **FACTS.get(lesson.id, {})}
    known = lambda v: any(math.isclose(v, a, rel_tol=1e-9) for a in allowed)  # noqa: E731
    bad = []
    for where, text in _texts(lesson):
        text = _YEAR.sub("", PLACEHOLDER.sub("", text))
        for m in _NUMBER.finditer(text):
            token, (digits, sup) = m.group(0), m.groups()
            if token in facts or known(_value(digits, sup)):
                continue
            if sup is not None and known(float(digits.replace(",", ""))) and known(float(sup.translate(_SUP))):
                continue  # a power of accounted numbers, such as 1.2⁴⁹
            if sup is not None and digits in facts and known(float(sup.translate(_SUP))):
                continue  # such as 0.95³⁹
            bad.append(f"{where}: {token!r} in {text[max(0, m.start() - 30) : m.end() + 10]!r}")
    return bad


@pytest.mark.parametrize("lesson", LESSONS, ids=[lesson.id for lesson in LESSONS])
def test_every_number_in_the_prose_is_measured_or_accounted_for(lesson):
    assert _unaccounted(lesson) == []
    for token, value in FACTS.get(lesson.id, {}).items():
        assert any(token in text for _, text in _texts(lesson)), f"{token} is listed but not in the text"
        value = value() if callable(value) else value
        if token.startswith("10") and any(c in token for c in "⁻⁰¹²³⁴⁵⁶⁷⁸⁹"):
            assert round(math.log10(value)) == int(token[2:].translate(_SUP)), (token, value)
        else:
            assert _written_matches(token, value), (token, value)
    for token, value in COMMON_FACTS.items():
        assert _written_matches(token, value), (token, value)


def test_an_unaccounted_number_is_found():
    typed = dataclasses.replace(get_lesson("vanishing-gradients"), answer="Here σ_max is about 1.03.")
    assert _unaccounted(typed) == ["answer: '1.03' in 'Here σ_max is about 1.03.'"]


PLACEHOLDERS = sorted({(lesson.id, m.group(1), None if m.group(2) is None else int(m.group(2)))
                       for lesson in LAB for _, text in _texts(lesson) for m in PLACEHOLDER.finditer(text)},
                      key=str)  # fmt: skip


def _reference_measure(lesson, name, on_try):
    """The measure from PyTorch's cell modules one step at a time (tests/engine/reference.py), not the engine."""
    cfg = _measured(lesson, Claim("ratio", "", MappingProxyType({}), on_try))
    if name == "source_reach":
        return source_reach_reference(cfg)
    if name.endswith("diagonal_share"):  # the alignment's share on a diagonal, before or after the lab's training
        model = lab_lessons._train(cfg).model if name.startswith("trained") else prepare(cfg)[0]
        return alignment_share_reference(model, cfg, "main" if name == "trained_diagonal_share" else "anti")
    model, batch = prepare(cfg)
    rnn = model.rnn
    if name == "sigma_max":
        return float(torch.linalg.matrix_norm(rnn.weight_hh_l0.detach().double(), ord=2))
    if name == "spectral_radius":
        return float(torch.linalg.eigvals(rnn.weight_hh_l0.detach().double()).abs().max())
    if name == "rnn_params":
        module = {"rnn": torch.nn.RNN, "lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[cfg.cell]
        fresh = module(batch.x.shape[-1], cfg.hidden_size, cfg.num_layers, bidirectional=cfg.bidirectional)
        return sum(p.numel() for p in fresh.parameters())
    ref = reference_trace(rnn, batch.x, lambda out: task_loss(model.head(out), batch))
    norms = ref["grad_h"].double().flatten(3).norm(dim=3)  # (L, D, T)
    q = max(1, cfg.seq_len // 4)
    if name == "ratio":
        return float(norms[0, 0, 0] / norms[0, 0, -1])
    if name == "layer_fraction":
        return float(norms[0, 0, -1] / norms[-1, 0, -1])
    if name == "edge_forward":
        return float(norms[0, 0, :q].mean() / norms[0, 0, -1])
    if name == "edge_reverse":
        return float(norms[0, 1, -q:].mean() / norms[0, 1, 0])
    if name == "gate_product":
        gate = reference_gates(rnn, ref, batch.x)["forget" if cfg.cell == "lstm" else "update"]
        return float(gate[0, 0, 1:].double().flatten(1).mean(1).prod())
    if name == "total_spread":
        return float(norms[0, 0].max() / norms[0, 0].min())
    raise AssertionError(f"no reference for {name}")


@pytest.mark.parametrize("lesson_id,name,on_try", PLACEHOLDERS, ids=[f"{i}/{n}@{t}" for i, n, t in PLACEHOLDERS])
def test_each_number_filled_in_is_what_a_naive_reference_measures(lesson_id, name, on_try):
    lesson = get_lesson(lesson_id)
    if name in LAG_MEASURES:
        reference = reference_lag_measure(_measured(lesson, Claim(name, "", MappingProxyType({}), on_try)), name)
    else:
        reference = _reference_measure(lesson, name, on_try)
    engine = measure(lesson, name, on_try)
    # float32 traces: the ratios over 100 steps agree to a few parts in a thousand
    assert engine == pytest.approx(reference, rel=1e-2), (engine, reference)


def test_rendered_lessons_hold_no_placeholder_and_show_the_measured_value():
    for lesson in LESSONS:
        shown = render_lesson(lesson)
        assert all(not PLACEHOLDER.search(text) for _, text in _texts(shown)), lesson.id
    shown = render_lesson(get_lesson("vanishing-gradients"))
    sigma = measure(get_lesson("vanishing-gradients"), "sigma_max")
    assert f"Here σ_max is {sigma:.2f}," in shown.explanation[2]
    assert magnitude(4812.3) == "4,800" and magnitude(0.1389) == "0.14" and magnitude(2.3e-27) == "10⁻²⁷"
    assert magnitude(0.0) == "0"
    with pytest.raises(ValueError, match="positive and finite"):
        magnitude(float("nan"))
