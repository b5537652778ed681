"""Lessons on the cliff page: links and tries are cliff settings, every claim and quoted number holds when measured
with a plain PyTorch loop (tests/engine/test_cliff.py's reference), and the loader keeps the two views apart."""

import json
import math
from dataclasses import fields
from types import MappingProxyType

import pytest

from engine.lab import CLIFF_FIELD_BY_NAME, CliffConfig
from engine.lessons import LESSONS, lesson_config, lesson_path, lesson_query, render_lesson, try_config
from engine.lessons.catalogue import LESSONS_PATH, PLACEHOLDER, Claim, LessonError, check_claim, load_lessons
from engine.lessons.numbers import magnitude, measure
from tests.engine.test_cliff import direct_loss, reference_path

CLIFF = [lesson for lesson in LESSONS if lesson.view == "cliff"]
CLAIMS = [(lesson, claim) for lesson in CLIFF for claim in lesson.claims]


def _measured(lesson, on_try):
    return lesson_config(lesson) if on_try is None else try_config(lesson, on_try)


def reference(cfg: CliffConfig) -> dict[str, float]:
    """Every cliff measure, from torch.optim.SGD + clip_grad_norm_ and a plain-float loss."""
    out = {}
    for name, clip in (("plain", False), ("clipped", True)):
        points, norms = reference_path(cfg, clip)
        out[f"{name}_max_step"] = max(math.dist(points[k], points[k + 1]) for k in range(len(points) - 1))
        out[f"{name}_max_norm"] = max(norms)
        out[f"{name}_final_loss"] = direct_loss(*points[-1], cfg.T, cfg.readout)
        out[f"{name}_points"] = points
    return out


def test_there_is_a_cliff_lesson_on_clipping_and_its_link_opens_the_cliff_page():
    assert [lesson.id for lesson in CLIFF] == ["the-cliff"]
    lesson = CLIFF[0]
    assert lesson.topic == "clipping" and lesson_path(lesson) == "/cliff" and not lesson.trains
    assert lesson_query(lesson) == {"v": "1", "lesson": "the-cliff"}  # its setting is the page's default
    assert lesson_config(lesson) == CliffConfig()


@pytest.mark.parametrize("lesson", CLIFF, ids=[lesson.id for lesson in CLIFF])
def test_link_and_tries_are_cliff_settings_and_each_try_moves_one_control(lesson):
    cfg = lesson_config(lesson)
    assert CliffConfig.from_query({k: v for k, v in lesson_query(lesson).items() if k != "lesson"}) == cfg
    for i, t in enumerate(lesson.tries):
        moved = try_config(lesson, i)
        assert getattr(moved, t.key) == CLIFF_FIELD_BY_NAME[t.key].check(t.value) != getattr(cfg, t.key)
        assert {f.name for f in fields(CliffConfig) if getattr(moved, f.name) != getattr(cfg, f.name)} == {t.key}
        assert CliffConfig.from_query(moved.to_query()) == moved


@pytest.mark.parametrize(
    "lesson,claim", CLAIMS, ids=[f"{le.id}/{k}-{c.kind}" for le in CLIFF for k, c in enumerate(le.claims)]
)
def test_claim_holds_and_holds_by_a_plain_pytorch_loop(lesson, claim):
    ok, said = check_claim(lesson, claim)
    assert ok, f"{lesson.id}: {claim.says!r} does not hold: {said}"
    ref, p = reference(_measured(lesson, claim.on_try)), claim.params
    ratio = ref["plain_max_step"] / ref["clipped_max_step"]
    if claim.kind == "thrown":
        assert ratio > p["step_ratio_above"]
    elif claim.kind == "not_thrown":
        assert ratio < p["step_ratio_below"]
    elif claim.kind == "clipped_ends_lower":
        assert ref["clipped_final_loss"] / ref["plain_final_loss"] < p["loss_ratio_below"]
    elif claim.kind == "same_path":
        flat = {name: [x for point in ref[f"{name}_points"] for x in point] for name in ("plain", "clipped")}
        assert flat["plain"] == pytest.approx(flat["clipped"], rel=1e-12)
    else:
        raise AssertionError(f"no reference for {claim.kind}")


def _claim(kind, on_try=None, **params):
    return Claim(kind, "a claim that should not hold", MappingProxyType(params), on_try)


@pytest.mark.parametrize(
    "claim",
    [_claim("thrown", on_try=2, step_ratio_above=2), _claim("not_thrown", step_ratio_below=2),
     _claim("same_path"), _claim("clipped_ends_lower", on_try=0, loss_ratio_below=0.5)],
    ids=lambda c: f"{c.kind}@{c.on_try}",
)  # fmt: skip
def test_checker_says_no_to_false_claims(claim):
    ok, said = check_claim(CLIFF[0], claim)
    assert not ok, said


PLACEHOLDERS = sorted({(lesson.id, m.group(1), None if m.group(2) is None else int(m.group(2)))
                       for lesson in CLIFF for text in [lesson.answer, lesson.question, *lesson.explanation,
                                                        *(t.look_for for t in lesson.tries)]
                       for m in PLACEHOLDER.finditer(text)}, key=str)  # fmt: skip


@pytest.mark.parametrize("lesson_id,name,on_try", PLACEHOLDERS, ids=[f"{i}/{n}@{t}" for i, n, t in PLACEHOLDERS])
def test_each_number_filled_in_is_what_a_plain_pytorch_loop_measures(lesson_id, name, on_try):
    lesson = next(le for le in CLIFF if le.id == lesson_id)
    assert measure(lesson, name, on_try) == pytest.approx(reference(_measured(lesson, on_try))[name], rel=1e-9)


def test_the_answer_quotes_the_measured_numbers():
    lesson = CLIFF[0]
    assert len(PLACEHOLDERS) >= 4
    shown = render_lesson(lesson)
    assert not PLACEHOLDER.search(shown.answer)
    for name in ("plain_max_step", "clipped_max_step", "plain_final_loss", "clipped_final_loss"):
        assert magnitude(measure(lesson, name)) in shown.answer, name


def _cliff_lesson(data):
    return next(le for le in data["lessons"] if le.get("view") == "cliff")


@pytest.mark.parametrize(
    "mutate, message",
    [(lambda le: le.update(view="slides"), "lesson 'the-cliff': view must be one of lab, cliff, sweep; got 'slides'"),
     (lambda le: le["link"].update(T=0), "link: T must be an integer from 1 to 100"),
     (lambda le: le["link"].update(seq_len=20), "link: unknown key 'seq_len'"),
     (lambda le: le["tries"][0].update(key="cell", value="lstm"), "try 0: key 'cell' is not a config key"),
     (lambda le: le["claims"][0].update(kind="vanishes"), "claim 0: kind must be one of thrown, not_thrown"),
     (lambda le: le.update(answer="About {ratio} here."), "{ratio}: measure must be one of plain_max_step"),
     (lambda le: le.pop("view"), "link: unknown config key")],
    ids=["view", "range", "lab-key", "lab-try", "lab-claim", "lab-measure", "no-view-is-lab"],
)  # fmt: skip
def test_load_keeps_the_views_apart_and_names_the_problem(tmp_path, mutate, message):
    data = json.loads(LESSONS_PATH.read_text(encoding="utf-8"))
    mutate(_cliff_lesson(data))
    path = tmp_path / "lessons.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(LessonError, match=message.replace("{", r"\{").replace("}", r"\}")):
        load_lessons(path)
