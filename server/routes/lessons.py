"""Lessons: ``GET /api/lessons`` (the lessons as JSON) and ``GET /lessons`` (the page that lists them).

A lesson's text holds placeholders for the numbers measured on its own link (``engine/lessons/numbers.py``).
They are filled once per lesson, on the first request that needs them, by measuring the lesson's link in a worker
thread: a lesson's page measures that lesson only (the lessons that train take seconds), server start-up stays fast
and the event loop never waits on torch.
"""

from __future__ import annotations

import itertools
import threading
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from starlette.concurrency import run_in_threadpool

from engine.config import quote
from engine.lessons import LESSONS, TOPICS, Lesson, lesson_path, lesson_query, render_lesson, try_query
from server.wire import StrictJSONResponse

router = APIRouter(tags=["lessons"])


def lesson_document(lesson: Lesson) -> dict[str, Any]:
    """A lesson as wire data: its text with its numbers measured, its teaching link, and each try as a link."""
    query, shown = lesson_query(lesson), render_lesson(lesson)
    return {
        "id": lesson.id,
        "title": shown.title,
        "topic": lesson.topic,
        "summary": shown.summary,
        "link": lesson_path(lesson) + "?" + urlencode(query),
        "view": lesson.view,
        "config": dict(lesson.link),
        "explanation": list(shown.explanation),
        "analogy": shown.analogy,
        "equation": shown.equation,
        "equation_says": shown.equation_says,
        "question": shown.question,
        "answer": shown.answer,
        "tries": [
            {"key": t.key, "value": t.value, "look_for": t.look_for,
             "link": lesson_path(lesson) + "?" + urlencode(try_query(lesson, i))}
            for i, t in enumerate(shown.tries)
        ],
        "claims": [c.says for c in lesson.claims],
        # The lesson's own question is about training (the page reveals its answer once Train has run).
        "trains": lesson.trains,
    }  # fmt: skip


# The lesson picker on every page: titles and links only, so a page without lesson= never waits for measuring.
PICKER = [
    {"id": le.id, "title": le.title, "link": lesson_path(le) + "?" + urlencode(lesson_query(le))} for le in LESSONS
]

_documents: dict[str, dict[str, Any]] = {}  # by lesson id, each measured once
_built = threading.Lock()
_BY_ID = {lesson.id: lesson for lesson in LESSONS}


def lesson_doc(lesson: Lesson) -> dict[str, Any]:
    """The lesson's document, measured on the first call that needs it, then kept.  Blocking: from async code call
    :func:`document`."""
    with _built:  # concurrent first requests wait for one measurement instead of tracing twice
        if lesson.id not in _documents:
            _documents[lesson.id] = lesson_document(lesson)
    return _documents[lesson.id]


def lesson_documents() -> dict[str, dict[str, Any]]:
    """Every lesson's document by id, in syllabus order (blocking: from async code call :func:`documents`)."""
    return {lesson.id: lesson_doc(lesson) for lesson in LESSONS}


async def document(lesson: Lesson) -> dict[str, Any]:
    """:func:`lesson_doc` without blocking the event loop the first time: a page measures its own lesson only."""
    if lesson.id in _documents:
        return _documents[lesson.id]
    return await run_in_threadpool(lesson_doc, lesson)


async def documents() -> dict[str, dict[str, Any]]:
    """:func:`lesson_documents` without blocking the event loop the first time."""
    if len(_documents) == len(LESSONS):
        return {lesson.id: _documents[lesson.id] for lesson in LESSONS}
    return await run_in_threadpool(lesson_documents)


async def lesson_on_page(view: str, lesson_id: str | None) -> tuple[dict[str, Any] | None, list[dict[str, str]]]:
    """A page's lesson from its link's ``lesson=<id>``: the document when that lesson opens on this page (``view``),
    else None with a notice naming it.  Every page reads its lesson this way."""
    if lesson_id is None:
        return None, []
    lesson = _BY_ID.get(lesson_id)
    if lesson is None:
        return None, [{"field": "lesson", "message": f"unknown lesson {quote(lesson_id)} ignored"}]
    if lesson.view != view:
        where = lesson_path(lesson)
        return None, [{"field": "lesson", "message": f"no lesson {quote(lesson_id)} on this page: it opens on {where}"}]
    return await document(lesson), []


@router.get("/api/lessons", response_class=StrictJSONResponse)
async def lessons_json() -> StrictJSONResponse:
    """Every lesson with its explanation, question, tries and teaching link, in syllabus order."""
    return StrictJSONResponse({"topics": list(TOPICS), "lessons": list((await documents()).values())})


def index_context(lessons: list[dict[str, Any]]) -> dict[str, Any]:
    """What templates/lessons.html lists: the lessons' documents in their numbered order, in runs by topic (a topic's
    heading opens each run of consecutive lessons on it, so a later lesson on an earlier topic comes after its
    predecessor rather than back in that topic's group)."""
    runs = [(topic, list(group)) for topic, group in itertools.groupby(lessons, key=lambda d: d["topic"])]
    return {"lessons": lessons, "runs": runs}


@router.get("/lessons", response_class=HTMLResponse)
async def lessons_page(request: Request) -> HTMLResponse:
    context = index_context(list((await documents()).values()))
    return request.app.state.templates.TemplateResponse(request, "lessons.html", context)
