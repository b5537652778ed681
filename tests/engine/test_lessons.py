"""Lessons: the file validates, every link and try is a config, and every claim holds, also by a naive reference."""

import copy
import dataclasses
import functools
import json
import math
import re
import statistics
from types import MappingProxyType

import pytest
import torch

from engine.config import FIELD_BY_NAME, Config, parse_query
from engine.data import COPY_SYMBOLS, copy_length, task_loss
from engine.lab import prepare
from engine.lessons import LESSONS, TOPICS, lesson_config, lesson_query, render_lesson, try_config, try_query
from engine.lessons.catalogue import (
    LESSONS_PATH,
    PLACEHOLDER,
    Claim,
    LessonError,
    check_claim,
    get_lesson,
    load_lessons,
)
from engine.lessons.lab import lag_trace
from engine.lessons.numbers import magnitude, measure
from tests.engine.reference import reference_gates, reference_lag_curve, reference_lag_rows, reference_trace


def _measured(lesson, claim):
    return lesson_config(lesson) if claim.on_try is None else try_config(lesson, claim.on_try)


ALL_CLAIMS = [(lesson, claim) for lesson in LESSONS for claim in lesson.claims]
# Lessons of the main page; the cliff page's lessons have their own tests (tests/engine/test_cliff_lessons.py).
LAB = [lesson for lesson in LESSONS if lesson.view == "lab"]
CLAIM_IDS = [f"{lesson.id}/{k}-{claim.kind}" for lesson in LESSONS for k, claim in enumerate(lesson.claims)]


# --- the syllabus and the file ------------------------------------------------------------------------------


def test_every_topic_has_a_lesson_and_the_practical_settings_are_there():
    assert {lesson.topic for lesson in LESSONS} == set(TOPICS)
    practice = [lesson_config(lesson) for lesson in LESSONS if lesson.topic == "practice"]
    assert any(c.task == "sine" and c.arch == "many-to-one" for c in practice)
    assert any(c.task == "sentiment" and c.arch == "many-to-one" and c.cell != "rnn" for c in practice)
    assert any(c.task == "copy" and c.arch == "many-to-many" for c in practice)
    assert any(c.bidirectional and c.arch == "many-to-many" for c in practice)
    archs = {try_config(lesson, i).arch for lesson in LESSONS if lesson.topic == "architectures"
             for i in range(len(lesson.tries))} | {lesson_config(get_lesson("four-shapes")).arch}  # fmt: skip
    assert archs == set(FIELD_BY_NAME["arch"].choices)


def test_lessons_are_frozen_and_found_by_id():
    assert len({lesson.id for lesson in LESSONS}) == len(LESSONS)
    for lesson in LESSONS:
        assert get_lesson(lesson.id) is lesson
        assert 2 <= len(lesson.explanation) <= 4 and 2 <= len(lesson.tries) <= 3 and lesson.claims
    with pytest.raises(dataclasses.FrozenInstanceError):
        LESSONS[0].title = "changed"
    with pytest.raises(TypeError):
        LESSONS[0].link["seq_len"] = 3
    with pytest.raises(KeyError, match="unknown lesson 'no-such-lesson'; known lessons: four-shapes"):
        get_lesson("no-such-lesson")


@pytest.mark.parametrize("lesson", LAB, ids=[lesson.id for lesson in LAB])
def test_link_and_tries_are_valid_configs_and_each_try_moves_one_control(lesson):
    cfg = lesson_config(lesson)
    assert cfg == Config.from_dict(dict(lesson.link))
    query = lesson_query(lesson)
    assert query["lesson"] == lesson.id
    assert parse_query(query) == (cfg, [])  # the teaching link opens exactly this config
    for i, t in enumerate(lesson.tries):
        moved = try_config(lesson, i)
        assert getattr(moved, t.key) == FIELD_BY_NAME[t.key].check(t.value) != getattr(cfg, t.key)
        changed = {f.name for f in dataclasses.fields(Config) if getattr(moved, f.name) != getattr(cfg, f.name)}
        # one-to-one forces seq_len = 1: still one control moved by the student
        assert changed == {t.key} or (t.value == "one-to-one" and changed == {"arch", "seq_len"})
        assert parse_query({**moved.to_query()}) == (moved, [])


