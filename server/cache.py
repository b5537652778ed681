"""Finished results, kept under a byte budget and shared between sockets (and, with Redis, replicas).

Every result is deterministic (the same config gives the same numbers bit for bit), so a
recording is addressed by what determines it (:mod:`server.keys`) and never goes stale.

* :class:`MemoryCache`: in-process, least recently used first out, bounded by bytes.  A
  recording is stored once and handed to every socket that asks; nothing is copied per socket.
* :class:`RedisCache`: optional, shared by every server process pointed at the same Redis
  (``--cache redis://HOST:PORT/DB``).  Redis bounds its own memory (``maxmemory`` with an LRU
  policy); entries also expire after ``ttl_s``.  If Redis goes away, the server logs one line
  and carries on with the in-process cache, trying Redis again after ``retry_s``.
"""

from __future__ import annotations

import logging
import struct
import time
from collections import OrderedDict
from dataclasses import dataclass

from server.recording import Recording, Unit

log = logging.getLogger(__name__)


@dataclass
class CacheStats:
    hits: int = 0  # results served from a cache (memory or Redis)
    redis_hits: int = 0  # of which from Redis
    misses: int = 0  # results that had to be computed
    shared: int = 0  # requests that joined a computation already in flight


class MemoryCache:
    """Recordings by key, at most ``budget`` bytes in all; the least recently used go first."""

    def __init__(self, budget: int):
        self.budget = budget
        self.entries: OrderedDict[str, Recording] = OrderedDict()
        self.bytes = 0
        self.evictions = 0

    def get(self, key: str) -> Recording | None:
        rec = self.entries.get(key)
        if rec is not None:
            self.entries.move_to_end(key)
        return rec

    def put(self, key: str, rec: Recording) -> bool:
        """Keep ``rec`` unless it alone is over the budget; evict the oldest to make room."""
        if rec.nbytes > self.budget:
            return False
        old = self.entries.pop(key, None)
        if old is not None:
            self.bytes -= old.nbytes
        self.entries[key] = rec
        self.bytes += rec.nbytes
        while self.bytes > self.budget:
            _, gone = self.entries.popitem(last=False)
            self.bytes -= gone.nbytes
            self.evictions += 1
        return True

    def __len__(self) -> int:
        return len(self.entries)


# -- Redis ---------------------------------------------------------------------------

_MAGIC = b"GFL1"
_TEXT, _DATA = 1, 2


def pack(rec: Recording) -> bytes:
    """A recording as one byte string: per unit a flags byte, then length-prefixed text and data."""
    parts = [_MAGIC]
    for u in rec.units:
        flags = (_TEXT if u.text is not None else 0) | (_DATA if u.data is not None else 0)
        parts.append(bytes([flags]))
        if u.text is not None:
            text = u.text.encode("utf-8")
            parts += [struct.pack("<I", len(text)), text]
        if u.data is not None:
            parts += [struct.pack("<I", len(u.data)), u.data]
    return b"".join(parts)


def unpack(blob: bytes) -> Recording:
    if not blob.startswith(_MAGIC):
        raise ValueError("not a recording")
    view, i, units = memoryview(blob), len(_MAGIC), []
    while i < len(blob):
        flags = blob[i]
        i += 1
        text = data = None
        if flags & _TEXT:
            (n,) = struct.unpack_from("<I", blob, i)
            text = bytes(view[i + 4 : i + 4 + n]).decode("utf-8")
            i += 4 + n
        if flags & _DATA:
            (n,) = struct.unpack_from("<I", blob, i)
            data = bytes(view[i + 4 : i + 4 + n])
            i += 4 + n
        units.append(Unit(text, data))
    return Recording.of(units)


class RedisCache:
    """Recordings in a Redis shared by replicas; every failure degrades to 'not there'."""

    PREFIX = "gfl:rec:"

    def __init__(self, url: str, ttl_s: int = 7 * 24 * 3600, retry_s: float = 30.0, timeout_s: float = 2.0):
        import redis.asyncio as aioredis  # the optional 'redis' package, only when --cache asks for it

        self.url = url
        self.client = aioredis.Redis.from_url(url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s)
        self.ttl_s = ttl_s
        self.retry_s = retry_s
        self.down_since: float | None = None
        self.errors = 0

    @property
    def available(self) -> bool:
        return self.down_since is None or time.monotonic() - self.down_since >= self.retry_s

    def _failed(self, what: str, error: Exception) -> None:
        self.errors += 1
        if self.down_since is None:
            log.warning("redis cache %s unavailable (%s: %s); using the in-process cache only", self.url, what, error)
        self.down_since = time.monotonic()

    def _ok(self) -> None:
        if self.down_since is not None:
            log.warning("redis cache %s is back", self.url)
        self.down_since = None

    async def get(self, key: str) -> Recording | None:
        if not self.available:
            return None
        try:
            blob = await self.client.get(self.PREFIX + key)
        except Exception as e:  # noqa: BLE001 - any failure of the shared cache means "not there"
            self._failed("get", e)
            return None
        self._ok()
        if blob is None:
            return None
        try:
            return unpack(blob)
        except (ValueError, struct.error, UnicodeDecodeError) as e:
            log.warning("redis cache entry %s is not a recording (%s); ignored", key, e)
            return None

    async def put(self, key: str, rec: Recording) -> None:
        if not self.available:
            return
        try:
            await self.client.set(self.PREFIX + key, pack(rec), ex=self.ttl_s)
        except Exception as e:  # noqa: BLE001
            self._failed("set", e)
            return
        self._ok()

    async def aclose(self) -> None:
        try:
            await self.client.aclose()
        except Exception:  # noqa: BLE001
            pass
