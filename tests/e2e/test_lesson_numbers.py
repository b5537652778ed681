"""Numbers in a lesson's prose are the ones the page measures for its link; the lessons index keeps the answers."""

from __future__ import annotations

import json
import re
import urllib.request

# A number as the prose writes it: 1.12, 4,800, 10⁻²⁷ (digits with an optional superscript exponent).
NUMBER = re.compile(r"\d[\d,]*(?:\.\d+)?[⁻⁰¹²³⁴⁵⁶⁷⁸⁹]*")


def test_the_vanishing_lesson_quotes_the_sigma_max_the_summary_shows(page, server_url):
    page.goto(server_url + "/?seq_len=100&lesson=vanishing-gradients")
    page.wait_for_function("() => window.gfl && window.gfl.trace && window.gfl.trace.done")
    shown = float(page.inner_text('[data-stat="sigma"]'))
    page.click(".lesson-more > summary")
    prose = page.inner_text(".lesson-explanation")
    said = re.search(r"σ\s*max is ([\d.]+), so", prose)
    assert said, prose
    assert abs(float(said.group(1)) - shown) < 0.006, (said.group(0), shown)
    assert page.log.errors == []


def _numbers(text: str) -> set[str]:
    return {n.rstrip(",.") for n in NUMBER.findall(text)}


def test_the_lessons_index_does_not_give_the_answers_away(page, server_url):
    with urllib.request.urlopen(server_url + "/api/lessons") as r:
        lessons = json.load(r)["lessons"]
    page.goto(server_url + "/lessons")
    for lesson in lessons:
        card = page.inner_text(f'article[id="{lesson["id"]}"]')
        assert lesson["answer"] not in card
        # Beyond the question's own numbers and the link's settings, a card states nothing measurable.
        allowed = _numbers(lesson["question"]) | {str(v) for v in lesson["config"].values()}
        allowed |= {str(int(v)) for v in lesson["config"].values() if isinstance(v, float) and v.is_integer()}
        extra = _numbers(card) - allowed - {str(lessons.index(lesson) + 1)}
        assert extra == set(), (lesson["id"], extra, card)
    assert page.log.errors == []
