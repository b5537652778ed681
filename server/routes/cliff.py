"""The cliff view: ``GET /api/cliff`` (the loss grid and both descents as JSON), ``GET /api/cliff/config`` (its
table, as ``GET /api/config`` describes the lab's) and ``GET /cliff`` (the page).

All read the same link keys, those of :data:`engine.lab.cliff.CLIFF_FIELDS`.  A computation (about a second at the
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

from engine.config import LINK_VERSION, ConfigError, RepeatedKey, read_link
from engine.lab import (
    CLIFF_FIELD_BY_NAME,
    CLIFF_PAGE_KEYS,
    GRID_AXES,
    CliffConfig,
    cliff,
    describe_fields,
    describe_table,
    edges_problem,
)
from engine.lessons import CLIFF_PAGE
from server.routes.pages import render_page
from server.wire import StrictJSONResponse, dumps_bytes, error_response

router = APIRouter(tags=["cliff"])

_one_at_a_time = anyio.CapacityLimiter(1)


@functools.lru_cache(maxsize=16)  # an answer at the largest resolution is under 2 MB
def cliff_json(cfg: CliffConfig) -> bytes:
    """The strict JSON document of one setting (non-finite numbers as "inf"/"nan" strings: server/wire/encoding.py)."""
    return dumps_bytes({**cliff(cfg), "fields": describe_fields(), "link_version": LINK_VERSION})


@router.get("/api/cliff")
async def cliff_api(request: Request) -> Response:
    """The loss over the (w, b) grid and both gradient descents for the link's keys.

    400 for a key given twice, 422 for an unknown key, a bad value or a grid edge not above the other; each
    ``{"message", "field"}`` naming the key.
    """
    try:
        cfg = CliffConfig.from_query(request.query_params.multi_items())
    except ConfigError as e:
        return error_response(400 if isinstance(e, RepeatedKey) else 422, e.message, e.field)
    body = await anyio.to_thread.run_sync(cliff_json, cfg, limiter=_one_at_a_time)
    return Response(body, media_type="application/json")


@router.get("/api/cliff/config", response_class=StrictJSONResponse)
async def cliff_table() -> StrictJSONResponse:
    """The cliff's table, as ``GET /api/config`` describes the lab's: every key (type, default, bounds or choices,
    label, group), the rules that tie keys together (each grid axis's edges in order), the link version and the
    page's own link keys."""
    return StrictJSONResponse(describe_table())


def page_config(params: list[tuple[str, str]]) -> tuple[CliffConfig, list[dict[str, Any]]]:
    """The page's setting from its link (``(key, text)`` pairs, read as every link is: engine.config.fields.read_link).

    An unknown key is ignored and a repeated key or bad value takes its default, each with a notice naming it;
    then an axis whose edges are out of order (each fine alone) takes its default range, so the result is valid.
    """
    good, problems = read_link(params, CLIFF_FIELD_BY_NAME, CLIFF_PAGE_KEYS)
    tails = {True: "; its default is used", False: " ignored"}
    notices = [{"field": p.field, "message": p.message + tails[p.field in CLIFF_FIELD_BY_NAME]} for p in problems]
    for axis in GRID_AXES:
        low, high = (good.get(k, CLIFF_FIELD_BY_NAME[k].default) for k in (f"{axis}_min", f"{axis}_max"))
        problem = edges_problem(axis, low, high)
        if problem is not None:
            notices.append({"field": problem.field, "message": f"{problem.message}; the default {axis} range is used"})
            good.pop(f"{axis}_min", None)
            good.pop(f"{axis}_max", None)
    return CliffConfig(**good), notices


@router.get("/cliff", response_class=HTMLResponse)
async def cliff_page(request: Request) -> HTMLResponse:
    """Render ``templates/cliff.html`` with the table and the link's setting as boot JSON."""
    cfg, notices = page_config(request.query_params.multi_items())
    return await render_page(request, "cliff.html", CLIFF_PAGE, describe_table(), cfg.to_dict(), notices)
