"""A user's own model over HTTP: ``POST /api/trace`` as ``multipart/form-data`` with ``config`` and ``model`` parts.

The body is read into memory (capped) and parsed there: nothing is written to disk, unlike a form
parser that spools big files to a temporary file.  An uploaded model's result never enters the
shared cache: it is computed for this request alone, on the scheduler like any trace, and dropped
once sent, so no other request can be answered with it, whatever its config.
"""

from __future__ import annotations

import hashlib
import time

from fastapi import Request, Response
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import ClientDisconnect

from engine import Config, ConfigError
from engine.checkpoint import Checkpoint, CheckpointError, configure, find_recurrent, read_state_dict
from engine.experiment import trace_own
from engine.series import SeriesError, check_fits, read_series
from engine.tasks import get_task
from server import cost
from server.frames import json_value_count, trace_document
from server.hub import Hub
from server.responses import busy_response, error_response
from server.scheduler import Busy
from server.wire import dumps, loads_strict, nesting_too_deep

# Room for the part headers and boundaries around the config and the model.
_ENVELOPE_BYTES = 16 * 1024


class UploadError(ValueError):
    def __init__(self, status: int, message: str, field: str | None):
        super().__init__(message)
        self.status, self.message, self.field = status, message, field


def is_multipart(request: Request) -> bool:
    return request.headers.get("content-type", "").lower().startswith("multipart/form-data")


def parse_parts(body: bytes, content_type: str) -> dict[str, bytes]:
    """The parts of a multipart/form-data ``body`` by name, in memory; raises UploadError (400)."""
    _, options = parse_options_header(content_type)
    boundary = options.get(b"boundary")
    if not boundary:
        raise UploadError(400, "multipart/form-data without a boundary", None)
    parts: dict[str, bytearray] = {}
    state: dict = {"header": b"", "value": b"", "headers": {}, "data": None}

    def on_part_begin():
        state["headers"], state["data"] = {}, bytearray()

    def on_header_field(data, start, end):
        state["header"] += data[start:end]

    def on_header_value(data, start, end):
        state["value"] += data[start:end]

    def on_header_end():
        state["headers"][state["header"].lower()] = state["value"]
        state["header"], state["value"] = b"", b""

    def on_part_data(data, start, end):
        state["data"] += data[start:end]

    def on_part_end():
        _, disposition = parse_options_header(state["headers"].get(b"content-disposition", b""))
        name = disposition.get(b"name", b"").decode("utf-8", "replace")
        if name not in ("config", "model", "series", "column"):
            return  # other parts are ignored, as extra form fields are
        if name in parts:
            raise UploadError(400, f"the part {name!r} is given more than once", name)
        parts[name] = state["data"]

    callbacks = dict(on_part_begin=on_part_begin, on_header_field=on_header_field, on_header_value=on_header_value,
                     on_header_end=on_header_end, on_part_data=on_part_data, on_part_end=on_part_end)
    try:
        parser = MultipartParser(boundary, callbacks)
        parser.write(body)
        parser.finalize()
    except UploadError:
        raise
    except Exception as e:
        raise UploadError(400, f"the body is not valid multipart/form-data: {e}", None) from None
    return {k: bytes(v) for k, v in parts.items()}


