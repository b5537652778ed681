"""The trace websocket, ``/ws``: the protocol is in docs/protocol.md."""

from __future__ import annotations

from fastapi import APIRouter, WebSocket

from server.session import Session

router = APIRouter(tags=["socket"])


@router.websocket("/ws")
async def trace_socket(ws: WebSocket) -> None:
    await ws.accept()
    await Session(ws, ws.app.state.hub).serve()
