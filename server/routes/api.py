"""The JSON API: ``GET /api/config`` (every config key) and ``POST /api/trace`` (one whole trace)."""

from __future__ import annotations

import time

from fastapi import APIRouter, Request, Response

from engine import FIELDS, LINK_VERSION, Config, ConfigError
from server.compute import Hub
from server.frames import trace_document, value_count
from server.responses import StrictJSONResponse, error_response
from server.wire import dumps, loads_strict, nesting_too_deep

router = APIRouter(prefix="/api", tags=["api"])


class TraceTooLarge(ValueError):
    pass


@router.get("/config", response_class=StrictJSONResponse)
async def config_fields() -> StrictJSONResponse:
    """Every config key: type, default, bounds or choices, description, group, unit, and what the page needs.

    That is its label, when it applies (``applies`` / ``not_applies``: other keys' values, ``why_not`` in
    words) and what a change of it affects (``weights``, ``data``, ``trace`` or only ``training``); the page
    keeps no copy of the table.
    """
    return StrictJSONResponse({"fields": [f.describe() for f in FIELDS], "link_version": LINK_VERSION})


_TRACE_BODY = {
    "requestBody": {
        "required": True,
        "description": 'A config object (missing keys take their defaults), e.g. {"cell": "lstm", "seq_len": 100}.',
        "content": {"application/json": {"schema": {"type": "object"}}},
    }
}


@router.post("/trace", openapi_extra=_TRACE_BODY, response_class=StrictJSONResponse)
async def trace(request: Request) -> Response:
    """One forward+backward pass of the posted config, as one JSON document (same numbers as /ws).

    400 for a body that is not a JSON object, 413 for one over the size cap, 422 for a bad
    config value or a trace too large for JSON; each with ``{"message", "field"}``.
    """
    hub: Hub = request.app.state.hub
    settings = hub.settings
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > settings.max_message_bytes:
            return error_response(413, f"body is over {settings.max_message_bytes} bytes", None)
    try:
        data = loads_strict(bytes(body))
    except RecursionError:
        return error_response(400, "body is nested too deeply", None)
    except ValueError as e:
        return error_response(400, f"body is not valid JSON: {e}", None)
    if nesting_too_deep(data, settings.max_depth) is not None:
        return error_response(400, "body is nested too deeply", None)
    try:
        config = Config.from_dict(data)
    except ConfigError as e:
        return error_response(422 if isinstance(data, dict) else 400, e.message, e.field)

    def document() -> bytes:
        started = time.perf_counter()
        result = hub.tracer(config)
        count = value_count(result)
        if count > settings.max_json_values:
            raise TraceTooLarge(
                f"this trace has {count:,} per-unit values, more than the {settings.max_json_values:,} "
                "sent as JSON; lower seq_len or hidden_size, or stream it over /ws"
            )
        return dumps(trace_document(result, started)).encode("utf-8")

    try:
        content = await hub.compute.run(document)
    except TraceTooLarge as e:
        return error_response(422, str(e), "seq_len")
    return Response(content, media_type="application/json")
