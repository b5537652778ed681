"""What one client address may hold of the server's connections, and for how long before it says anything.

uvicorn reads a connection's request headers before the app sees anything, so these limits live
in the protocol classes ``python -m server`` hands uvicorn (``http=GuardedHttp, ws=GuardedWebSocket``):

* **Per-address cap.** At most ``max_connections_per_client`` connections from one client address
  are open at once in this process, HTTP and websocket alike (an upgraded connection stays counted
  until it closes).  One more is answered ``503`` with ``Connection: close`` at once, before its
  request is read; its output side is shut after the answer, so the client reads the answer and
  closes (a reset would lose it), and whatever it sends meanwhile is discarded.
* **Header deadline.** A request's headers must be complete within ``header_seconds`` of the
  connection opening, or of the previous answer on a kept-alive connection.  A client that sends
  nothing, or trickles headers a byte at a time, is answered ``408`` and closed.  A request being
  answered is never cut (a long computation is not a slow client); a socket is past its headers.
* Idle kept-alive connections are closed by uvicorn's own ``timeout_keep_alive``
  (``keep_alive_seconds``).

Limits are read once per process from the environment (:meth:`Settings.from_env`), as the app's are.
Behind a reverse proxy on the same machine every connection comes from the proxy's address: raise
the cap to what the proxy may open, and let the proxy limit its own clients.
"""

from __future__ import annotations

import asyncio
import functools
from collections import defaultdict

from uvicorn.protocols.http.auto import AutoHTTPProtocol
from uvicorn.protocols.websockets.auto import AutoWebSocketsProtocol

from server.settings import Settings

__all__ = ["GuardedHttp", "GuardedWebSocket"]


def _answer(status: str, text: str) -> bytes:
    """A whole HTTP/1.1 answer that closes the connection, written straight to the transport."""
    body = text.encode("ascii") + b"\n"
    head = f"HTTP/1.1 {status}\r\ncontent-type: text/plain; charset=utf-8\r\nconnection: close\r\n"
    return head.encode("ascii") + b"content-length: %d\r\n\r\n" % len(body) + body


_TOO_MANY = _answer("503 Service Unavailable", "too many connections from your address; close some and retry")
_TOO_SLOW = _answer("408 Request Timeout", "the request headers did not arrive in time")


@functools.cache
def limits() -> Settings:
    return Settings.from_env()


# Open transports per client address, in this process (one uvicorn server per process).
_open: defaultdict[str, set[asyncio.BaseTransport]] = defaultdict(set)


def open_connections(address: str) -> int:
    return len(_open.get(address, ()))


def _address(transport: asyncio.BaseTransport) -> str | None:
    peer = transport.get_extra_info("peername")
    return peer[0] if isinstance(peer, tuple) and peer else None  # None for a unix socket


def _release(transport: asyncio.BaseTransport) -> None:
    address = _address(transport)
    held = _open.get(address)
    if held is not None:
        held.discard(transport)
        if not held:
            del _open[address]


class GuardedHttp(AutoHTTPProtocol):
    """uvicorn's HTTP protocol with the per-address cap and the header deadline (see the module docstring)."""

    refused = False
    deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport) -> None:
        super().connection_made(transport)
        address = _address(transport)
        if address is not None:
            if len(_open[address]) >= limits().max_connections_per_client:
                self._refuse(transport)
                return
            _open[address].add(transport)
        self._arm_deadline()

    def _refuse(self, transport) -> None:
        self.refused = True
        transport.write(_TOO_MANY)
        if transport.can_write_eof():
            transport.write_eof()  # the answer, then end of stream: the client reads it, then closes
        # A client that never closes its side is cut off anyway.
        self.deadline = self.loop.call_later(limits().header_seconds, transport.close)

    def data_received(self, data: bytes) -> None:
        if not self.refused:  # a refused client's request is never read
            super().data_received(data)

    def eof_received(self):
        if self.refused:
            return None  # closes the transport
        return super().eof_received()

    def connection_lost(self, exc) -> None:
        self._disarm_deadline()
        if not self.refused:
            _release(self.transport)
        super().connection_lost(exc)

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing():
            self._arm_deadline()  # the next request's headers are due within the limit too

    def handle_websocket_upgrade(self, *args) -> None:
        self._disarm_deadline()  # headers complete; the socket's protocol takes over (and the count)
        super().handle_websocket_upgrade(*args)

    def _arm_deadline(self) -> None:
        self._disarm_deadline()
        self.deadline = self.loop.call_later(limits().header_seconds, self._headers_late, self.cycle)

    def _disarm_deadline(self) -> None:
        if self.deadline is not None:
            self.deadline.cancel()
            self.deadline = None

    def _headers_late(self, cycle) -> None:
        """Close unless a request arrived since the deadline was set, or one is being answered."""
        self.deadline = None
        transport = self.transport
        if transport.is_closing() or transport.get_protocol() is not self:
            return
        if self.cycle is not cycle or (cycle is not None and not cycle.response_complete):
            return
        transport.write(_TOO_SLOW)
        transport.close()


class GuardedWebSocket(AutoWebSocketsProtocol):
    """uvicorn's websocket protocol, releasing its connection's place in the per-address count when it closes."""

    def connection_made(self, transport) -> None:
        self.counted = transport  # counted by GuardedHttp, whose connection this upgrades
        super().connection_made(transport)

    def connection_lost(self, exc) -> None:
        _release(self.counted)
        super().connection_lost(exc)