def test_a_lessons_view_is_written_back_into_its_link_and_its_tries_links():
    lesson = get_lesson("flat-curve-hides-vanishing")
    assert lesson.link_view == "lag" and "view" not in lesson.link  # a page key, not a config key
    assert lesson_query(lesson) == {**lesson_config(lesson).to_query(), "lesson": lesson.id, "view": "lag"}
    assert [try_query(lesson, i)["view"] for i in range(len(lesson.tries))] == ["lag"] * len(lesson.tries)
    assert try_query(lesson, 0) == {**try_config(lesson, 0).to_query(), "lesson": lesson.id, "view": "lag"}
    assert parse_query(lesson_query(lesson)) == (lesson_config(lesson), [])  # the server's reading skips it
    plain = get_lesson("vanishing-gradients")
    assert plain.link_view is None and "view" not in lesson_query(plain) and "view" not in try_query(plain, 0)
    assert {le.id for le in LESSONS if le.link_view == "lag"} == {
        "flat-curve-hides-vanishing", "how-far-back-each-cell-hears", "copy-before-and-after-training"}


def test_a_page_without_views_refuses_a_lessons_view(tmp_path):
    data = json.loads(LESSONS_PATH.read_text(encoding="utf-8"))
    cliff = next(item for item in data["lessons"] if item.get("view") == "cliff")
    cliff["link"]["view"] = "lag"
    path = tmp_path / "lessons.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(LessonError, match="lesson 'the-cliff': link: view: the cliff page has no views to open"):
        load_lessons(path)


# --- every claim, measured ----------------------------------------------------------------------------------


@pytest.mark.parametrize("lesson,claim", ALL_CLAIMS, ids=CLAIM_IDS)
def test_claim_holds(lesson, claim):
    ok, measured = check_claim(lesson, claim)
    assert ok, f"{lesson.id}: {claim.says!r} does not hold: {measured}"


RATIO_CLAIMS = [
    (lesson, claim)
    for lesson, claim in ALL_CLAIMS
    if claim.kind in ("vanishes", "survives", "explodes", "flat_total") and not claim.params.get("after_training")
]


@pytest.mark.parametrize(
    "lesson,claim", RATIO_CLAIMS, ids=[f"{lesson.id}/{c.kind}-{c.on_try}" for lesson, c in RATIO_CLAIMS]
)
def test_ratio_claims_hold_by_a_naive_step_by_step_autograd(lesson, claim):
    """The same ratio from PyTorch's cell modules, one tensor per step with retain_grad: no engine tracing."""
    cfg = _measured(lesson, claim)
    model, batch = prepare(cfg)
    ref = reference_trace(model.rnn, batch.x, lambda out: task_loss(model.head(out), batch), tbptt=cfg.tbptt)
    norms = ref["grad_h"][0, 0].double().flatten(1).norm(dim=1)  # (T,) over batch and units
    ratio = float(norms[0] / norms[-1])
    p = claim.params
    if claim.kind == "flat_total":
        assert float(norms.max() / norms.min()) < p["spread_below"]
    elif claim.kind == "vanishes":
        assert ratio < p["ratio_below"]
    elif claim.kind == "survives":
        assert ratio > p["ratio_above"]
    else:
        assert not torch.isfinite(norms).all() or ratio > p["ratio_above"]


LAG_CLAIMS = [(lesson, claim) for lesson, claim in ALL_CLAIMS
              if claim.kind in ("lag_falls", "lag_holds", "under_lag_bound", "no_copy_band") and not claim.trains]


@pytest.mark.parametrize("lesson,claim", LAG_CLAIMS, ids=[f"{le.id}/{c.kind}-{c.on_try}" for le, c in LAG_CLAIMS])
def test_lag_claims_hold_by_a_reference_that_backpropagates_each_row_alone(lesson, claim):
    """The lag curve and rows from PyTorch's cells, each output's ⟨g_s, out_s⟩ backpropagated alone: no engine sweep."""
    cfg = _measured(lesson, claim)
    model, steps, rows, curve = _reference_lag(cfg)
    p = claim.params
    if claim.kind == "lag_falls":
        assert curve[p["by_lag"]] < p["below"]
    elif claim.kind == "lag_holds":
        assert curve[p["at_lag"]] > p["above"]
    elif claim.kind == "under_lag_bound":
        eta = _reference_lag_measure(cfg, "contraction")
        seen = ~torch.isnan(curve)
        assert seen.all() and (curve[seen] <= eta ** torch.arange(cfg.seq_len)[seen] * (1 + 1e-9)).all()
    else:
        assert _reference_lag_measure(cfg, "copy_band") < p["ratio_below"]


