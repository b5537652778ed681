"""The page: ``GET /`` (initial config from the teaching link); its files are server/routes/assets.py's."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from engine import parse_query
from engine.lessons import LAB_PAGE, LessonPage
from server.routes import lessons
from server.routes.api import config_table

router = APIRouter(tags=["pages"])


@router.get("/", response_class=HTMLResponse)
async def index(request: Request) -> HTMLResponse:
    """Render ``templates/index.html``; bad or unknown link keys fall back to defaults with a notice."""
    config, notices = parse_query(request.query_params.multi_items())
    return await render_page(request, "index.html", LAB_PAGE, config_table(), config.to_dict(), notices)


async def render_page(request: Request, template: str, page: LessonPage, table: dict[str, Any],
                      config: dict[str, Any], notices: list[dict[str, Any]]) -> HTMLResponse:  # fmt: skip
    """A page of the lab (``templates/page.html``): its lesson when the link names one of its own, and the boot JSON,
    ``table`` (what its table route answers) with the server's reading of the link (``config``, ``notices``)."""
    lesson, lesson_notices = await lessons.lesson_on_page(page.name, request.query_params.get("lesson"))
    context = page_context(lesson, table, config, notices + lesson_notices)
    return request.app.state.templates.TemplateResponse(request, template, context)


def page_context(lesson: dict[str, Any] | None, table: dict[str, Any], config: dict[str, Any] | None,
                 notices: list[dict[str, Any]]) -> dict[str, Any]:  # fmt: skip
    """What ``templates/page.html`` renders: the notices, the lesson's document (or None), the lesson picker and the
    boot JSON.  The server's pages and the static copy's (server/export) render with it."""
    boot = {**table, "config": config, "notices": notices}
    return {"notices": notices, "lesson": lesson, "lessons": lessons.PICKER, "boot": boot}
