"""The cliff view: ``GET /api/cliff`` (the loss grid and both descents as JSON) and ``GET /cliff`` (the page).

Both read the same link keys, those of :data:`engine.cliff.CLIFF_FIELDS`.  A computation (about a second at the
table's largest setting on a busy core) runs in a worker thread, one at a time per process, so the event loop
never waits on torch and a burst of requests queues instead of taking every core; finished answers are kept in
a small LRU (a setting is deterministic: the same link gives the same bytes).
"""

from __future__ import annotations

import functools
from typing import Any

import anyio
from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse

from engine.cliff import CLIFF_FIELD_BY_NAME, CliffConfig, cliff, describe_fields
from engine.config import LINK_VERSION, ConfigError
from server.responses import error_response
from server.routes import lessons
from server.wire import dumps

router = APIRouter(tags=["cliff"])

_one_at_a_time = anyio.CapacityLimiter(1)


@functools.lru_cache(maxsize=16)  # an answer at the largest resolution is under 2 MB
def cliff_json(cfg: CliffConfig) -> bytes:
    """The strict JSON document of one setting (non-finite numbers as "inf"/"nan" strings, see server/wire.py)."""
    return dumps({**cliff(cfg), "fields": describe_fields(), "link_version": LINK_VERSION}).encode("utf-8")


@router.get("/api/cliff")
async def cliff_api(request: Request) -> Response:
    """The loss over the (w, b) grid and both gradient descents for the link's keys; 422 names a bad key."""
    try:
        cfg = CliffConfig.from_query(dict(request.query_params))
    except ConfigError as e:
        return error_response(422, e.message, e.field)
    body = await anyio.to_thread.run_sync(cliff_json, cfg, limiter=_one_at_a_time)
    return Response(body, media_type="application/json")


def page_config(params: dict[str, str]) -> tuple[CliffConfig, list[dict[str, Any]]]:
    """The page's setting from its link: a bad key falls back to its default with a notice naming it."""
    good, notices = {}, []
    for key, text in params.items():
        if key in ("v", "lesson"):
            continue
        field = CLIFF_FIELD_BY_NAME.get(key)
        if field is None:
            notices.append({"field": key, "message": f"unknown link key {key!r} ignored"})
            continue
        try:
            good[key] = field.parse(text)
        except ConfigError as e:
            notices.append({"field": key, "message": e.message + "; its default is used"})
    try:
        return CliffConfig(**good), notices
    except ConfigError as e:  # each key is fine alone, the grid's edges are not (w_max ≤ w_min)
        axis = e.field[0]
        notices.append({"field": e.field, "message": e.message + f"; the default {axis} range is used"})
        for key in (f"{axis}_min", f"{axis}_max"):
            good.pop(key, None)
        return CliffConfig(**good), notices


@router.get("/cliff", response_class=HTMLResponse)
async def cliff_page(request: Request) -> HTMLResponse:
    """Render ``templates/cliff.html`` with the table and the link's setting as boot JSON."""
    cfg, notices = page_config(dict(request.query_params))
    boot = {"fields": describe_fields(), "config": cfg.to_dict(), "notices": notices, "link_version": LINK_VERSION}
    lesson = None
    if "lesson" in request.query_params:
        lesson = (await lessons.documents()).get(request.query_params["lesson"])
        if lesson is None or lesson["view"] != "cliff":
            lesson = None
            notices.append({"field": "lesson", "message": f"no lesson {request.query_params['lesson']!r} on this page"})
    context = {"boot": boot, "notices": notices, "lesson": lesson, "lessons": lessons.PICKER}
    return request.app.state.templates.TemplateResponse(request, "cliff.html", context)
