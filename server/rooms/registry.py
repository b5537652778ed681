"""Rooms: a presenter's page drives, every follower's page mirrors it (docs/protocol.md, "Rooms").

A room is an unguessable id (what the follow link carries) and a secret (what only the presenter's page holds,
compared in constant time).  Each follow frame replaces the one before it: a follower holds at most one frame
waiting to be sent (latest wins), so a slow follower costs one frame, never a queue, and never delays another.
Rooms expire after ``room_seconds`` without a frame from the presenter and are bounded in number
(``max_rooms``); each server process holds at most ``max_room_followers`` followers of one room.  With a Redis
(``--cache``) the room lives there and its frames reach every replica by pub/sub (:mod:`server.rooms.relay`).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass, field

from server.rooms.messages import RoomError
from server.settings import Settings


def digest(secret: str) -> str:
    """What is stored of a secret: its SHA-256, so a copy of the store does not drive a room."""
    return hashlib.sha256(secret.encode()).hexdigest()


def secret_matches(stored: str | None, secret: str | None) -> bool:
    """Constant-time comparison: the time taken says nothing about how much of the secret was right."""
    return stored is not None and secret is not None and hmac.compare_digest(stored, digest(secret))


def closed_frame(room_id: str, reason: str) -> str:
    return json.dumps({"type": "closed", "room": room_id, "reason": reason})


class Follower:
    """One follower's socket as the room sees it: the newest frame not yet sent, and a wake-up."""

    def __init__(self) -> None:
        self.latest: str | None = None
        self.closing = False
        self._ready = asyncio.Event()

    def offer(self, frame: str, closing: bool = False) -> None:
        self.latest = frame
        self.closing = self.closing or closing
        self._ready.set()

    async def next(self) -> str:
        await self._ready.wait()
        self._ready.clear()
        frame, self.latest = self.latest, None
        return frame


@dataclass
class Room:
    id: str
    secret_digest: str | None  # None: the room lives in Redis, where its secret is checked
    expires_at: float
    followers: set[Follower] = field(default_factory=set)
    last: str | None = None  # the newest follow frame: what a follower joining now sees first
    seq: int = 0


class Rooms:
    """Every room this process knows; with ``relay`` (Redis) the rooms every replica shares."""

    def __init__(self, settings: Settings, relay=None, warm=None):
        self.settings = settings
        self.relay = relay
        self.warm = warm  # (follow frame text) -> None: start tracing its setting for this process's followers
        self.rooms: dict[str, Room] = {}
        self._sweeper: asyncio.Task | None = None

    # -- lifecycle --------------------------------------------------------------------------------------

    async def create(self) -> tuple[str, str]:
        """A new room: ``(id, secret)``; RoomError (field ``max_rooms``) when the bound is reached."""
        room_id, secret = secrets.token_urlsafe(16), secrets.token_urlsafe(32)
        if self.relay is not None:
            await self.relay.create(room_id, digest(secret))
            return room_id, secret
        self.sweep()
        if len(self.rooms) >= self.settings.max_rooms:
            raise RoomError(f"this server holds {len(self.rooms)} rooms, its most (max_rooms); "
                            "try again when one expires", "max_rooms")
        self.rooms[room_id] = Room(room_id, digest(secret), time.monotonic() + self.settings.room_seconds)
        self._watch()
        return room_id, secret

    async def check_presenter(self, room_id: str, secret: str) -> None:
        stored = await self.relay.secret_digest(room_id) if self.relay else self._live(room_id).secret_digest
        if not secret_matches(stored, secret):
            raise RoomError("this secret does not drive the room: only the presenter's page holds it", "secret")

    async def follow(self, room_id: str) -> Follower:
        """Join ``room_id`` as a follower; its newest frame is offered at once."""
        if self.relay is not None:
            last = await self.relay.join(room_id)  # RoomError when Redis has no such room
            room = self.rooms.get(room_id) or self.rooms.setdefault(
                room_id, Room(room_id, None, time.monotonic() + self.settings.room_seconds, last=last))
            self._watch()
        else:
            room = self._live(room_id)
        if len(room.followers) >= self.settings.max_room_followers:
            raise RoomError(f"the room has {len(room.followers)} followers on this server, its most "
                            "(max_room_followers)", "max_room_followers")
        follower = Follower()
        room.followers.add(follower)
        if room.last is not None:
            follower.offer(room.last)
        return follower

    def leave(self, room_id: str, follower: Follower) -> None:
        room = self.rooms.get(room_id)
        if room is not None:
            room.followers.discard(follower)
            if room.secret_digest is None and not room.followers:
                del self.rooms[room_id]  # a Redis room's local mirror lives only while it has followers here

    async def publish(self, room_id: str, state: dict) -> int:
        """The presenter's ``state`` (checked) to every follower; the room's expiry starts again."""
        if self.relay is not None:
            return await self.relay.publish(room_id, state)
        room = self._live(room_id)
        room.seq += 1
        room.expires_at = time.monotonic() + self.settings.room_seconds
        self.deliver(room_id, follow_frame(room_id, room.seq, state))
        return room.seq

    def deliver(self, room_id: str, frame: str) -> None:
        """A follow frame to this process's followers of ``room_id`` (the relay calls this for Redis frames)."""
        room = self.rooms.get(room_id)
        if room is None:
            return
        room.last = frame
        room.expires_at = time.monotonic() + self.settings.room_seconds
        for follower in room.followers:
            follower.offer(frame)
        if self.warm is not None and room.followers:
            self.warm(frame)

    # -- expiry -----------------------------------------------------------------------------------------

    def _live(self, room_id: str) -> Room:
        room = self.rooms.get(room_id)
        if room is None or room.expires_at <= time.monotonic():
            raise RoomError("no such room (it may have expired); ask the presenter for a new follow link", "room")
        return room

    def close(self, room: Room, reason: str) -> None:
        self.rooms.pop(room.id, None)
        for follower in room.followers:
            follower.offer(closed_frame(room.id, reason), closing=True)

    def sweep(self) -> None:
        now = time.monotonic()
        for room in [r for r in self.rooms.values() if r.expires_at <= now and r.secret_digest is not None]:
            self.close(room, "expired")

    def _watch(self) -> None:
        if self._sweeper is None or self._sweeper.done():
            self._sweeper = asyncio.get_running_loop().create_task(self._sweep_while_any())

    async def _sweep_while_any(self) -> None:
        """A few checks per ``room_seconds`` while rooms are held: expired ones close their followers."""
        while self.rooms:
            await asyncio.sleep(min(self.settings.room_seconds / 4, 30.0))
            self.sweep()
            if self.relay is not None:
                for room_id in await self.relay.gone([r.id for r in self.rooms.values() if r.secret_digest is None]):
                    if room_id in self.rooms:
                        self.close(self.rooms[room_id], "expired")

    def stats(self) -> dict[str, int]:
        return {"rooms": len(self.rooms), "followers": sum(len(r.followers) for r in self.rooms.values())}


def follow_frame(room_id: str, seq: int, state: dict) -> str:
    return json.dumps({"type": "follow", "room": room_id, "seq": seq, "state": state}, separators=(",", ":"))