def _claim(kind, on_try=None, **params):
    return Claim(kind, "a claim that should not hold", MappingProxyType(params), on_try)


@pytest.mark.parametrize(
    "lesson_id,claim",
    [
        ("exploding-gradients", _claim("vanishes", ratio_below=1.0)),
        ("vanishing-gradients", _claim("explodes", ratio_above=1.0)),
        ("vanishing-gradients", _claim("survives", ratio_above=1e-20)),
        ("four-shapes", _claim("loss_enters", at="all")),
        ("bidirectional", _claim("both_ends", on_try=1, edge_ratio_above=1.5)),
        ("bidirectional", _claim("one_end")),
        ("stacked-layers", _claim("layers", ratio_below=0.1)),
        ("copy-memory", _claim("memory_open", on_try=0, gate_product_above=0.05)),
        ("gru-gates", _claim("fewer_params_than", cell="rnn")),
        ("gru-gates", _claim("learns", on_try=0, below_baseline_fraction=0.8, last=30)),
        ("tagging-both-ways", _claim("learns", on_try=0, below_baseline_fraction=0.1, last=30)),
        ("truncated-bptt", _claim("vanishes", on_try=0, ratio_below=1e-30)),
    ],
    ids=lambda v: v if isinstance(v, str) else v.kind,
)
def test_checker_says_no_to_false_claims(lesson_id, claim):
    ok, measured = check_claim(get_lesson(lesson_id), claim)
    assert not ok, measured


# --- the validator names the problem ------------------------------------------------------------------------


def _set(path, value):
    def mutate(data):
        target = data["lessons"][0]
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value

    return mutate


def _delete(key):
    def mutate(data):
        del data["lessons"][0][key]

    return mutate


def _duplicate(data):
    data["lessons"].append(copy.deepcopy(data["lessons"][0]))


MALFORMED = [
    (_set(["link", "gainz"], 2.0), "lesson 'four-shapes': link: unknown config key 'gainz'"),
    (_set(["link", "seq_len"], 0), "lesson 'four-shapes': link: seq_len must be an integer from 1 to 2000; got 0"),
    (_set(["link", "bidirectional"], "yes"), "link: bidirectional must be true or false"),
    (_duplicate, "lesson 'four-shapes': id is used twice"),
    (_set(["id"], "Four Shapes"), "id must be a slug"),
    (_set(["topic"], "transformers"), "topic must be one of architectures"),
    (_delete("analogy"), "missing fields \\['analogy'\\]"),
    (_set(["colour"], "blue"), "unknown fields \\['colour'\\]"),
    (_set(["explanation"], ["one paragraph"]), "explanation must be a list of 2 to 4 paragraphs"),
    (_set(["explanation", 1], "Some **bold** text."), "explanation must be plain text"),
    (_set(["answer"], "Two\nparagraphs."), "answer must be plain text, one paragraph"),
    (_set(["tries", 0, "key"], "colour"), "lesson 'four-shapes': try 0: key 'colour' is not a config key"),
    (_set(["tries", 1, "value"], "sideways"), "try 1: arch must be one of"),
    (_set(["tries", 2, "value"], "many-to-one"), "try 2: arch is already 'many-to-one' in the link"),
    (_set(["tries"], []), "tries must be a list of 2 or 3 suggestions"),
    (_set(["claims", 0, "kind"], "dazzles"), "claim 0: kind must be one of loss_enters"),
    (_set(["claims", 1], {"kind": "vanishes", "says": "Fades."}), "claim 1: vanishes needs ratio_below"),
    (_set(["claims", 1, "ratio_below"], "small"), "claim 1: ratio_below must be of type float"),
    (_set(["claims", 1, "colour"], 1), "claim 1: vanishes takes no parameter 'colour'"),
    (_set(["claims", 0, "at"], "middle"), "claim 0: at must be one of last, all"),
    (_set(["claims", 2, "try"], 7), "claim 2: try must be the index of one of the lesson's 3 tries"),
    (_set(["claims", 0], {"kind": "both_ends", "edge_ratio_above": 1.5, "says": "X."}), "needs a bidirectional"),
    (_set(["claims", 0], {"kind": "layers", "ratio_below": 0.5, "says": "Down."}), "needs num_layers of 2"),
    (_set(["claims", 0, "says"], ""), "claim 0: says must be non-empty text"),
    (_set(["answer"], "About {colour} here."), "{colour}: measure must be one of ratio"),
    (_set(["answer"], "About {ratio@5} here."), "{ratio@5}: try must be the index of one of the lesson's 3 tries"),
    (_set(["answer"], "About {gate_product} here."), "{gate_product}: gate_product needs an LSTM or GRU"),
    (_set(["title"], "Shapes, {ratio}"), "title must not hold a measured number"),
    (_set(["link", "view"], "heat"), "lesson 'four-shapes': link: view must be one of lag; got 'heat'"),
    (_set(["link", "view"], ["lag"]), "link: view must be one of lag; got a list"),
]


