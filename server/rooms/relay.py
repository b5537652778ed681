"""Rooms that span replicas: the room in Redis, its frames by pub/sub (``--cache redis://…``).

Redis holds each room's secret digest (``gfl:room:<id>``, expiring ``room_seconds`` after the presenter's last
frame), its newest frame (``gfl:room:<id>:last``), its frame count, and the set of live rooms with their expiry
(``gfl:rooms``, which bounds their number across every replica).  A presenter's frame is published on
``gfl:roomcast:<id>``; each process listens on one pattern subscription and hands the frames to its own
followers.  What comes back from Redis is hostile like any client's bytes: checked before it is delivered.
"""

from __future__ import annotations

import asyncio
import logging
import time

from server.rooms.messages import RoomError, check_state, parse_json_object, token
from server.rooms.registry import follow_frame
from server.settings import Settings

log = logging.getLogger("gfl.rooms")
ROOM, ROOMS, CAST = "gfl:room:", "gfl:rooms", "gfl:roomcast:"
# A follow frame is the checked state (at most a 2 KB query) and a few keys.
MAX_FRAME_BYTES = 4096


class RedisRelay:
    def __init__(self, url: str, settings: Settings, deliver):
        import redis.asyncio as aioredis  # the optional 'redis' package, only with --cache

        self.client = aioredis.Redis.from_url(url, socket_connect_timeout=2.0)
        self.settings = settings
        self.deliver = deliver  # (room_id, frame text) -> None: this process's followers
        self._listener: asyncio.Task | None = None
        self._subscribed = asyncio.Event()  # set while the pattern subscription is live

    async def _call(self, what: str, make):
        """One Redis exchange; a failure becomes a RoomError the client can read."""
        try:
            return await make()
        except Exception as e:  # noqa: BLE001 - any Redis failure means the rooms are unavailable
            log.warning("redis rooms: %s failed (%s: %s)", what, type(e).__name__, e)
            raise RoomError("rooms are unavailable: the server cannot reach its Redis", None) from None

    async def create(self, room_id: str, secret_digest: str) -> None:
        ttl, now = self.settings.room_seconds, time.time()

        async def make():
            async with self.client.pipeline(transaction=True) as pipe:
                _, count = await pipe.zremrangebyscore(ROOMS, 0, now).zcard(ROOMS).execute()
            if count >= self.settings.max_rooms:
                return count
            async with self.client.pipeline(transaction=True) as pipe:
                await pipe.set(ROOM + room_id, secret_digest, px=int(ttl * 1000)).zadd(ROOMS, {room_id: now + ttl}) \
                    .execute()
            return None

        count = await self._call("create", make)
        if count is not None:
            raise RoomError(f"the servers hold {count} rooms, their most (max_rooms); try again when one expires",
                            "max_rooms")

    async def secret_digest(self, room_id: str) -> str | None:
        stored = await self._call("read", lambda: self.client.get(ROOM + room_id))
        return stored.decode("ascii", "replace") if stored is not None else None

    async def join(self, room_id: str) -> str | None:
        """The room's newest frame (None before the first); RoomError when Redis has no such room."""
        self._listen()
        try:  # a frame published before the subscription is live would pass this process by
            await asyncio.wait_for(self._subscribed.wait(), 5.0)
        except TimeoutError:
            raise RoomError("rooms are unavailable: the server cannot subscribe to its Redis", None) from None

        async def make():
            async with self.client.pipeline(transaction=True) as pipe:
                return await pipe.exists(ROOM + room_id).getrange(ROOM + room_id + ":last", 0, MAX_FRAME_BYTES) \
                    .execute()

        exists, last = await self._call("join", make)
        if not exists:
            raise RoomError("no such room (it may have expired); ask the presenter for a new follow link", "room")
        return self._checked(room_id, last) if last else None

    async def publish(self, room_id: str, state: dict) -> int:
        ttl_ms = int(self.settings.room_seconds * 1000)

        async def make():
            seq = await self.client.incr(ROOM + room_id + ":seq")
            frame = follow_frame(room_id, seq, state)
            async with self.client.pipeline(transaction=True) as pipe:
                pipe.pexpire(ROOM + room_id, ttl_ms).pexpire(ROOM + room_id + ":seq", ttl_ms)
                pipe.set(ROOM + room_id + ":last", frame, px=ttl_ms)
                pipe.zadd(ROOMS, {room_id: time.time() + self.settings.room_seconds})
                await pipe.publish(CAST + room_id, frame).execute()
            return seq

        return await self._call("publish", make)

    async def gone(self, room_ids: list[str]) -> list[str]:
        """Which of ``room_ids`` Redis no longer holds (expired); none when Redis cannot say."""
        if not room_ids:
            return []
        try:
            async with self.client.pipeline(transaction=False) as pipe:
                for room_id in room_ids:
                    pipe.exists(ROOM + room_id)
                held = await pipe.execute()
        except Exception:  # noqa: BLE001 - Redis down: keep the rooms until it can say
            return []
        return [r for r, h in zip(room_ids, held) if not h]

    # -- every replica's frames ---------------------------------------------------------------------

    def _listen(self) -> None:
        if self._listener is None or self._listener.done():
            self._listener = asyncio.get_running_loop().create_task(self._receive())

    async def _receive(self) -> None:
        """Deliver each published frame to this process's followers; reconnects after a failure."""
        while True:
            try:
                pubsub = self.client.pubsub(ignore_subscribe_messages=True)
                await pubsub.psubscribe(CAST + "*")
                self._subscribed.set()
                async for message in pubsub.listen():
                    if message.get("type") != "pmessage":
                        continue
                    room_id = message["channel"].decode("ascii", "replace")[len(CAST):]
                    frame = self._checked(room_id, message["data"])
                    if frame is not None:
                        self.deliver(room_id, frame)
            except asyncio.CancelledError:
                raise
            except Exception as e:  # noqa: BLE001 - Redis went away: wait, then subscribe again
                self._subscribed.clear()
                log.warning("redis rooms: the subscription dropped (%s: %s)", type(e).__name__, e)
                await asyncio.sleep(1.0)  # a retry interval, not a stand-in for a condition

    def _checked(self, room_id: str, data: bytes) -> str | None:
        """A frame from Redis, re-checked as a client's message would be; None (logged) when it is not one."""
        try:
            token(room_id, "room")
            frame = parse_json_object(data, MAX_FRAME_BYTES, "a frame from redis")
            seq = frame.get("seq")
            if frame.get("type") != "follow" or frame.get("room") != room_id or set(frame) != {
                    "type", "room", "seq", "state"} or isinstance(seq, bool) or not isinstance(seq, int) or seq < 1:
                raise RoomError("a frame from redis is not this room's follow frame")
            return follow_frame(room_id, seq, check_state(frame["state"]))
        except RoomError as e:
            log.warning("redis rooms: refused a frame for room %r: %s", room_id[:64], e.message)
            return None
