"""A real server (``python -m server``) bounds what one client address can hold, and for how long.

Each test speaks from its own loopback address (127.0.0.0/8 all reaches the server on 127.0.0.1), so
the per-address counts of one test never touch another's, and "another client" is another address.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import selectors
import socket
import time

import pytest

from tests.e2e.harness import server_process
from tests.server.ws_helpers import SMALL

websockets_sync = pytest.importorskip("websockets.sync.client")

CAP = 6  # connections per client address
HEADER_S = 1.0  # seconds for a request's headers
HANDSHAKE = (
    "GET /ws HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
)


@pytest.fixture(scope="module")
def port():
    env = {"GFL_MAX_CONNECTIONS_PER_CLIENT": str(CAP), "GFL_HEADER_SECONDS": str(HEADER_S),
           "GFL_KEEP_ALIVE_SECONDS": "1"}  # fmt: skip
    with server_process(env=env) as (base, _):
        yield int(base.rsplit(":", 1)[1])


def connect_from(address: str, port: int) -> socket.socket:
    sock = socket.socket()
    sock.bind((address, 0))
    sock.connect(("127.0.0.1", port))
    return sock


def read_until_closed(sock: socket.socket, timeout: float = 30.0) -> bytes:
    """Everything the server sends until it closes the connection (fails after ``timeout``: a hang)."""
    sock.settimeout(timeout)
    out = b""
    while chunk := sock.recv(65536):
        out += chunk
    return out


def served(address: str, port: int) -> None:
    """A client at ``address`` gets an answer over HTTP and a whole trace over the socket."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30, source_address=(address, 0))
    conn.request("GET", "/healthz")
    assert conn.getresponse().status == 200
    conn.close()
    with websockets_sync.connect(f"ws://127.0.0.1:{port}/ws", sock=connect_from(address, port)) as ws:
        ws.send(json.dumps({"type": "run", "config": SMALL}))
        while not (isinstance(m := ws.recv(timeout=60), str) and json.loads(m)["type"] == "done"):
            assert not isinstance(m, str) or json.loads(m)["type"] != "error", m


def test_slow_header_connections_are_answered_408_and_closed_while_others_are_served(port):
    # 600 connections from 100 addresses, each trickling its headers a byte at a time.
    addresses = [f"127.0.1.{i}" for i in range(1, 101)]
    socks = [connect_from(a, port) for a in addresses for _ in range(CAP)]
    for s in socks:
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
        s.setblocking(False)
    selector = selectors.DefaultSelector()
    for s in socks:
        selector.register(s, selectors.EVENT_READ)
    served("127.0.0.2", port)  # meanwhile another client is served, over HTTP and the socket
    received = {s: b"" for s in socks}
    still_open = set(socks)
    deadline = time.monotonic() + 60  # a hang guard; the server's own limit is HEADER_S
    while still_open:
        assert time.monotonic() < deadline, f"{len(still_open)} slow connections still open"
        ready = {key.fileobj for key, _ in selector.select(timeout=0.1)}  # a byte every 0.1 s while silent
        for sock in ready:
            try:
                chunk = sock.recv(65536)
            except ConnectionResetError:
                chunk = b""
            received[sock] += chunk
            if not chunk:
                selector.unregister(sock)
                still_open.discard(sock)
                sock.close()
        for sock in still_open - ready:
            try:
                sock.send(b"a")
            except (BlockingIOError, BrokenPipeError, ConnectionResetError):
                pass
    answers = {r.split(b"\r\n", 1)[0] for r in received.values()}
    assert answers == {b"HTTP/1.1 408 Request Timeout"}, answers
    served("127.0.0.2", port)  # and the server is still fine


def test_a_connection_that_never_speaks_and_an_idle_kept_alive_one_are_closed(port):
    silent = connect_from("127.0.0.3", port)
    assert read_until_closed(silent).startswith(b"HTTP/1.1 408 ")
    kept = http.client.HTTPConnection("127.0.0.1", port, timeout=30, source_address=("127.0.0.3", 0))
    kept.request("GET", "/healthz")
    response = kept.getresponse()
    assert response.status == 200 and response.getheader("connection") != "close"
    response.read()
    assert read_until_closed(kept.sock) == b""  # closed by the keep-alive limit, without a word


def test_connections_over_the_per_address_cap_are_refused_at_once_and_others_are_served(port):
    with contextlib.ExitStack() as stack:
        # The cap counts open sockets and HTTP connections alike: three traces' sockets, three waiting requests.
        sockets = [stack.enter_context(websockets_sync.connect(f"ws://127.0.0.1:{port}/ws",
                                                               sock=connect_from("127.0.0.4", port)))
                   for _ in range(CAP // 2)]  # fmt: skip
        waiting = [connect_from("127.0.0.4", port) for _ in range(CAP - CAP // 2)]
        for w in waiting:
            w.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")  # headers not finished: held open
        one_more = connect_from("127.0.0.4", port)
        one_more.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        answer = read_until_closed(one_more)
        assert answer.startswith(b"HTTP/1.1 503 ") and b"too many connections from your address" in answer
        handshake = connect_from("127.0.0.4", port)
        handshake.sendall(HANDSHAKE.format(host="127.0.0.1").encode())
        assert read_until_closed(handshake).startswith(b"HTTP/1.1 503 ")  # a socket is refused just the same
        served("127.0.0.5", port)
        for ws in sockets:
            ws.send(json.dumps({"type": "run", "config": SMALL}))  # the ones let in work as ever
            while not (isinstance(m := ws.recv(timeout=60), str) and json.loads(m)["type"] == "done"):
                pass
        # A closed socket gives its place back: the address is served again.
        sockets[0].close()
        deadline = time.monotonic() + 30
        while True:
            probe = connect_from("127.0.0.4", port)
            probe.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
            if read_until_closed(probe).startswith(b"HTTP/1.1 200 "):
                break
            assert time.monotonic() < deadline, "the closed socket's place was never given back"


def test_a_foreign_host_is_refused_on_http_and_the_socket_by_the_real_server(port):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30, source_address=("127.0.0.6", 0))
    conn.request("GET", "/", headers={"Host": "rebind.example"})
    response = conn.getresponse()
    assert response.status == 400 and b"--allow-host" in response.read()
    handshake = connect_from("127.0.0.6", port)
    handshake.sendall(HANDSHAKE.format(host=f"rebind.example:{port}").encode())
    assert read_until_closed(handshake).startswith(b"HTTP/1.1 400 ")  # refused before the socket opened
    served("127.0.0.6", port)