@pytest.mark.parametrize("mutate,message", MALFORMED, ids=[m for _, m in MALFORMED])
def test_load_rejects_a_malformed_file_and_names_the_problem(tmp_path, mutate, message):
    data = json.loads(LESSONS_PATH.read_text(encoding="utf-8"))
    mutate(data)
    path = tmp_path / "lessons.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(LessonError, match=message):
        load_lessons(path)


def test_load_rejects_a_file_that_is_not_json_or_has_no_lessons(tmp_path):
    path = tmp_path / "lessons.json"
    path.write_text('{"lessons": [', encoding="utf-8")
    with pytest.raises(LessonError, match="lessons.json: cannot read lessons"):
        load_lessons(path)
    path.write_text('{"lesson": []}', encoding="utf-8")
    with pytest.raises(LessonError, match="at least one lesson"):
        load_lessons(path)


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
    length = "seq_len" if lesson.view == "lab" else "T"
    keys = set(lesson.link) | {t.key for t in lesson.tries} | {length}
    for cfg in configs:
        values |= {float(getattr(cfg, k)) for k in keys if type(getattr(cfg, k)) in (int, float)}
        values.add(float(getattr(cfg, length) - 1))
    for claim in lesson.claims:
        values |= {float(v) for v in claim.params.values() if type(v) in (int, float)}
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


LAG_MEASURES = ("lag_reach", "lag_middle", "contraction", "copy_band")


@functools.lru_cache(maxsize=8)
def _reference_lag(cfg):
    """The lag map's rows (top layer, forward) and lag curve from tests/engine/reference.py, at the engine's rows."""
    model, batch = prepare(cfg)
    steps = lag_trace(cfg).output_steps  # which rows the page shows is the engine's choice; their values are not
    rows = reference_lag_rows(model.rnn, batch.x, lambda out: task_loss(model.head(out), batch), steps)
    return model, steps, rows[-1, 0], reference_lag_curve(rows, steps)[-1, 0]


def _reference_lag_measure(cfg, name):
    model, steps, rows, curve = _reference_lag(cfg)
    if name == "lag_reach":
        return next(k for k, v in enumerate(curve) if v < 1e-3)
    if name == "lag_middle":
        return float(curve[cfg.seq_len // 2])
    if name == "contraction":  # tanh's steepest slope is 1
        top = getattr(model.rnn, f"weight_hh_l{cfg.num_layers - 1}").detach().double()
        return float(torch.linalg.matrix_norm(top, ord=2))
    K = copy_length(cfg.seq_len)  # copy_band: the recall rows at the copy's lag T − K, over their own step
    shares = [float(rows[i, s - (cfg.seq_len - K)] / rows[i, s]) for i, s in enumerate(steps) if s >= cfg.seq_len - K]
    return statistics.median(shares)


@pytest.mark.parametrize("lesson_id,name,on_try", PLACEHOLDERS, ids=[f"{i}/{n}@{t}" for i, n, t in PLACEHOLDERS])
def test_each_number_filled_in_is_what_a_naive_reference_measures(lesson_id, name, on_try):
    lesson = get_lesson(lesson_id)
    if name in LAG_MEASURES:
        reference = _reference_lag_measure(_measured(lesson, Claim(name, "", MappingProxyType({}), on_try)), name)
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
    with pytest.raises(ValueError, match="positive and finite"):
        magnitude(float("nan"))
