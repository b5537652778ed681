"""A saved trace file (``engine.save_traces``) read for the page: checked, parsed and encoded in a parse worker.

The file's bytes are read by :func:`engine.load_traces`, which checks the declared sizes, the header's nesting and
every array's shape and integer range before and while it parses (docs/trace-file.md), under the limits derived
from the server's settings.  Each trace then becomes the frames the socket would send for it
(:func:`server.notebook.frames.sections`, the notebook's own encoding), recorded as ``[text, base64 | None]`` rows
that the page replays through its own views.  All of it runs in a parse worker (server/uploads/pool.py), with the
pool's time and memory limits: the event loop only passes bytes in and a list out.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from engine import TraceFileError, TraceFileLimits, load_traces
from engine.config import quote
from server.notebook.frames import sections
from server.settings import Settings
from server.uploads.limits import UploadRefused
from server.wire import recorded_rows


@dataclass(frozen=True)
class SavedTraces:
    """A trace file as the page gets it: one entry per trace, ``{key, title, units}`` (``units``: recorded rows)."""

    sha256: str
    traces: list[dict]
    nbytes: int  # what holding the encoded rows costs, for the upload budget

    def document(self, name: str | None = None) -> dict:
        """The JSON answer of ``POST /api/trace-file`` (docs/protocol.md, "A saved trace file")."""
        return {"type": "trace_file", "sha256": self.sha256, "name": name, "traces": self.traces}


def file_token(data: bytes) -> str:
    """The link's name of a trace file: the first 16 hex digits of its SHA-256."""
    return hashlib.sha256(data).hexdigest()[:16]


def read_trace_file(data: bytes, limits: Settings) -> tuple[str, list[dict], int]:
    """``data`` (a trace file's bytes) as the plain fields of :class:`SavedTraces` (what a parse worker may send
    back); raises :class:`UploadRefused` (kind 'trace')."""
    cap = TraceFileLimits(max_bytes=limits.max_trace_file_bytes, max_key_chars=min(200, limits.max_key_chars))
    try:
        traces = load_traces(data, cap)
        shown = sections(traces)
    except (TraceFileError, ValueError, TypeError) as e:
        # TraceFileError names the field; a ValueError from the encoding names the trace it cannot show.
        raise UploadRefused("trace", f"the trace file is not usable: {quote(str(e), 300)}", "trace") from None
    out = [{"key": s["key"], "title": s["title"], "units": recorded_rows(s["units"])} for s in shown]
    nbytes = sum(len(text) + len(data or "") for s in out for text, data in s["units"])
    return hashlib.sha256(data).hexdigest(), out, nbytes
