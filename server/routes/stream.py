"""The trace websocket, ``/ws``: the protocol is in docs/protocol.md."""

from __future__ import annotations

from fastapi import APIRouter, WebSocket, status

from server.security import origin_allowed
from server.session import Session

router = APIRouter(tags=["socket"])


@router.websocket("/ws")
async def trace_socket(ws: WebSocket) -> None:
    if not origin_allowed(ws, ws.app.state.hub.settings):
        # Closing before accept refuses the handshake (uvicorn answers it with HTTP 403).
        await ws.close(code=status.WS_1008_POLICY_VIOLATION)
        return
    await ws.accept()
    await Session(ws, ws.app.state.hub).serve()
