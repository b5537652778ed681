"""Uploads kept for a reconnect: a socket's parsed model or series under a random token, for a bounded time.

A page whose socket drops opens a new one, which knows none of the old one's files.  Rather than
sending the file again, the page sends the token the server gave it in ``model_loaded`` /
``series_loaded``; the server hands the new socket the very object it parsed before.  Only when the
token is unknown (evicted, expired, another process) does the page send the file again.

Bounds, so that no client can make the server hold more than the settings allow: at most
``max_entries`` uploads and ``max_bytes`` bytes (each counted at the larger of its file and what was
parsed from it), least recently used evicted first; an entry unused for ``ttl_seconds`` is gone.  A
socket holds at most one token per kind: a new upload or a clear revokes its previous one.

A token is a 128-bit secret from :mod:`secrets`, given only to the socket that uploaded the file;
it is never put in a link, never logged, and an entry is found by its token alone.  Entries are this
process's memory only: never the shared result cache, never disk.
"""

from __future__ import annotations

import secrets
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

KINDS = ("model", "series")


@dataclass
class Kept:
    kind: str  # 'model' | 'series'
    value: Any  # server.private.OwnModel or engine.series.Series, as parsed
    fields: dict  # the model_loaded / series_loaded frame's fields (without token and run)
    size: int  # bytes counted against the budget
    used: float  # the clock when last stored or resumed


class UploadStore:
    """Token -> upload, bounded by count, bytes and idle time; see the module docstring."""

    def __init__(self, max_entries: int, max_bytes: int, ttl_seconds: float,
                 clock: Callable[[], float] = time.monotonic):
        if max_entries < 1 or max_bytes < 1 or ttl_seconds <= 0:
            raise ValueError("an upload store needs max_entries >= 1, max_bytes >= 1 and ttl_seconds > 0")
        self.max_entries, self.max_bytes, self.ttl_seconds = max_entries, max_bytes, ttl_seconds
        self.clock = clock
        self.entries: OrderedDict[str, Kept] = OrderedDict()  # least recently used first
        self.bytes = 0
        self.evicted = 0  # entries dropped for room (not expired or revoked), for /api/health and tests

    def __len__(self) -> int:
        return len(self.entries)

    def put(self, kind: str, value: Any, fields: dict, size: int) -> str | None:
        """Keep ``value`` and return its new token, or None when it alone is over the byte budget."""
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {', '.join(KINDS)}; got {kind!r}")
        self.expire()
        if size > self.max_bytes:
            return None
        while self.entries and (len(self.entries) >= self.max_entries or self.bytes + size > self.max_bytes):
            self._drop(next(iter(self.entries)))
            self.evicted += 1
        token = secrets.token_urlsafe(16)
        self.entries[token] = Kept(kind, value, dict(fields), size, self.clock())
        self.bytes += size
        return token

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
        self.bytes -= self.entries.pop(token).size
