"""The JSON API: ``GET /api/config`` (every config key) and ``POST /api/trace`` (one whole trace)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
from fastapi import APIRouter, Request, Response
from starlette.requests import ClientDisconnect

from engine import FIELDS, LINK_VERSION, Config, ConfigError
from engine.config import NUMBER_SYNTAX, PAGE_KEYS, VIEWS, Field, RepeatedKey, describe_rules, read_link
from engine.data import TASKS, get_task
from server.compression import shared_answer
from server.hub import Hub
from server.scheduling import Busy
from server.scheduling.budgets import trace_too_long
from server.sharing import LAG, request_key, with_lag
from server.uploads import is_multipart, trace_with_upload
from server.wire import (
    StrictJSONResponse,
    Unit,
    busy_response,
    error_response,
    json_value_count,
    loads_strict,
    nesting_too_deep,
)

router = APIRouter(prefix="/api", tags=["api"])
log = logging.getLogger(__name__)


@router.get("/config", response_class=StrictJSONResponse)
async def config_fields() -> StrictJSONResponse:
    """Every config key: type, default, bounds or choices, description, group, unit, and what the page needs.

    That is its label, when it applies (``applies`` / ``not_applies``: other keys' values, ``why_not`` in
    words) and what a change of it affects (``weights``, ``data``, ``trace`` or only ``training``); the page
    keeps no copy of the table.  ``rules`` are the rules that tie keys together, as the server applies them
    (:func:`engine.config.describe_rules`); ``link_number_syntax`` is how a link writes a number; ``page_keys`` are
    the link keys that belong to the page, not the model; ``views`` the values a link's ``view`` may take.
    """
    return StrictJSONResponse(config_table())


def config_table() -> dict[str, Any]:
    """What ``GET /api/config`` answers, and what the page boots with: the table, its rules, the link version, how a
    link writes a number, the page's own link keys (:data:`engine.config.space.PAGE_KEYS`, each with how a link
    writes it), the views a link's ``view`` may open (:data:`engine.config.VIEWS`) and each task's description and
    whether it can be learned at all (:class:`engine.data.tasks.Task`)."""
    tasks = {name: {"description": get_task(name).description, "learnable": get_task(name).learnable} for name in TASKS}
    return {"fields": [f.describe() for f in FIELDS], "rules": describe_rules(), "link_version": LINK_VERSION,
            "link_number_syntax": NUMBER_SYNTAX, "page_keys": dict(PAGE_KEYS), "views": list(VIEWS),
            "tasks": tasks}  # fmt: skip


# Its request body and statuses are documented in server/openapi.py, generated from FIELDS.
# The query options of POST /api/trace (the body is the config).
TRACE_OPTIONS = {f.name: f for f in (
    Field("lag", "bool", False, "Add the lag map: where each step's gradient comes from, by output step "
          "(backward.output_steps, grad_h_by_output, grad_x_by_output, lag_curve).", "options"),
)}


@router.post("/trace", response_class=StrictJSONResponse)
async def trace(request: Request) -> Response:
    """One forward+backward pass of the posted config, as one JSON document (same numbers as /ws).

    400 for a body that is not a JSON object, 413 for one over the size cap, 422 for a bad
    config value or a trace too large for JSON; each with ``{"message", "field"}``.  ``?lag=1`` adds the lag map.
    """
    hub: Hub = request.app.state.hub
    options, problems = read_link(request.query_params.multi_items(), TRACE_OPTIONS)
    if problems:
        return error_response(400 if isinstance(problems[0], RepeatedKey) else 422, problems[0].message,
                              problems[0].field)
    kind = "document" + LAG if options.get("lag") else "document"
    if is_multipart(request):  # a config part and the user's own model (server/uploads/http.py)
        return await trace_with_upload(request, hub, lag=kind != "document")
    settings = hub.settings
    data = await read_json_body(request, settings, "POST /api/trace")
    if isinstance(data, Response):
        return data
    if not isinstance(data, dict):
        # Config.from_dict reads None as "all defaults" (a /ws message without config); a body must be an object.
        return error_response(400, 'body must be a JSON object of config keys, e.g. {"cell": "lstm"}', "config")
    try:
        config = Config.from_dict(data)
    except ConfigError as e:
        return error_response(422 if isinstance(data, dict) else 400, e.message, e.field)

    count = json_value_count(config)
    if count > settings.max_json_values:  # refused from the config alone, before any computation
        return error_response(
            422,
            f"this trace would have {count:,} per-unit values, more than the {settings.max_json_values:,} "
            "sent as JSON; lower seq_len or hidden_size, or stream it over /ws",
            "seq_len",
        )
    refused = trace_too_long(config, settings.max_trace_seconds, with_lag(kind))
    if refused is not None:  # as the socket refuses its run
        return error_response(422, *refused)
    outcome: dict[str, Unit | Busy] = {}

    async def collect(units) -> None:
        outcome["unit"] = units[-1]  # a document is one unit: the JSON bytes, or an error's text

    async def compute() -> None:
        try:
            await hub.sharing.serve(kind, config, collect)
        except Busy as e:
            outcome["busy"] = e

    await until_disconnect(request, compute, "POST /api/trace", "trace")
    if "busy" in outcome:
        return busy_response(outcome["busy"])
    unit = outcome.get("unit")
    if unit is None:
        return Response(status_code=499)  # the client left; nobody reads this
    if unit.data is None:  # the computation failed: a server bug, reported as such
        return error_response(500, loads_strict(unit.text)["message"], None)
    return await shared_answer(request, request_key(kind, config), unit.data, "application/json")


async def read_json_body(request: Request, settings, route: str) -> Any:
    """The request's body read within ``max_message_bytes`` and parsed as strict JSON no deeper than ``max_depth``;
    or the answer instead: 413 over the size, 400 for anything that is not such JSON, 499 for a client gone."""
    body = bytearray()
    try:
        async for chunk in request.stream():
            body += chunk
            if len(body) > settings.max_message_bytes:
                return error_response(413, f"body is over {settings.max_message_bytes} bytes", None)
    except ClientDisconnect:
        # Nobody is left to answer; a closed tab or a dropped connection is not a server error.
        log.info("%s: client left before sending the whole body", route)
        return Response(status_code=499)
    try:
        data = loads_strict(bytes(body))
    except RecursionError:
        return error_response(400, "body is nested too deeply", None)
    except RepeatedKey as e:
        return error_response(400, f"body {e.message}", e.field)
    except ValueError as e:
        return error_response(400, f"body is not valid JSON: {e}", None)
    if nesting_too_deep(data, settings.max_depth) is not None:
        return error_response(400, "body is nested too deeply", None)
    return data


async def until_disconnect(request: Request, work: Callable[[], Awaitable[None]], route: str, what: str) -> None:
    """Run ``work()`` once the body is read, cancelling it if the client leaves first (the only message that can
    still come is the client leaving): nobody would read its answer."""

    async def compute() -> None:
        await work()
        tg.cancel_scope.cancel()

    async def watch_disconnect() -> None:
        while (await request.receive())["type"] != "http.disconnect":
            pass
        log.info("%s: the client left before its %s was ready; cancelled", route, what)
        tg.cancel_scope.cancel()

    async with anyio.create_task_group() as tg:
        tg.start_soon(compute)
        tg.start_soon(watch_disconnect)
