"""The server's CPU a socket when a room opens a cached link: in process, with no network and no clients.

    python bench/socket_cost.py [--baseline [REV]] [--rooms 10] [--clients 100] [--repeats 3]

bench/classroom.py times a room end to end, but its clients run on the server's cores and the kernel's loopback TCP
is in every figure.  Here a tree's app is served by uvicorn's own protocol classes (the ones ``python -m server``
hands uvicorn: server/guard/connections.py) over stub transports, in one process: each socket's handshake, its run
request (the LSTM lesson's link, computed once before timing) and its close arrive as the bytes a client sends; what
the server writes is counted, never parsed.  The process's CPU time over ``--rooms`` rooms of ``--clients`` sockets
opened at once, divided by the sockets, is everything the server's Python and C code spend on a socket apart from the
system calls.  With ``--baseline``, the commit REV (default: where this branch left main) is measured too, each tree
in a fresh process of its own, alternating, ``--repeats`` times each: the machine is shared, so compare the two in
one run, and read the lowest of each (the least disturbed).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import struct
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HANDSHAKE = (b"GET /ws HTTP/1.1\r\nHost: 127.0.0.1:8000\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
             b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")  # fmt: skip
MASK = b"\x01\x02\x03\x04"


def client_frame(opcode: int, payload: bytes) -> bytes:
    """A masked websocket frame, as a client sends it (payloads under 64 KB)."""
    n = len(payload)
    head = bytes([0x80 | opcode]) + (bytes([0x80 | n]) if n < 126 else bytes([0x80 | 126]) + struct.pack("!H", n))
    return head + MASK + bytes(b ^ MASK[i % 4] for i, b in enumerate(payload))


class StubTransport(asyncio.Transport):
    """What uvicorn's protocols write to: counts the bytes, notices the run's ``done`` and the close, and drops the
    protocol when the connection is lost, as uvloop's transports do."""

    def __init__(self, port: int):
        super().__init__()
        loop = asyncio.get_running_loop()
        self.port, self.protocol, self.written, self.closing = port, None, 0, False
        self.done, self.closed = loop.create_future(), loop.create_future()

    def get_extra_info(self, name, default=None):
        return {"peername": ("127.0.0.1", self.port), "sockname": ("127.0.0.1", 8000)}.get(name, default)

    def set_protocol(self, protocol) -> None:
        self.protocol = protocol

    def get_protocol(self):
        return self.protocol

    def is_closing(self) -> bool:
        return self.closing

    def write(self, data) -> None:
        self.written += len(data)
        if not self.done.done() and b'"type":"done"' in data[:64]:
            self.done.set_result(None)

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass

    def can_write_eof(self) -> bool:
        return True

    def write_eof(self) -> None:
        pass

    def close(self) -> None:
        if not self.closing:
            self.closing = True
            asyncio.get_running_loop().call_soon(self._lost)

    def _lost(self) -> None:
        self.protocol.connection_lost(None)
        self.protocol = None
        self.closed.set_result(None)


async def one_socket(serving, port: int, request: bytes) -> int:
    """Open a socket, ask for the run, read it to its ``done``, close; the bytes the server wrote."""
    from server.guard import GuardedHttp

    config, state, app_state = serving
    transport = StubTransport(port)
    http = GuardedHttp(config=config, server_state=state, app_state=app_state)
    transport.set_protocol(http)
    http.connection_made(transport)
    http.data_received(HANDSHAKE)  # upgrades: the transport's protocol is now the websocket's
    transport.protocol.data_received(request)
    await transport.done
    transport.protocol.data_received(client_frame(8, struct.pack("!H", 1000)))
    await transport.closed
    return transport.written


async def measure_here(rooms: int, clients: int) -> dict:
    """This process's tree: CPU milliseconds a socket over ``rooms`` rooms of ``clients``, after one warm-up room."""
    from uvicorn.config import Config
    from uvicorn.lifespan.on import LifespanOn
    from uvicorn.server import ServerState

    from engine.lessons import LESSONS
    from server.guard import GuardedHttp, GuardedWebSocket

    config = Config("server.app:app", http=GuardedHttp, ws=GuardedWebSocket, ws_per_message_deflate=False,
                    log_level="warning", lifespan="on")  # fmt: skip
    config.load()
    lifespan = LifespanOn(config)
    await lifespan.startup()
    serving = (config, ServerState(), lifespan.state)
    link = next(lesson for lesson in LESSONS if lesson.id == "lstm-cell-state").link
    request = client_frame(1, json.dumps({"type": "run", "config": {**link, "seed": 5}}).encode())
    written = await one_socket(serving, 1, request)  # computed and cached
    await asyncio.gather(*(one_socket(serving, 2 + i, request) for i in range(clients)))  # warm-up room
    cpu = time.process_time()
    for _ in range(rooms):
        await asyncio.gather(*(one_socket(serving, 2 + i, request) for i in range(clients)))
    ms = 1000 * (time.process_time() - cpu) / (rooms * clients)
    await lifespan.shutdown()
    return {"ms": ms, "bytes": written}


def measure_tree(root: Path, rooms: int, clients: int) -> dict:
    """CPU a socket of the tree at ``root``, in a fresh process whose imports are that tree's."""
    out = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--tree", str(root), "--rooms", str(rooms),
                          "--clients", str(clients)], cwd=root, capture_output=True, text=True,
                         env={**os.environ, "GFL_MAX_CONNECTIONS_PER_CLIENT": "100000"})  # fmt: skip
    if out.returncode != 0:
        raise RuntimeError(f"measuring {root} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def load() -> str:
    return "load average " + " ".join(f"{x:.1f}" for x in os.getloadavg())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", nargs="?", const="", metavar="REV", help="also measure commit REV")
    parser.add_argument("--rooms", type=int, default=10)
    parser.add_argument("--clients", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--tree", type=Path, help=argparse.SUPPRESS)  # the measuring process: one tree, JSON out
    args = parser.parse_args()
    if args.tree is not None:
        sys.path.insert(0, str(args.tree))
        import uvloop

        print(json.dumps(uvloop.run(measure_here(args.rooms, args.clients))))
        return 0
    sys.path.insert(0, str(ROOT))
    from bench.ui_latency import baseline_rev, tree_of

    baseline = None if args.baseline is None else args.baseline or baseline_rev()
    with tree_of(baseline) if baseline else contextlib.nullcontext() as old:
        trees = {f"baseline {baseline[:10]}": old} if baseline else {}
        trees["this tree"] = ROOT
        print(f"{args.rooms} rooms of {args.clients} sockets opening the LSTM lesson's cached link; {load()}")
        results: dict[str, list[dict]] = {name: [] for name in trees}
        for _ in range(args.repeats):
            for name, root in trees.items():
                results[name].append(measure_tree(root, args.rooms, args.clients))
    for name, runs in results.items():
        ms = [r["ms"] for r in runs]
        print(f"{name:22s} {min(ms):.3f} ms of CPU a socket at least, median {statistics.median(ms):.3f} "
              f"({', '.join(f'{m:.3f}' for m in ms)}; {runs[0]['bytes']} bytes written a socket)")  # fmt: skip
    print(f"{load()} at the end")
    return 0


if __name__ == "__main__":
    sys.exit(main())
