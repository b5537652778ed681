"""What an uploaded file may be, and the one error every refusal of a file ends in.

:class:`UploadLimits` is the part of :class:`server.settings.Settings` a parser needs: small, frozen and
picklable, so that it travels with each file to a parse worker (server/uploads/pool.py).
:class:`UploadRefused` names the file's kind ('model' | 'series' | 'trace'), the field to blame, the row and
column of a CSV where they apply, and the HTTP status; it becomes an error frame or a 4xx, never a 500.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

from server.settings import Settings

KINDS = ("model", "series")  # what a socket may keep; a saved trace file is read by HTTP alone


_DEFAULT = Settings()  # the defaults are the server's settings' own


@dataclass(frozen=True)
class UploadLimits:
    """Caps checked before a file is parsed; see server/settings.py for each one's meaning and default."""

    max_model_bytes: int = _DEFAULT.max_model_bytes
    max_series_bytes: int = _DEFAULT.max_series_bytes
    max_trace_file_bytes: int = _DEFAULT.max_trace_file_bytes
    max_series_values: int = _DEFAULT.max_series_values
    max_series_columns: int = _DEFAULT.max_series_columns
    max_cell_chars: int = _DEFAULT.max_cell_chars
    max_upload_tensors: int = _DEFAULT.max_upload_tensors
    max_unpacked_bytes: int = _DEFAULT.max_unpacked_bytes
    max_key_chars: int = _DEFAULT.max_key_chars
    max_pickle_opcodes: int = _DEFAULT.max_pickle_opcodes
    max_pickle_depth: int = _DEFAULT.max_pickle_depth
    max_safetensors_header_bytes: int = _DEFAULT.max_safetensors_header_bytes

    @classmethod
    def from_settings(cls, settings) -> UploadLimits:
        return cls(**{f.name: getattr(settings, f.name) for f in fields(cls)})

    def max_bytes(self, kind: str) -> int:
        return {"model": self.max_model_bytes, "trace": self.max_trace_file_bytes}.get(kind, self.max_series_bytes)


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
