"""A saved trace file on the page: ``POST /api/trace-file`` (the file's bytes) and ``GET /api/trace-file/{token}``
(the file the server was started with, ``python -m server --open FILE``).

Both read the file the one way every upload is read (:meth:`server.uploads.Uploads.parse`, kind 'trace': its size
against the cap, room in the budget, the parse in a worker with time and memory limits) and answer the same
document: each trace's frames as the socket would send them, for the page to replay through its own views
(docs/protocol.md, "A saved trace file").  Nothing is computed: a saved trace holds its numbers.
"""

from __future__ import annotations

import logging
from pathlib import Path

import anyio
from fastapi import APIRouter, Request, Response

from server.uploads import UploadRefused
from server.uploads.http import body_within, refused_response
from server.uploads.trace_file import file_token
from server.wire import dumps, error_response

router = APIRouter(prefix="/api", tags=["api"])
log = logging.getLogger(__name__)
_NAME_CHARS = 200  # a file name the page sends, kept for the answer (cut, never parsed)


async def _answer(hub, data: bytes, client: str, name: str | None) -> Response:
    """The document of the trace file ``data``, or the 4xx/503 naming what is wrong with it."""
    try:
        value, _, _ = await hub.uploads.parse("trace", data, client)
    except UploadRefused as e:
        return refused_response(e, {"trace": name} if name else {})
    try:
        body = await anyio.to_thread.run_sync(lambda: dumps(value.document(name)).encode("utf-8"))
    finally:
        hub.uploads.release(value)
    return Response(body, media_type="application/json")


@router.post("/trace-file")
async def post_trace_file(request: Request, name: str | None = None) -> Response:
    """Open a trace file written by ``engine.save_traces`` (the request body, any content type).

    ``name``: the file's name, quoted in messages.  Answers ``{type: "trace_file", sha256, name, traces: [{key,
    title, units}]}``; 413 over ``max_trace_file_bytes``, 422 a file that is not a usable trace file (the message
    names the field), 503 when uploads hold the server's budget."""
    hub = request.app.state.hub
    cap = hub.settings.max_trace_file_bytes
    name = name[:_NAME_CHARS] if name else None
    data = await body_within(request, cap, f"the trace file is over {cap:,} bytes, the most this server opens "
                             "(GFL_MAX_TRACE_FILE_BYTES)", "trace")
    if isinstance(data, Response):
        return data
    client = request.client.host if request.client else ""
    return await _answer(hub, bytes(data), client, name)


@router.get("/trace-file/{token}")
async def get_opened_trace_file(token: str, request: Request) -> Response:
    """The trace file the server was started with (``--open FILE``), under the token its link names."""
    hub = request.app.state.hub
    path = hub.settings.open_trace
    if not path or len(token) != 16:
        return error_response(404, "no trace file is opened under this link: this server was started without "
                                   "--open, or with another file", "trace")
    file = Path(path)
    size = file.stat().st_size if file.is_file() else -1
    cap = hub.settings.max_trace_file_bytes
    if not 0 <= size <= cap:  # checked before reading: the file may have changed since the server started
        return error_response(422, f"the opened trace file {file.name!r} is missing or over {cap:,} bytes", "trace")
    data = await anyio.to_thread.run_sync(file.read_bytes)
    if file_token(data) != token:
        return error_response(404, f"the file {file.name!r} has changed since this link was made: open the link "
                                   "the server prints now", "trace")
    return await _answer(hub, data, "--open", file.name)