def read_upload(parts: dict[str, bytes], max_model_bytes: int, max_depth: int):
    """(config shaped by the file, checkpoint or None, notes, series or None); raises UploadError naming the part."""
    if "config" not in parts:
        raise UploadError(400, f"the multipart body needs a 'config' part (got {sorted(parts)})", "config")
    if "model" not in parts and "series" not in parts:
        raise UploadError(400, "the multipart body needs a 'model' part, a 'series' part or both", "model")
    try:
        data = loads_strict(parts["config"])
    except (ValueError, RecursionError) as e:
        raise UploadError(422, f"the config part is not valid JSON: {e}", "config") from None
    if not isinstance(data, dict) or nesting_too_deep(data, max_depth) is not None:
        raise UploadError(422, 'the config part must be a JSON object of config keys, e.g. {"task": "sine"}',
                          "config")
    try:
        base = Config.from_dict(data)
    except ConfigError as e:
        raise UploadError(422, e.message, e.field) from None
    series = read_series_part(parts, base) if "series" in parts else None
    if "model" not in parts:
        return base, None, [f"the data is the uploaded series {series.name!r} ({len(series.values)} values)"], series
    try:
        state = read_state_dict(parts["model"], max_model_bytes)
        ckpt = find_recurrent(state, 1 if series is not None else get_task(base.task).output_size)
        if ckpt.cell == "rnn" and "nonlinearity" not in data:
            raise CheckpointError(None, "the file holds a vanilla RNN and cannot tell its nonlinearity: "
                                        "give nonlinearity 'tanh' or 'relu' in the config")
        if series is not None and ckpt.input_size != 1:
            raise CheckpointError(None, f"a series feeds the model one input; the uploaded model takes "
                                        f"{ckpt.input_size}")
        config, notes = configure(base, ckpt, data.get("nonlinearity"))
        if series is not None:
            check_fits(series, config)
    except (ConfigError, SeriesError) as e:
        raise UploadError(422, e.message, e.field if isinstance(e, ConfigError) else e.column) from None
    except CheckpointError as e:
        status = 413 if len(parts["model"]) > max_model_bytes else 422
        field = "nonlinearity" if "nonlinearity" in e.message and e.key is None else "model"
        raise UploadError(status, e.message, field) from None
    return config, ckpt, notes, series


def read_series_part(parts: dict[str, bytes], config: Config):
    """The ``series`` part (a CSV) and its optional ``column`` part; raises UploadError (422, field series)."""
    column: str | int | None = None
    if "column" in parts:
        text = parts["column"].decode("utf-8", "replace").strip()
        column = int(text) if text.isdigit() else text or None
    try:
        series = read_series(parts["series"], column)
        check_fits(series, config)
    except ConfigError as e:
        raise UploadError(422, e.message, e.field) from None
    except SeriesError as e:
        where = "seq_len" if e.column == "seq_len" else "series"
        raise UploadError(413 if "bytes; at most" in e.message else 422, e.message, where) from None
    return series


def series_fields(series) -> dict:
    """What the document says about an uploaded series (its ``series`` key): enough to plot it."""
    return {"name": series.name, "length": len(series.values), "mean": series.mean, "std": series.std,
            "values": series.values.tolist()}


def upload_fields(ckpt: Checkpoint, notes: list[str], model: bytes) -> dict:
    """What the document says about the uploaded file (its ``model`` key)."""
    return {"sha256": hashlib.sha256(model).hexdigest(), "prefix": ckpt.prefix.rstrip("."),
            "input_size": ckpt.input_size, "head": ckpt.head[0] if ckpt.head else None, "notes": notes}


async def trace_with_upload(request: Request, hub: Hub) -> Response:
    """Answer a multipart ``POST /api/trace``: the same document as for the config alone, plus ``model``."""
    settings = hub.settings
    limit = settings.max_message_bytes + settings.max_model_bytes + _ENVELOPE_BYTES
    body = bytearray()
    try:
        async for chunk in request.stream():
            body += chunk
            if len(body) > limit:
                return error_response(413, f"body is over {limit} bytes (the model file may be at most "
                                           f"{settings.max_model_bytes} bytes)", "model")
    except ClientDisconnect:
        return Response(status_code=499)
    try:
        parts = parse_parts(bytes(body), request.headers["content-type"])
        config, ckpt, notes, series = read_upload(parts, settings.max_model_bytes, settings.max_depth)
    except UploadError as e:
        return error_response(e.status, e.message, e.field)
    count = json_value_count(config)
    if count > settings.max_json_values:
        return error_response(422, f"this trace would have {count:,} per-unit values, more than the "
                                   f"{settings.max_json_values:,} sent as JSON; lower seq_len", "seq_len")
    extra = {}
    if ckpt is not None:
        extra["model"] = upload_fields(ckpt, notes, parts["model"])
    if series is not None:
        extra["series"] = series_fields(series)

    def document() -> bytes:
        started = time.perf_counter()
        doc = trace_document(trace_own(config, ckpt, series), started)
        return dumps({**doc, **extra}).encode("utf-8")

    try:
        hub.scheduler.admit(cost.trace_seconds(config))
        data = await hub.scheduler.run(document, cost=cost.trace_seconds(config))
    except Busy as e:
        return busy_response(e)
    except Exception as e:  # noqa: BLE001 - the engine failed on a checked file: reported, not a crash
        return error_response(500, f"the trace failed: {type(e).__name__}: {e}", None)
    return Response(data, media_type="application/json")

