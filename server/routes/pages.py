"""The page: ``GET /`` (initial config from the teaching link) and the vendored Plotly bundle."""

from __future__ import annotations

from importlib import resources

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import FileResponse, HTMLResponse

from engine import parse_query
from engine.lab_lessons import LAB_PAGE
from server.routes import lessons
from server.routes.api import config_table

router = APIRouter(tags=["pages"])


@router.get("/", response_class=HTMLResponse)
async def index(request: Request) -> HTMLResponse:
    """Render ``templates/index.html``; bad or unknown link keys fall back to defaults with a notice."""
    params = dict(request.query_params)
    config, notices = parse_query(params)
    lesson, lesson_notices = await lessons.lesson_on_page(LAB_PAGE.name, params.get("lesson"))
    notices += lesson_notices
    context = {
        "notices": notices,
        "lesson": lesson,
        "lessons": lessons.PICKER,
        "boot": {**config_table(), "config": config.to_dict(), "notices": notices},
    }
    return request.app.state.templates.TemplateResponse(request, "index.html", context)


@router.get("/vendor/plotly.min.js", include_in_schema=False)
async def plotly_bundle() -> FileResponse:
    """Plotly from the installed ``plotly`` package: the page loads nothing from a CDN."""
    path = resources.files("plotly") / "package_data" / "plotly.min.js"
    if not path.is_file():
        raise HTTPException(404, "plotly.min.js is not in the installed plotly package")
    return FileResponse(str(path), media_type="text/javascript", headers={"Cache-Control": "public, max-age=86400"})
