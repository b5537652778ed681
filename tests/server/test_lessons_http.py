"""Lessons over HTTP: the JSON list, the lessons page, and lesson links on the main page."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import pytest

from engine import parse_query
from engine.lessons import LESSONS, lesson_config, try_config

pytestmark = pytest.mark.usefixtures("lessons_measured")  # the pages read every lesson's document


def test_api_lists_every_lesson_with_working_links(client):
    body = client.get("/api/lessons").json()
    assert [d["id"] for d in body["lessons"]] == [lesson.id for lesson in LESSONS]
    for doc, lesson in zip(body["lessons"], LESSONS):
        if lesson.view != "lab":
            continue  # the cliff page's lessons: tests/server/test_cliff_api.py
        query = dict(parse_qsl(urlsplit(doc["link"]).query))
        assert query["lesson"] == lesson.id and query.get("view") == lesson.link_view
        config, notices = parse_query(query)
        assert notices == [] and config == lesson_config(lesson)
        assert 2 <= len(doc["tries"]) <= 3 and 2 <= len(doc["explanation"]) <= 4
        for i, t in enumerate(doc["tries"]):
            query = dict(parse_qsl(urlsplit(t["link"]).query))
            config, _ = parse_query(query)
            assert config == try_config(lesson, i) and query.get("view") == lesson.link_view  # a try keeps the view
    assert any(doc["link"].endswith("&view=lag") for doc in body["lessons"])


def test_the_readmes_lesson_table_lists_every_lesson_in_order_with_the_link_the_server_gives(client):
    readme = (Path(__file__).parents[2] / "README.md").read_text(encoding="utf-8")
    rows = re.findall(r"^\| (\d+) \| (.+?) \| \S+ \| `(.+?)` \|$", readme, flags=re.M)
    body = client.get("/api/lessons").json()["lessons"]
    assert [(int(n), link) for n, _, link in rows] == [(i, doc["link"]) for i, doc in enumerate(body, 1)]
    assert all(title.startswith(doc["title"]) for (_, title, _), doc in zip(rows, body))


def test_lessons_page_links_every_lesson(client):
    page = client.get("/lessons")
    assert page.status_code == 200
    for lesson in LESSONS:
        assert f'id="{lesson.id}"' in page.text and lesson.title in page.text


def test_lessons_page_lists_the_lessons_in_their_number_order(client):
    text = client.get("/lessons").text
    assert re.findall(r'<article class="lesson-card" id="([^"]+)"', text) == [lesson.id for lesson in LESSONS]
    assert re.findall(r'<span class="num">(\d+)\.</span>', text) == [str(i + 1) for i in range(len(LESSONS))]
