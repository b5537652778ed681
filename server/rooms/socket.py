"""Room routes: ``POST /api/rooms`` makes a room, ``/rooms/ws`` is its socket (docs/protocol.md, "Rooms").

The socket's first message joins: with the room's secret as its presenter, without it as a follower.  A
presenter's ``set`` messages become follow frames; a follower only receives, and anything it sends is answered
with an error naming ``secret`` (it cannot drive the room).  The socket stays usable after any error.
"""

from __future__ import annotations

import anyio
from fastapi import APIRouter, Request, WebSocket, WebSocketDisconnect, status

from server.guard import origin_allowed
from server.rooms.messages import RoomError, parse_room_message
from server.rooms.registry import Follower, Rooms
from server.wire import StrictJSONResponse, error_response

router = APIRouter(tags=["rooms"])
JOIN_SECONDS = 10.0  # a socket that has not joined by then is closed
NOT_PRESENTER = "a follower cannot drive the room: only the presenter's page holds its secret"


@router.post("/api/rooms", status_code=201)
async def create_room(request: Request):
    """A new room: its id (the follow link's), its secret (only the presenter's page keeps it), its idle expiry."""
    rooms: Rooms = request.app.state.rooms
    try:
        room_id, secret = await rooms.create()
    except RoomError as e:
        return error_response(503, e.message, e.field)
    settings = rooms.settings
    return StrictJSONResponse({"room": room_id, "secret": secret, "expires_after_seconds": settings.room_seconds,
                               "max_followers": settings.max_room_followers}, status_code=201)


@router.websocket("/rooms/ws")
async def room_socket(ws: WebSocket) -> None:
    rooms: Rooms = ws.app.state.rooms
    if not origin_allowed(ws, rooms.settings):
        await ws.close(code=status.WS_1008_POLICY_VIOLATION)
        return
    await ws.accept()
    try:
        join = await _join(ws, rooms)
        if join is None:
            return
        if join["secret"] is not None:
            await _present(ws, rooms, join["room"])
        else:
            await _follow(ws, rooms, join["room"])
    except WebSocketDisconnect:
        pass


async def _receive(ws: WebSocket, rooms: Rooms) -> dict | None:
    """The next message, checked; an error frame (and None) for a bad one."""
    message = await ws.receive()
    if message["type"] == "websocket.disconnect":
        raise WebSocketDisconnect(message.get("code", 1000))
    try:
        return parse_room_message(message.get("text") or message.get("bytes") or b"", rooms.settings.room_message_bytes)
    except RoomError as e:
        await ws.send_json(e.frame())
        return None


async def _join(ws: WebSocket, rooms: Rooms) -> dict | None:
    with anyio.move_on_after(JOIN_SECONDS):
        while True:
            message = await _receive(ws, rooms)
            if message is None:
                continue
            if message["type"] != "join":
                await ws.send_json(RoomError("join a room first: {\"type\": \"join\", \"room\": ...}", "type").frame())
                continue
            try:
                if message["secret"] is not None:
                    await rooms.check_presenter(message["room"], message["secret"])
                return message
            except RoomError as e:
                await ws.send_json(e.frame())
    await ws.close(code=status.WS_1008_POLICY_VIOLATION, reason="no join")
    return None


async def _present(ws: WebSocket, rooms: Rooms, room_id: str) -> None:
    await ws.send_json({"type": "joined", "room": room_id, "role": "presenter"})
    while True:
        message = await _receive(ws, rooms)
        if message is None:
            continue
        try:
            if message["type"] != "set":
                raise RoomError("this socket presents its room already; send set messages", "type")
            seq = await rooms.publish(room_id, message["state"])
        except RoomError as e:
            await ws.send_json(e.frame())
            if e.field == "room":  # the room expired: nothing left to present to
                await ws.close(code=status.WS_1000_NORMAL_CLOSURE, reason="room expired")
                return
            continue
        await ws.send_json({"type": "sent", "seq": seq})


async def _follow(ws: WebSocket, rooms: Rooms, room_id: str) -> None:
    try:
        follower = await rooms.follow(room_id)
    except RoomError as e:
        await ws.send_json(e.frame())
        await ws.close(code=status.WS_1008_POLICY_VIOLATION, reason=e.field or "room")
        return
    try:
        await ws.send_json({"type": "joined", "room": room_id, "role": "follower"})
        async with anyio.create_task_group() as group:
            group.start_soon(_send_frames, ws, follower, rooms.settings.stall_seconds, group.cancel_scope)
            await _refuse_messages(ws, rooms)
            group.cancel_scope.cancel()
    finally:
        rooms.leave(room_id, follower)


async def _refuse_messages(ws: WebSocket, rooms: Rooms) -> None:
    """Whatever a follower sends is refused (it holds no secret), until it goes."""
    try:
        while True:
            if await _receive(ws, rooms) is not None:
                await ws.send_json(RoomError(NOT_PRESENTER, "secret").frame())
    except WebSocketDisconnect:
        return


async def _send_frames(ws: WebSocket, follower: Follower, stall_seconds: float, scope) -> None:
    """Each newest frame in turn; a follower whose frame does not drain within ``stall_seconds`` is closed."""
    while True:
        frame = await follower.next()
        with anyio.move_on_after(stall_seconds) as timer:
            await ws.send_text(frame)
        if timer.cancelled_caught or follower.closing:
            await ws.close(code=status.WS_1008_POLICY_VIOLATION if timer.cancelled_caught else 1000)
            scope.cancel()
            return
