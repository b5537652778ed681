"""Finished results, kept under a byte budget and shared between sockets (and, with Redis, replicas).

Every result is deterministic (the same config gives the same numbers bit for bit), so a
recording is addressed by what determines it (:mod:`server.sharing.keys`) and never goes stale.

* :class:`MemoryCache`: in-process, least recently used first out, bounded by bytes.  A
  recording is stored once and handed to every socket that asks; nothing is copied per socket.
* :class:`RedisCache`: optional, shared by every server process pointed at the same Redis
  (``--cache redis://HOST:PORT/DB``).  Redis bounds its own memory (``maxmemory`` with an LRU
  policy); entries also expire after ``ttl_s``.  If Redis goes away, the server logs one line
  and carries on with the in-process cache, trying Redis again after ``retry_s``.  Its entries
  are checked whole before use (:mod:`server.sharing.entry`); a bad one is recomputed.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from dataclasses import dataclass

import anyio

from engine import Config
from server.sharing.entry import EntryError, max_entry_bytes, pack, read_entry
from server.wire import Recording

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


class RedisCache:
    """Recordings in a Redis shared by replicas; every failure degrades to 'not there'.

    An entry is read only up to the size its request could produce (:func:`max_entry_bytes`, asked
    of Redis before the entry is fetched), and used only if :func:`read_entry` finds it whole: off the
    event loop, within ``check_s``.  An entry that fails either is logged, deleted and recomputed
    (the caller then stores the good one): it never reaches a client or the in-process cache.
    """

    PREFIX = "gfl:rec:"

    def __init__(
        self, url: str, ttl_s: int = 7 * 24 * 3600, retry_s: float = 30.0, timeout_s: float = 2.0, check_s: float = 30.0
    ):
        import redis.asyncio as aioredis  # the optional 'redis' package, only when --cache asks for it

        self.url = url
        self.client = aioredis.Redis.from_url(url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s)
        self.ttl_s = ttl_s
        self.retry_s = retry_s
        self.check_s = check_s
        self.down_since: float | None = None
        self.errors = 0
        self.refused = 0  # entries found but not used: too big, not whole, or not this request's
        # Checking is CPU work on bytes anyone with Redis access wrote: at most one entry at a time.
        self.checking = anyio.CapacityLimiter(1)

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

    async def get(self, key: str, kind: str, config: Config) -> Recording | None:
        """The ``kind`` recording for ``config`` filed under ``key``, if Redis holds a whole one."""
        if not self.available:
            return None
        name, limit = self.PREFIX + key, max_entry_bytes(kind, config)
        try:
            async with self.client.pipeline(transaction=True) as pipe:  # one round trip, one moment
                exists, size = await pipe.exists(name).strlen(name).execute()
            # GETRANGE reads at most limit + 1 bytes, even if the entry grew since STRLEN.
            blob = await self.client.getrange(name, 0, limit) if exists and size <= limit else None
        except Exception as e:  # noqa: BLE001 - any failure of the shared cache means "not there"
            self._failed("get", e)
            return None
        self._ok()
        if not exists:
            return None
        if blob is None:
            return await self._refuse(key, f"{size} bytes, more than the {limit} this request can produce")
        try:
            with anyio.fail_after(self.check_s):
                return await anyio.to_thread.run_sync(
                    read_entry, blob, kind, config, limiter=self.checking, abandon_on_cancel=True
                )
        except EntryError as e:
            return await self._refuse(key, str(e))
        except TimeoutError:  # not known to be bad: left for the recomputed result to replace
            return await self._refuse(key, f"not checked within {self.check_s:g} s", delete=False)

    async def _refuse(self, key: str, why: str, delete: bool = True) -> None:
        """Log the bad entry once and delete it, so the recomputed result replaces it."""
        self.refused += 1
        log.warning("redis cache entry %s refused (%s); computing it again", key[:16], why)
        if not delete:
            return
        try:
            await self.client.delete(self.PREFIX + key)
        except Exception as e:  # noqa: BLE001
            self._failed("delete", e)

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
