"""A user's own model over HTTP: ``POST /api/trace`` as ``multipart/form-data`` with ``config`` and ``model`` parts.

The body is read into memory (capped) and split into its parts there: nothing is written to disk,
unlike a form parser that spools big files to a temporary file.  The files are parsed as a socket's
are (:meth:`server.uploads.Uploads.parse`: checked, in a worker process, counted in the budget while
the request holds them); every refusal is a 4xx naming the part's file, never a 500.  An uploaded
model's result never enters the shared cache: it is computed for this request alone, on the
scheduler like any trace, and dropped once sent, so no other request can be answered with it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from fastapi import Request, Response
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import ClientDisconnect

from engine import Config, ConfigError
from engine.config import quote
from engine.data import Checkpoint, CheckpointError, SeriesError, configure
from engine.lab import trace_own
from server.scheduling import Busy, cost
from server.sharing import lag_rows_for
from server.uploads.limits import UploadRefused
from server.uploads.runs import shape_own
from server.wire import (
    StrictJSONResponse,
    busy_response,
    document_bytes,
    error_response,
    json_value_count,
    loads_strict,
    nesting_too_deep,
    trace_document,
)

__all__ = ["is_multipart", "trace_with_upload"]

# Room for the part headers and boundaries around the config and the model.
_ENVELOPE_BYTES = 16 * 1024
RETRY_AFTER_S = 10


class UploadError(ValueError):
    def __init__(self, status: int, message: str, field: str | None):
        super().__init__(message)
        self.status, self.message, self.field = status, message, field


async def read_capped(request: Request, limit: int) -> bytearray | None:
    """The request's body, read as it arrives, or None as soon as it passes ``limit`` bytes (the rest unread).

    Raises ``ClientDisconnect`` when the client goes away."""
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            return None
    return body


async def body_within(request: Request, limit: int, refusal: str, kind: str) -> bytearray | Response:
    """The request's body if it is at most ``limit`` bytes, else the answer to send instead: a 413 saying
    ``refusal`` (about the upload ``kind``), or a 499 when the client went away before its body arrived."""
    try:
        body = await read_capped(request, limit)
    except ClientDisconnect:
        return Response(status_code=499)
    return error_response(413, refusal, kind) if body is None else body


def is_multipart(request: Request) -> bool:
    return request.headers.get("content-type", "").lower().startswith("multipart/form-data")


def parse_parts(body: bytes, content_type: str, filenames: dict[str, str] | None = None) -> dict[str, bytes]:
    """The parts of a multipart/form-data ``body`` by name, in memory; raises UploadError (400).

    ``filenames`` (when given) gets each file part's file name, to name it in messages.
    """
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
        if filenames is not None and b"filename" in disposition:
            filenames[name] = disposition[b"filename"].decode("utf-8", "replace")

    callbacks = dict(on_part_begin=on_part_begin, on_header_field=on_header_field, on_header_value=on_header_value,
                     on_header_end=on_header_end, on_part_data=on_part_data, on_part_end=on_part_end)
    try:
        parser = MultipartParser(boundary, callbacks)
        parser.write(body)
        parser.finalize()
    except UploadError:
        raise
    except Exception as e:
        raise UploadError(400, f"the body is not valid multipart/form-data: {quote(str(e))}", None) from None
    return {k: bytes(v) for k, v in parts.items()}


def read_config(parts: dict[str, bytes], max_depth: int) -> tuple[Config, dict]:
    """The ``config`` part as a Config, and as the dict it was (for its ``nonlinearity``); raises UploadError."""
    if "config" not in parts:
        raise UploadError(400, f"the multipart body needs a 'config' part (got {sorted(parts)})", "config")
    if "model" not in parts and "series" not in parts:
        raise UploadError(400, "the multipart body needs a 'model' part, a 'series' part or both", "model")
    try:
        data = loads_strict(parts["config"])
    except (ValueError, RecursionError) as e:
        raise UploadError(422, f"the config part is not valid JSON: {quote(str(e))}", "config") from None
    if not isinstance(data, dict) or nesting_too_deep(data, max_depth) is not None:
        raise UploadError(422, 'the config part must be a JSON object of config keys, e.g. {"task": "sine"}',
                          "config")
    try:
        return Config.from_dict(data), data
    except ConfigError as e:
        raise UploadError(422, e.message, e.field) from None


def column_part(parts: dict[str, bytes]) -> str | int | None:
    if "column" not in parts:
        return None
    text = parts["column"].decode("utf-8", "replace").strip()
    return int(text) if text.isascii() and text.isdigit() and len(text) < 10 else text or None  # ASCII digits only


async def read_upload(parts: dict[str, bytes], uploads, client: str, max_depth: int, held: list) -> Upload:
    """The request's config shaped by its files, and the files; raises UploadError or UploadRefused.

    Each parsed file is appended to ``held``: the caller lets go of them (``uploads.release``) when answered.
    """
    base, data = read_config(parts, max_depth)
    series = model = None
    if "series" in parts:
        series, _, _ = await uploads.parse("series", parts["series"], client, column=column_part(parts))
        held.append(series)
    if "model" in parts:
        nonlinearity = data.get("nonlinearity") if data.get("nonlinearity") in ("tanh", "relu") else None
        model, _, _ = await uploads.parse("model", parts["model"], client, nonlinearity=nonlinearity)
        held.append(model)
    try:
        config, ckpt = shape_own(base, model, series)
        notes = configure(base, ckpt, model.nonlinearity)[1] if ckpt is not None else []
    except (ConfigError, SeriesError) as e:
        raise UploadError(422, e.message, e.field if isinstance(e, ConfigError) else
                          "seq_len" if e.column == "seq_len" else "series") from None
    except CheckpointError as e:
        raise UploadRefused("model", e.message) from None
    if ckpt is None:
        notes = [f"the data is the uploaded series {quote(series.name)} ({len(series.values)} values)"]
    return Upload(config, model, ckpt, notes, series)


@dataclass(frozen=True)
class Upload:
    """A multipart request's config, shaped by its files, and the files as the trace uses them."""

    config: Config
    model: object | None  # the OwnModel, if a model part was sent
    ckpt: Checkpoint | None
    notes: list[str]
    series: object | None  # the engine.data.series.Series, if a series part was sent


