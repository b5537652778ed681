"""Lessons: ``GET /api/lessons`` (the lessons as JSON) and ``GET /lessons`` (the page that lists them)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from engine.lessons import LESSONS, TOPICS, Lesson, lesson_query, try_config
from server.responses import StrictJSONResponse

router = APIRouter(tags=["lessons"])


def lesson_document(lesson: Lesson) -> dict[str, Any]:
    """A lesson as wire data: its text, its teaching link, and each try as a link of its own."""
    query = lesson_query(lesson)
    return {
        "id": lesson.id,
        "title": lesson.title,
        "topic": lesson.topic,
        "summary": lesson.summary,
        "link": "/?" + urlencode(query),
        "config": dict(lesson.link),
        "explanation": list(lesson.explanation),
        "analogy": lesson.analogy,
        "equation": lesson.equation,
        "equation_says": lesson.equation_says,
        "question": lesson.question,
        "answer": lesson.answer,
        "tries": [
            {"key": t.key, "value": t.value, "look_for": t.look_for,
             "link": "/?" + urlencode({**try_config(lesson, i).to_query(), "lesson": lesson.id})}
            for i, t in enumerate(lesson.tries)
        ],
        "claims": [c.says for c in lesson.claims],
        # The lesson's own question is about training (the page reveals its answer once Train has run).
        "trains": lesson.trains,
    }  # fmt: skip


DOCUMENTS = {lesson.id: lesson_document(lesson) for lesson in LESSONS}


@router.get("/api/lessons", response_class=StrictJSONResponse)
async def lessons_json() -> StrictJSONResponse:
    """Every lesson with its explanation, question, tries and teaching link, in syllabus order."""
    return StrictJSONResponse({"topics": list(TOPICS), "lessons": list(DOCUMENTS.values())})


@router.get("/lessons", response_class=HTMLResponse)
async def lessons_page(request: Request) -> HTMLResponse:
    context = {"lessons": list(DOCUMENTS.values()), "topics": TOPICS}
    return request.app.state.templates.TemplateResponse(request, "lessons.html", context)
