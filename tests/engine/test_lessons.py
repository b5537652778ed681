"""Lessons: the file validates, every link and try is a config, and every claim holds, also by a naive reference."""

import copy
import dataclasses
import json
from types import MappingProxyType

import pytest
import torch

from engine.config import FIELD_BY_NAME, Config, parse_query
from engine.data import task_loss
from engine.lab import prepare
from engine.lessons import LESSONS, TOPICS, lesson_config, lesson_query, try_config, try_query
from engine.lessons.catalogue import (
    LESSONS_PATH,
    Claim,
    LessonError,
    check_claim,
    get_lesson,
    load_lessons,
)
from tests.engine.lesson_reference import reference_lag, reference_lag_measure
from tests.engine.reference import reference_trace


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
    model, steps, rows, curve = reference_lag(cfg)
    p = claim.params
    if claim.kind == "lag_falls":
        assert curve[p["by_lag"]] < p["below"]
    elif claim.kind == "lag_holds":
        assert curve[p["at_lag"]] > p["above"]
    elif claim.kind == "under_lag_bound":
        eta = reference_lag_measure(cfg, "contraction")
        seen = ~torch.isnan(curve)
        assert seen.all() and (curve[seen] <= eta ** torch.arange(cfg.seq_len)[seen] * (1 + 1e-9)).all()
    else:
        assert reference_lag_measure(cfg, "copy_band") < p["ratio_below"]


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
        ("attention-shortcut", _claim("source_reached", on_try=0, ratio_above=1e-4)),
        ("attention-shortcut", _claim("source_unreached", ratio_below=0.1)),
        ("attention-alignment-reversal", _claim("alignment", diagonal="main", share_above=0.5, after_training=True)),
        ("attention-alignment-reversal", _claim("alignment", diagonal="anti", share_above=0.5)),
        # The adding problem's training sweep: at 10 steps more than half of the LSTM's seeds learn, but not all; at
        # 40 every GRU learns; no RNN and no IRNN learns at all.
        ("adding-problem-against-length", _claim("below_from", over="LSTM", metric="learned", below=0.5,
                                                 **{"from": 5.0})),
        ("adding-problem-against-length", _claim("above_until", over="LSTM", metric="learned", above=0.99,
                                                 until=20.0)),
        ("adding-problem-against-length", _claim("below_from", over="GRU", metric="learned", below=0.99,
                                                 **{"from": 20.0})),
        ("adding-problem-against-length", _claim("above_until", over="RNN", metric="learned", above=0.0,
                                                 until=50.0)),
        ("adding-problem-against-length", _claim("above_until", over="IRNN", metric="learned", above=0.0,
                                                 until=50.0)),
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
    (_set(["link", "view"], "heat"),
     "lesson 'four-shapes': link: view must be one of grad-norm, hidden, lag, grad-units, gates, eigen, layers; "
     "got 'heat'"),
    (_set(["link", "view"], ["lag"]), "link: view must be one of grad-norm, .* layers; got a list"),
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