def series_fields(series) -> dict:
    """What the document says about an uploaded series (its ``series`` key): enough to plot it."""
    return {"name": series.name, "length": len(series.values), "mean": series.mean, "std": series.std,
            "values": series.values.tolist()}


def upload_fields(ckpt: Checkpoint, notes: list[str], model) -> dict:
    """What the document says about the uploaded file (its ``model`` key); ``model`` is the OwnModel."""
    return {"sha256": model.sha256, "prefix": ckpt.prefix.rstrip("."),
            "input_size": ckpt.input_size, "head": ckpt.head[0] if ckpt.head else None, "notes": notes}


def refused_response(e: UploadRefused, filenames: dict[str, str]) -> StrictJSONResponse:
    """The 4xx (or 503) of a refused file, its message naming the part's file."""
    body = e.body()
    name = filenames.get(e.kind)
    if name:
        body["file"] = name[:200]
        body["message"] = f"{quote(name)}: {e.message}"
    headers = None
    if e.status == 503:  # the budget is full now: uploads held by sockets go as they close or expire
        body["retry_after_s"] = RETRY_AFTER_S
        headers = {"Retry-After": str(RETRY_AFTER_S)}
    return StrictJSONResponse(body, status_code=e.status, headers=headers)


async def trace_with_upload(request: Request, hub, lag: bool = False) -> Response:
    """Answer a multipart ``POST /api/trace``: the same document as for the config alone, plus ``model``.

    ``lag``: with the lag map (``?lag=1``)."""
    settings = hub.settings
    limit = settings.max_message_bytes + settings.max_model_bytes + settings.max_series_bytes + _ENVELOPE_BYTES
    body = await body_within(request, limit, f"body is over {limit:,} bytes (the model file may be at most "
                             f"{settings.max_model_bytes:,} bytes, the series {settings.max_series_bytes:,})", "model")
    if isinstance(body, Response):
        return body
    filenames: dict[str, str] = {}
    held: list = []
    client = request.client.host if request.client else ""
    try:
        parts = parse_parts(bytes(body), request.headers["content-type"], filenames)
        del body
        return await answer(hub, await read_upload(parts, hub.uploads, client, settings.max_depth, held), lag)
    except UploadError as e:
        return error_response(e.status, e.message, e.field)
    except UploadRefused as e:
        return refused_response(e, filenames)
    finally:
        for value in held:
            hub.uploads.release(value)


async def answer(hub, upload: Upload, lag: bool = False) -> Response:
    """The trace document of an uploaded model and/or series, computed on the scheduler for this request alone."""
    settings, config, ckpt, series = hub.settings, upload.config, upload.ckpt, upload.series
    count = json_value_count(config)
    if count > settings.max_json_values:
        return error_response(422, f"this trace would have {count:,} per-unit values, more than the "
                                   f"{settings.max_json_values:,} sent as JSON; lower seq_len", "seq_len")
    extra = {}
    if ckpt is not None:
        extra["model"] = upload_fields(ckpt, upload.notes, upload.model)
    if series is not None:
        extra["series"] = series_fields(series)

    def document() -> bytes:
        started = time.perf_counter()
        doc = trace_document(trace_own(config, ckpt, series, lag_rows_for(config) if lag else 0), started)
        return document_bytes({**doc, **extra})

    try:
        hub.scheduler.admit(cost.trace_seconds(config, lag=lag))
        data = await hub.scheduler.run(document, cost=cost.trace_seconds(config, lag=lag))
    except Busy as e:
        return busy_response(e)
    except Exception as e:  # noqa: BLE001 - the engine failed on a checked file: the file is named, never a 500
        kind = "model" if ckpt is not None else "series"
        return error_response(422, f"the trace of the uploaded {kind} failed: {type(e).__name__}: "
                                   f"{quote(str(e))}", kind)
    return Response(data, media_type="application/json")
