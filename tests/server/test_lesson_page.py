"""The main page with lesson=<id>: the server renders the lesson panel; an unknown id is a notice, not an error."""

from __future__ import annotations

import json
import re

import pytest
from markupsafe import escape

from engine.lessons import LESSONS
from server.routes.lessons import lesson_documents

pytestmark = pytest.mark.usefixtures("lessons_measured")  # the pages read every lesson's document

LAB = [lesson for lesson in LESSONS if lesson.view == "lab"]  # the cliff page's lessons: tests/server/test_cliff_api.py


def esc(text: str) -> str:
    """Text as the template writes it (Jinja's autoescape)."""
    return str(escape(text))


def lesson_data(text: str) -> dict:
    """The panel's JSON island (what static/js/lesson.js reads)."""
    m = re.search(r'<script type="application/json" id="lesson-data">(.*?)</script>', text, re.S)
    assert m, "no lesson-data island on the page"
    return json.loads(m.group(1))


@pytest.mark.parametrize("lesson", LAB, ids=lambda lesson: lesson.id)
def test_lesson_link_renders_its_panel(client, lesson):
    doc = lesson_documents()[lesson.id]
    page = client.get(doc["link"])
    assert page.status_code == 200
    text = page.text
    assert 'id="lesson"' in text
    for key in ("title", "question", "answer", "analogy", "equation", "equation_says"):
        assert esc(doc[key]) in text, key
    for paragraph in doc["explanation"]:
        assert esc(paragraph) in text
    for t in doc["tries"]:
        assert esc(t["look_for"]) in text
        assert f'data-key="{t["key"]}"' in text
    assert lesson_data(text) == {"id": lesson.id, "config": doc["config"], "trains": doc["trains"]}
    # The picker has every lesson, and this one is chosen.
    assert text.count('class="lesson-picker"') == 1
    for other in lesson_documents().values():
        assert f'value="{esc(other["link"])}"' in text
    assert re.search(rf'<option value="[^"]*lesson={lesson.id}(&amp;view=\w+)?"\s+selected>', text)
    assert "Link:" not in text  # no notice: the link is clean


def test_training_lessons_ask_to_train():
    trains = {d["id"] for d in lesson_documents().values() if d["trains"]}
    assert trains == {"gradient-clipping", "gru-gates", "price-forecast", "sentiment-review", "tagging-both-ways",
                      "truncated-bptt", "translation-bottleneck", "copy-before-and-after-training",
                      "attention-alignment-reversal"}


def test_unknown_lesson_is_a_notice(client):
    page = client.get("/?lesson=no-such-lesson&cell=lstm")
    assert page.status_code == 200
    assert "unknown lesson" in page.text
    assert 'id="lesson"' not in page.text
    assert 'id="lesson-picker"' in page.text
    assert '"cell": "lstm"' in page.text  # the rest of the link still applies


def test_page_without_lesson_has_picker_but_no_panel(client):
    text = client.get("/").text
    assert 'id="lesson"' not in text and 'id="lesson-picker"' in text
    assert "choose a lesson" in text


def test_embed_sets_the_body_class(client):
    assert '<body class="embed">' in client.get("/?embed=1&cell=gru").text
    assert '<body class="embed">' not in client.get("/?embed=0").text


def test_lessons_page_lists_the_lessons_in_order_under_their_topics(client):
    text = client.get("/lessons").text
    places = [text.index(f'id="{lesson.id}"') for lesson in LESSONS]
    assert places == sorted(places)  # lesson n+1 comes after lesson n, whatever its topic
    for n, (lesson, at) in enumerate(zip(LESSONS, places), 1):
        card = text[at : text.index("</article>", at)]
        assert f'<span class="num">{n}.</span>{esc(lesson.title)}</a>' in card
        section = text.rfind('<section class="topic"', 0, at)
        assert f'id="topic-{lesson.topic}-' in text[section : section + 120]
    assert f"{len(LESSONS)} short lessons" in text
    assert f'href="/static/{client.app.state.static_tree.version}/css/teaching.css"' in text


def test_a_lesson_page_measures_its_own_lesson_only(client, monkeypatch):
    """The first lesson page after a start does not wait for every lesson's numbers (some lessons train)."""
    from server.routes import lessons

    monkeypatch.setattr(lessons, "_documents", {})
    assert client.get("/?lesson=four-shapes").status_code == 200
    assert list(lessons._documents) == ["four-shapes"]
    assert "unknown lesson" in client.get("/?lesson=no-such-lesson").text
    assert list(lessons._documents) == ["four-shapes"]
