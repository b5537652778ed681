"""The trace websocket, ``/ws``: the protocol is in docs/protocol.md."""

from __future__ import annotations

from fastapi import APIRouter, WebSocket, status

from server.guard import origin_allowed
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


class SocketFastPath:
    """ASGI middleware: ``/ws`` handshakes go straight to :func:`trace_socket`.

    A room opens a hundred sockets at once, and the framework's per-connection layers (exception
    wrappers, route matching, endpoint wrapping) cost more than the handshake itself; the socket
    needs none of them: it answers its own errors on the wire.  The route above stays registered,
    so the app's routes and documents still list it.
    """

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] == "websocket" and scope["path"] == "/ws":
            await trace_socket(WebSocket(scope, receive, send))
        else:
            await self.app(scope, receive, send)
