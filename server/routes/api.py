"""The JSON API: ``GET /api/config`` (every config key) and ``POST /api/trace`` (one whole trace)."""

from __future__ import annotations

import logging
import time

from fastapi import APIRouter, Request, Response
from starlette.requests import ClientDisconnect

from engine import FIELDS, LINK_VERSION, Config, ConfigError
from server.compute import Hub
from server.frames import trace_document, value_count
from server.responses import StrictJSONResponse, error_response
from server.wire import dumps, loads_strict, nesting_too_deep

router = APIRouter(prefix="/api", tags=["api"])
log = logging.getLogger(__name__)


class TraceTooLarge(ValueError):
    pass


@router.get("/config", response_class=StrictJSONResponse)
async def config_fields() -> StrictJSONResponse:
    """Every config key: type, default, bounds or choices, description, group and unit."""
    return StrictJSONResponse({"fields": [f.describe() for f in FIELDS], "link_version": LINK_VERSION})


# Its request body and statuses are documented in server/openapi.py, generated from FIELDS.
@router.post("/trace", response_class=StrictJSONResponse)
async def trace(request: Request) -> Response:
    """One forward+backward pass of the posted config, as one JSON document (same numbers as /ws).

    400 for a body that is not a JSON object, 413 for one over the size cap, 422 for a bad
    config value or a trace too large for JSON; each with ``{"message", "field"}``.
    """
    hub: Hub = request.app.state.hub
    settings = hub.settings
    body = bytearray()
    try:
        async for chunk in request.stream():
            body += chunk
            if len(body) > settings.max_message_bytes:
                return error_response(413, f"body is over {settings.max_message_bytes} bytes", None)
    except ClientDisconnect:
        # Nobody is left to answer; a closed tab or a dropped connection is not a server error.
        log.info("POST /api/trace: client left before sending the whole body")
        return Response(status_code=499)
    try:
        data = loads_strict(bytes(body))
    except RecursionError:
        return error_response(400, "body is nested too deeply", None)
    except ValueError as e:
        return error_response(400, f"body is not valid JSON: {e}", None)
    if nesting_too_deep(data, settings.max_depth) is not None:
        return error_response(400, "body is nested too deeply", None)
    if not isinstance(data, dict):
        # Config.from_dict reads None as "all defaults" (a /ws message without config); a body must be an object.
        return error_response(400, 'body must be a JSON object of config keys, e.g. {"cell": "lstm"}', "config")
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
