"""Sweeps over HTTP: ``POST /api/sweep`` (the whole sweep as one JSON document) and ``GET /sweep`` (the page that
draws one as it streams, reopened from its link).

The socket streams the same points as they finish (``{"type": "sweep"}``, server/session.py); both compute every
point as its own request would be (server/sweeps.py).
"""

from __future__ import annotations

from urllib.parse import urlencode

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse

from engine import ConfigError
from engine.lab import Sweep
from engine.lab.sweep import MAX_POINTS, MAX_SEEDS, MAX_VALUES, page_sweep
from engine.lab.sweep_over import MAX_OVER
from engine.lessons import SWEEP_PAGE
from server.hub import Hub
from server.routes.api import config_table, read_json_body, until_disconnect
from server.routes.pages import render_page
from server.scheduling import Busy
from server.sweeps import SweepFailed, answer, refusal, serve_sweep
from server.wire import StrictJSONResponse, busy_response, error_response

router = APIRouter(tags=["sweep"])


@router.get("/sweep", response_class=HTMLResponse)
async def sweep_page(request: Request) -> HTMLResponse:
    """Render ``templates/sweep.html``: the lab's table, and the link's sweep (or the default one, with a notice
    for a bad link) as boot JSON; the page streams it over the socket."""
    spec, notices = page_sweep(request.query_params.multi_items())
    return await render_page(request, "sweep.html", SWEEP_PAGE, sweep_table(spec), spec.config.to_dict(), notices)


def sweep_table(spec: Sweep) -> dict:
    """The sweep page's boot data: the lab's table, the sweep, its link's query and its setting's in the lab."""
    return {**config_table(), "sweep": spec.to_dict(), "query": urlencode(spec.to_query()),
            "base_query": urlencode(spec.config.to_query()),
            "limits": {"values": MAX_VALUES, "over": MAX_OVER, "seeds": MAX_SEEDS, "points": MAX_POINTS}}


@router.post("/api/sweep", response_class=StrictJSONResponse)
async def sweep(request: Request) -> Response:
    """One config key swept over values (optionally crossed with another key's alternatives and several seeds):
    every point computed as its own ``/api/trace`` (``kind`` "trace") or training (``kind`` "train") would be.

    400 for a body that is not a JSON object, 413 for one over the size cap, 422 for a bad sweep (an unknown key,
    too many points, a point over a single request's limits, a total estimated time over the server's sweep
    budget), each with ``{"message", "field"}``; 503 when the queue is full.
    """
    hub: Hub = request.app.state.hub
    data = await read_json_body(request, hub.settings, "POST /api/sweep")
    if isinstance(data, Response):
        return data
    if not isinstance(data, dict):
        return error_response(400, 'body must be a JSON object such as {"key": "seq_len", "values": [10, 20]}',
                              "sweep")  # fmt: skip
    try:
        spec = Sweep.from_dict(data)
    except ConfigError as e:
        return error_response(422, e.message, e.field)
    problem = refusal(spec, hub.settings)
    if problem is not None:
        return error_response(422, problem.message, problem.field)
    document, emit = answer(spec)
    outcome: dict[str, Exception] = {}

    async def compute() -> None:
        try:
            await serve_sweep(hub.sharing, spec, emit)
            outcome["done"] = None
        except (Busy, SweepFailed) as e:
            outcome["failed"] = e

    await until_disconnect(request, compute, "POST /api/sweep", "sweep")
    failed = outcome.get("failed")
    if isinstance(failed, Busy):
        return busy_response(failed)
    if failed is not None:
        return error_response(500, str(failed), None)
    if "done" not in outcome:
        return Response(status_code=499)  # the client left; nobody reads this
    return StrictJSONResponse(document)
