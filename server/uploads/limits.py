"""What an uploaded file may be, and the one error every refusal of a file ends in.

A parser reads its caps from the server's :class:`server.settings.Settings` (frozen and picklable: it travels with
each file to a parse worker, server/uploads/pool.py).
:class:`UploadRefused` names the file's kind ('model' | 'series' | 'trace'), the field to blame, the row and
column of a CSV where they apply, and the HTTP status; it becomes an error frame or a 4xx, never a 500.
"""

from __future__ import annotations

from server.settings import Settings

__all__ = ["KINDS", "UploadRefused"]

KINDS = ("model", "series")  # what a socket may keep; a saved trace file is read by HTTP alone


def max_upload_bytes(limits: Settings, kind: str) -> int:
    """The largest file of ``kind`` ('model', 'trace' or 'series') the settings allow."""
    return {"model": limits.max_model_bytes, "trace": limits.max_trace_file_bytes}.get(kind, limits.max_series_bytes)


class UploadRefused(ValueError):
    """A file (or an upload message) that is not used, and why.

    ``kind`` is 'model', 'series' or 'trace' (a saved trace file); ``field`` the key to blame ('model', 'series',
    'trace', 'nonlinearity', 'bytes', 'column', 'seq_len', ...); ``row`` (1-based, as in the file) and ``column``
    locate a CSV cell; ``status`` is the HTTP answer (413 over a size cap, 422 a file that is not usable, 503 the
    server is full).
    """

    def __init__(self, kind: str, message: str, field: str | None = None, status: int = 422,
                 row: int | None = None, column: str | None = None):
        super().__init__(message)
        self.kind, self.message, self.status, self.row, self.column = kind, message, status, row, column
        self.field = field if field is not None else kind

    def frame(self) -> dict:
        """The error frame of the socket protocol (docs/protocol.md, "Your own model")."""
        frame = {"type": "error", "run": None, "message": self.message, "field": self.field, "kind": self.kind}
        if self.row is not None:
            frame["row"] = self.row
        if self.column is not None:
            frame["column"] = self.column
        return frame

    def body(self) -> dict:
        """The JSON body of the HTTP answer."""
        return {k: v for k, v in self.frame().items() if k not in ("type", "run")}

    def as_tuple(self) -> tuple:
        """Plain values, to cross a process boundary without pickling an exception."""
        return (self.kind, self.message, self.field, self.status, self.row, self.column)


def too_big(kind: str, what: str, size: int, cap: int, field: str | None = None) -> UploadRefused:
    """The refusal of ``what`` (e.g. 'the model file') of ``size`` bytes over ``cap``: 413."""
    return UploadRefused(kind, f"{what} is {size:,} bytes; at most {cap:,} are allowed", field, status=413)
