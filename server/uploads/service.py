"""What every route shares about uploads: the caps, the parse pool, the byte budget and the reconnect store.

:meth:`Uploads.parse` is the one way a file becomes something the app uses, over HTTP or a socket:
its size against the cap, room in the budget (refused at once when there is none), the parse in a
worker process with a time limit, then the parsed value counted in the budget under its client.  The
caller holds the value until it lets go (:meth:`Uploads.release`); nothing else keeps it alive.
"""

from __future__ import annotations

import threading

from engine.data import Series
from server.uploads.budget import UploadBudget
from server.uploads.limits import UploadRefused, max_upload_bytes, too_big
from server.uploads.model_file import own_model, read_model
from server.uploads.pool import ParseFailed, ParsePool, shared_pool
from server.uploads.series_file import read_series_upload
from server.uploads.store import UploadStore
from server.uploads.trace_file import SavedTraces, read_trace_file

__all__ = ["Uploads", "held_bytes"]

_WHAT = {"model": "the model file", "series": "the CSV file", "trace": "the trace file"}


def held_bytes(value, file_bytes: int) -> int:
    """What keeping an upload costs: its file or what was parsed from it, the larger."""
    parsed = value.values.nbytes if isinstance(value, Series) else value.nbytes  # OwnModel, SavedTraces: nbytes
    return max(file_bytes, parsed)


class Uploads:
    """The process's upload machinery, built from :class:`server.settings.Settings`."""

    def __init__(self, settings):
        self.settings = settings
        self.budget = UploadBudget(settings.upload_budget_bytes, settings.upload_client_bytes)
        self.store = UploadStore(settings.upload_store_entries, settings.upload_store_bytes,
                                 settings.upload_token_seconds, client_entries=settings.upload_client_entries,
                                 client_bytes=settings.upload_client_bytes, budget=self.budget)
        self._pool: ParsePool | None = None
        self._warming: threading.Thread | None = None

    @property
    def pool(self) -> ParsePool:
        if self._pool is None:
            self._pool = shared_pool(self.settings.upload_parse_workers, self.settings.upload_parse_memory_bytes)
        return self._pool

    def warm_soon(self) -> None:
        """Start a parse worker in the background (the first one also starts the forkserver, which imports torch)."""
        if self._warming is None:
            self._warming = threading.Thread(target=self.pool.warm, daemon=True, name="gfl-parse-warm")
            self._warming.start()

    async def parse(self, kind: str, data: bytes, client: str, *, column=None, nonlinearity: str | None = None,
                    max_bytes: int | None = None):
        """(value, the ``*_loaded`` frame's fields, bytes held) for the file ``data``; raises UploadRefused.

        ``kind``: 'model', 'series' or 'trace' (a saved trace file: ``value`` is a SavedTraces, no fields).
        ``value`` (an OwnModel, a Series or a SavedTraces) is held in the budget for ``client`` until :meth:`release`.
        """
        cap = min(max_upload_bytes(self.settings, kind), max_bytes or max_upload_bytes(self.settings, kind))
        what = _WHAT[kind]
        if len(data) > cap:
            raise too_big(kind, what, len(data), cap)
        if not data:
            raise UploadRefused(kind, f"{what} is empty")
        with self.budget.reserving(kind, client, len(data)):
            try:
                if kind == "model":
                    used, fields = await self.pool.run(read_model, data, self.settings, nonlinearity,
                                                       seconds=self.settings.upload_parse_seconds)
                    value = own_model(used, fields, nonlinearity)
                elif kind == "trace":
                    value = SavedTraces(*await self.pool.run(read_trace_file, data, self.settings,
                                                             seconds=self.settings.upload_parse_seconds))
                    fields = {}
                else:
                    name, values, mean, std, fields = await self.pool.run(
                        read_series_upload, data, column, self.settings, seconds=self.settings.upload_parse_seconds)
                    value = Series(name, values, mean, std)
            except ParseFailed as e:
                raise UploadRefused(kind, f"{what} could not be read: {e.reason}; it was not used") from None
            size = held_bytes(value, len(data))
            self.budget.check_room(kind, client, size - len(data))
            self.budget.hold(value, size, client)
        return value, fields, size

    def release(self, value) -> None:
        """The caller no longer holds ``value`` (a socket replaced, cleared or closed; a request answered)."""
        if value is not None:
            self.budget.drop(value)

    def report(self) -> dict:
        pool = self._pool.report() if self._pool is not None else None
        return {"budget": self.budget.report(), "store": self.store.report(), "parse_pool": pool}
