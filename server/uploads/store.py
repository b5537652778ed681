"""Uploads kept for a reconnect: a socket's parsed model or series under a random token, for a bounded time.

A page whose socket drops opens a new one, which knows none of the old one's files.  Rather than
sending the file again, the page sends the token the server gave it in ``model_loaded`` /
``series_loaded``; the server hands the new socket the very object it parsed before.  Only when the
token is unknown (evicted, expired, another process) does the page send the file again.

Bounds, so that no client can make the server hold more than the settings allow: at most
``max_entries`` uploads and ``max_bytes`` bytes (each counted at the larger of its file and what was
parsed from it); an entry unused for ``ttl_seconds`` is gone.  A socket holds at most one token per
kind: a new upload or a clear revokes its previous one.

One client cannot evict another's token.  A *client* is the peer address the upload came from (behind
a reverse proxy, the address uvicorn reports from ``X-Forwarded-For``; a class behind one NAT is one
client).  Each client keeps at most ``client_entries`` uploads and ``client_bytes`` bytes here: a new
upload past those, or one that does not fit the whole store, replaces that client's own least recently
used uploads, and when the client has none left to give up it is simply not kept (its token is null:
it works on its socket, and a reconnect sends the file again).  What the store keeps is also counted in
the process's upload budget (:class:`server.uploads.budget.UploadBudget`) while it keeps it.

A token is a 128-bit secret from :mod:`secrets`, given only to the socket that uploaded the file;
it is never put in a link, never logged, and an entry is found by its token alone.  Entries are this
process's memory only: never the shared result cache, never disk.
"""

from __future__ import annotations

import secrets
import time
from collections import Counter, OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = ["Kept", "UploadStore"]

KINDS = ("model", "series")


@dataclass
class Kept:
    kind: str  # 'model' | 'series'
    value: Any  # server.uploads.OwnModel or engine.data.series.Series, as parsed
    fields: dict  # the model_loaded / series_loaded frame's fields (without token and run)
    size: int  # bytes counted against the budget
    used: float  # the clock when last stored or resumed
    client: str = ""  # who uploaded it (the peer address)


class UploadStore:
    """Token -> upload, bounded by count, bytes and idle time; see the module docstring."""

    def __init__(self, max_entries: int, max_bytes: int, ttl_seconds: float,
                 clock: Callable[[], float] = time.monotonic, client_entries: int | None = None,
                 client_bytes: int | None = None, budget=None):
        if max_entries < 1 or max_bytes < 1 or ttl_seconds <= 0:
            raise ValueError("an upload store needs max_entries >= 1, max_bytes >= 1 and ttl_seconds > 0")
        self.max_entries, self.max_bytes, self.ttl_seconds = max_entries, max_bytes, ttl_seconds
        self.client_entries = client_entries or max_entries
        self.client_bytes = client_bytes or max_bytes
        self.budget = budget  # a server.uploads.UploadBudget that counts what is kept, or None
        self.clock = clock
        self.entries: OrderedDict[str, Kept] = OrderedDict()  # least recently used first
        self.bytes = 0
        self.by_client: Counter[str] = Counter()  # bytes kept per client
        self.count_by_client: Counter[str] = Counter()
        self.evicted = 0  # entries dropped for room (not expired or revoked), for /healthz and tests
        self.not_kept = 0  # uploads not kept: their client had nothing of its own left to give up

    def __len__(self) -> int:
        return len(self.entries)

    def put(self, kind: str, value: Any, fields: dict, size: int, client: str = "") -> str | None:
        """Keep ``value`` and return its new token, or None when it is not kept (see the module docstring)."""
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {', '.join(KINDS)}; got {kind!r}")
        self.expire()
        if size > min(self.max_bytes, self.client_bytes):
            return None
        while self._over(client, size):
            own = next((t for t, k in self.entries.items() if k.client == client), None)
            if own is None:
                self.not_kept += 1
                return None
            self._drop(own)
            self.evicted += 1
        token = secrets.token_urlsafe(16)
        self.entries[token] = Kept(kind, value, dict(fields), size, self.clock(), client)
        self.bytes += size
        self.by_client[client] += size
        self.count_by_client[client] += 1
        if self.budget is not None:
            self.budget.hold(value, size, client)
        return token

    def _over(self, client: str, size: int) -> bool:
        """Whether keeping ``size`` more bytes for ``client`` passes a bound of the store or of the client."""
        return (len(self.entries) >= self.max_entries or self.bytes + size > self.max_bytes
                or self.count_by_client[client] >= self.client_entries
                or self.by_client[client] + size > self.client_bytes)

    def take(self, token: str, kind: str) -> Kept | None:
        """The upload of ``kind`` under ``token`` (its idle time starts again), or None: unknown or expired."""
        self.expire()
        kept = self.entries.get(token)
        if kept is None or kept.kind != kind:
            return None
        kept.used = self.clock()
        self.entries.move_to_end(token)
        return kept

    def touch(self, token: str | None) -> None:
        """A run used the upload under ``token``: it is not idle."""
        kept = self.entries.get(token) if token else None
        if kept is not None:
            kept.used = self.clock()
            self.entries.move_to_end(token)

    def revoke(self, token: str | None) -> None:
        if token in self.entries:
            self._drop(token)

    def expire(self) -> None:
        """Drop every entry idle for ``ttl_seconds`` or more (the oldest are first)."""
        deadline = self.clock() - self.ttl_seconds
        while self.entries:
            token, kept = next(iter(self.entries.items()))
            if kept.used > deadline:
                return
            self._drop(token)

    def _drop(self, token: str) -> None:
        kept = self.entries.pop(token)
        self.bytes -= kept.size
        self.by_client[kept.client] -= kept.size
        self.count_by_client[kept.client] -= 1
        if self.count_by_client[kept.client] <= 0:
            del self.count_by_client[kept.client], self.by_client[kept.client]
        if self.budget is not None:
            self.budget.drop(kept.value)

    def report(self) -> dict:
        return {"entries": len(self.entries), "bytes": self.bytes, "clients": len(self.count_by_client),
                "evicted": self.evicted, "not_kept": self.not_kept}
