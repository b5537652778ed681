"""The page: ``GET /`` (initial config from the teaching link) and the vendored Plotly bundle."""

from __future__ import annotations

from importlib import resources

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import FileResponse, HTMLResponse

from engine import FIELDS, LINK_VERSION, parse_query
from engine.fields import quote
from server.routes import lessons

router = APIRouter(tags=["pages"])


@router.get("/", response_class=HTMLResponse)
async def index(request: Request) -> HTMLResponse:
    """Render ``templates/index.html``; bad or unknown link keys fall back to defaults with a notice."""
    params = request.query_params
    config, notices = parse_query(params.multi_items())
    lesson = None
    if "lesson" in params:
        lesson = (await lessons.documents()).get(params["lesson"])
        if lesson is None:
            notices.append({"field": "lesson", "message": f"unknown lesson {quote(params['lesson'])} ignored"})
    context = {
        "config": config.to_dict(),
        "notices": notices,
        "lesson": lesson,
        "lessons": lessons.PICKER,
        "fields": [f.describe() for f in FIELDS],
        "link_version": LINK_VERSION,
    }
    return request.app.state.templates.TemplateResponse(request, "index.html", context)


@router.get("/vendor/plotly.min.js", include_in_schema=False)
async def plotly_bundle() -> FileResponse:
    """Plotly from the installed ``plotly`` package: the page loads nothing from a CDN."""
    path = resources.files("plotly") / "package_data" / "plotly.min.js"
    if not path.is_file():
        raise HTTPException(404, "plotly.min.js is not in the installed plotly package")
    return FileResponse(str(path), media_type="text/javascript", headers={"Cache-Control": "public, max-age=86400"})
