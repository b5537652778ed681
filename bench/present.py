"""A room following its presenter: from the presenter's change to each follower's repaint-ready frame.

Each follower does what a follower's page does: it receives the follow frame on its room socket, reads the
setting from the frame's query as a link would (engine.parse_query) and asks for that trace on its own /ws
socket; it is repaint-ready when the trace's `done` frame arrives.  The server's single-flight cache computes each
new setting once for the whole room.  The presenter makes CHANGES changes (each a new seed, so each is computed),
waiting for every follower to be ready before the next.  Figures: p50/p95 over every (follower, change) for
1, 100 and 300 followers of one room on one server, and 300 followers split over two replicas sharing one Redis
(the presenter on the first), each against 1 follower on one server measured in the same run.
Target: p95 <= 1 s at 300 followers.  The machine is shared: read the ratios, not the seconds.  What the servers
cost depends little on the machine's load: each line gives the servers' CPU milliseconds per change (their
processes' user + system time while changes were measured, every thread, the trace's computation included) and,
against 1 follower's, what each further follower adds: the fan-out's own cost.  The load average is printed
before and after.

Run: .venv/bin/python bench/present.py [--followers 1 100 300] [--changes 5]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sys
import time
import urllib.request
from pathlib import Path
from urllib.parse import parse_qsl

# The repository first: bench/engine.py must not shadow the engine package.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.append(str(Path(__file__).resolve().parent))

from load import open_socket, percentile  # noqa: E402

from engine.config import parse_query  # noqa: E402
from tests.e2e.harness import server_process  # noqa: E402
from tests.server.redis_helpers import redis_server  # noqa: E402

SETTING = "?v=1&cell=lstm&seq_len=40&hidden_size=16&batch_size=4"
ENV = {"GFL_MAX_CONNECTIONS_PER_CLIENT": "100000"}  # every simulated page connects from 127.0.0.1
# The bench's own CPU seconds and wall seconds while changes were measured: its simulated pages share the cores
# with the servers, which is part of what the figures say.
cpu_wall = [0.0, 0.0]
_seed = iter(range(1000, 10**6))  # every change of the whole run a new seed: each is computed once, then shared


def server_cpu(procs) -> float:
    """The CPU seconds (user + system, every thread) the server processes ``procs`` have used so far (Linux)."""
    total = 0.0
    for proc in procs:
        with open(f"/proc/{proc.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime: fields 14 and 15
    return total


def load_average() -> str:
    return "load average " + " ".join(f"{x:.2f}" for x in os.getloadavg()) + " (1, 5, 15 min)"


def ws_url(base: str, path: str) -> str:
    return base.replace("http://", "ws://", 1) + path


def new_room(base: str) -> dict:
    with urllib.request.urlopen(urllib.request.Request(base + "/api/rooms", method="POST"), timeout=30) as r:
        return json.loads(r.read())


class Follower:
    """A follower's page: its room socket and its trace socket; `ready[seq]` when that frame's trace is here."""

    def __init__(self, room: dict, base: str):
        self.room, self.base, self.ready, self.got = room, base, {}, {}

    async def run(self, joined: asyncio.Event, counts: dict, all_ready: dict) -> None:
        async with open_socket(ws_url(self.base, "/rooms/ws")) as room_ws, open_socket(ws_url(self.base, "/ws")) as ws:
            await room_ws.send(json.dumps({"type": "join", "room": self.room["room"]}))
            assert json.loads(await room_ws.recv())["type"] == "joined"
            joined.set()
            async for message in room_ws:
                frame = json.loads(message)
                if frame["type"] != "follow":
                    return
                self.got[frame["seq"]] = time.perf_counter()
                config, _ = parse_query(dict(parse_qsl(frame["state"]["query"][1:])))
                await ws.send(json.dumps({"type": "run", "config": config.to_dict()}))
                while True:  # this socket's requests never overlap: the presenter waits for everyone
                    reply = await ws.recv()
                    # Frames put "run" and "type" first: a binary frame or a forward/backward one is not the end.
                    if isinstance(reply, str) and reply[:40].find('"type":"done"') > 0:
                        break
                    if isinstance(reply, str) and any(f'"type":"{t}"' in reply[:40] for t in ("error", "cancelled")):
                        raise RuntimeError(reply[:300])
                self.ready[frame["seq"]] = time.perf_counter()
                counts[frame["seq"]] = counts.get(frame["seq"], 0) + 1
                if counts[frame["seq"]] == all_ready["n"]:
                    all_ready["event"].set()


async def room_latencies(bases: list[str], followers: int, changes: int, procs=()) -> tuple[list, list, float]:
    """Seconds from each change to each follower's ready frame, and to its follow frame's arrival; followers
    spread over ``bases`` in turn; and the CPU seconds the servers ``procs`` used while changes were measured."""
    room = new_room(bases[0])
    pages = [Follower(room, bases[i % len(bases)]) for i in range(followers)]
    counts, all_ready = {}, {"n": followers, "event": asyncio.Event()}
    joined = [asyncio.Event() for _ in pages]
    tasks = [asyncio.create_task(p.run(j, counts, all_ready)) for p, j in zip(pages, joined)]
    sent = {}
    async with open_socket(ws_url(bases[0], "/rooms/ws")) as presenter:
        await presenter.send(json.dumps({"type": "join", "room": room["room"], "secret": room["secret"]}))
        assert json.loads(await presenter.recv())["type"] == "joined"
        await asyncio.wait_for(asyncio.gather(*(j.wait() for j in joined)), 120)
        cpu0, wall0, server0 = time.process_time(), time.perf_counter(), 0.0
        for change in range(changes + 1):  # the first warms the room up (imports, first compute) and is not counted
            if change == 1:
                server0 = server_cpu(procs)
            all_ready["event"] = asyncio.Event()
            state = {"query": f"{SETTING}&seed={next(_seed)}", "step": 0, "playing": True, "lesson_step": 0,
                     "enlarged": None}
            t0 = time.perf_counter()
            await presenter.send(json.dumps({"type": "set", "state": state}))
            seq = json.loads(await presenter.recv())["seq"]
            if change:
                sent[seq] = t0
            await asyncio.wait_for(all_ready["event"].wait(), 300)
        server = server_cpu(procs) - server0
    cpu_wall[0] += time.process_time() - cpu0
    cpu_wall[1] += time.perf_counter() - wall0
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    return ([p.ready[seq] - t0 for p in pages for seq, t0 in sent.items()],
            [p.got[seq] - t0 for p in pages for seq, t0 in sent.items()], server)


def summary(name: str, measured: tuple[list, list, float], changes: int, base: tuple[float, float] | None) -> str:
    """One line: p50/p95 and the servers' CPU per change; against 1 follower's (``base``: its p95 and CPU per
    change), the p95's ratio and the CPU each further follower adds."""
    seconds, frames, server = measured
    p50, p95 = percentile(seconds, 50), percentile(seconds, 95)
    cpu = server * 1000 / changes
    followers = len(seconds) // changes
    extra = (f"  p95 ratio {p95 / base[0]:5.2f}x vs 1 follower, each further follower adds "
             f"{(cpu - base[1]) / (followers - 1):5.2f} ms of server CPU") if base else ""
    target = "  (target p95 <= 1 s: " + ("met" if p95 <= 1.0 else "MISSED") + ")" if "300" in name else ""
    return (f"{name:<34} n={len(seconds):5d}  p50 {p50 * 1000:7.1f} ms  p95 {p95 * 1000:7.1f} ms"
            f"  server CPU {cpu:6.1f} ms/change{extra}{target}"
            f"  [follow frame alone: p95 {percentile(frames, 95) * 1000:.1f} ms]")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--followers", type=int, nargs="+", default=[1, 100, 300])
    parser.add_argument("--changes", type=int, default=5)
    args = parser.parse_args()
    print("before:", load_average(), flush=True)
    with contextlib.ExitStack() as stack:
        url, _ = stack.enter_context(redis_server())
        one, proc = stack.enter_context(server_process(env=ENV))
        base = None
        for n in sorted(set([1, *args.followers])):
            measured = asyncio.run(room_latencies([one], n, args.changes, [proc]))
            print(summary(f"{n} follower(s), one server", measured, args.changes, None if n == 1 else base), flush=True)
            base = base or (percentile(measured[0], 95), measured[2] * 1000 / args.changes)
        env = {**ENV, "GFL_CACHE": url}
        a, proc_a = stack.enter_context(server_process(env=env))
        b, proc_b = stack.enter_context(server_process(env=env))
        n = max(args.followers)
        measured = asyncio.run(room_latencies([a, b], n, args.changes, [proc_a, proc_b]))
        print(summary(f"{n} followers, two replicas + Redis", measured, args.changes, base), flush=True)
    print("after:", load_average())
    print(f"the simulated pages used {cpu_wall[0]:.1f} s of CPU in {cpu_wall[1]:.1f} s of measuring "
          f"({os.cpu_count()} cores on this machine, shared with the servers)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
