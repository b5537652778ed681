"""A whole class on one server (one worker): each figure a ratio against a baseline measured in the same run.

(a) 100 clients open the same lesson link at once ("The LSTM: a protected lane"): p95 against one alone.
(b) 30 clients press Train on the same training lesson at once ("The GRU: two gates"): p95 against one alone.
    For (a) and (b), the median of three rooms against the median of nine lone clients for (a), three for (b) (a lone
    client's cold trace moves 4x between samples; a lone training costs seconds).  (a) also prints the server's
    CPU milliseconds per socket when the room opens a link already cached, and the clients' (this process's): the
    clients share this machine's cores with the server, so on a loaded machine the room's wall time is theirs too
    (they read each frame's type from its head, not its numbers, which a browser parses on a machine of its own).
(c) 24 clients with different small configs while 4 clients keep requesting the largest config (each time
    a new seed, so nothing is shared): the 24's p95 against the same 24 alone.
(d) Server memory added by 8 clients that request the largest config and never read, measured after the
    stall limit has closed them, against the memory one client adds by computing and reading one largest
    trace.
Targets: (a) <= 3x, (b) <= 1.5x, (c) <= 2x, (d) <= 1x.  A latency is from sending the request to
receiving its last frame (a run's `done`; for Train, the trained model's trace `done`).  Every scenario
uses seeds no earlier scenario used, so each starts with a cold cache.

Run: .venv/bin/python bench/classroom.py [--only a b c d] [--baseline [REV]]  (REV: by default where this branch left
main; its server is measured first, with these same clients)
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import re
import statistics
import sys
import time
import urllib.request
from pathlib import Path

import uvloop

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from load import open_socket, percentile  # noqa: E402

from bench.ui_latency import ROOT, baseline_rev, tree_of  # noqa: E402
from engine.lessons import LESSONS  # noqa: E402
from tests.e2e.harness import never_reading_socket, server_process  # noqa: E402

LARGEST = {"cell": "lstm", "seq_len": 2000, "hidden_size": 256, "num_layers": 4, "bidirectional": True,
           "batch_size": 1}  # fmt: skip
STALL_S = 5


def run(coroutine):
    """Run the clients on uvloop, the event loop the server runs on: the clients share the server's cores, and
    asyncio's own loop costs them more CPU a socket (a browser's sockets cost this machine nothing)."""
    return uvloop.run(coroutine)


def lesson_config(lesson_id: str) -> dict:
    return dict(next(lesson for lesson in LESSONS if lesson.id == lesson_id).link)


# A frame's type, read from its head: the server writes "run" then "type" first (server/wire/recording.py).  The
# clients share this machine's cores with the server, so a room of them parsing every frame's numbers (which a
# browser does on a machine of its own) would be timed as the server's.
TYPE_AT_HEAD = re.compile(r'^\{"run":(?:null|\d+),"type":"(\w+)"')


def frame_type(text: str) -> str:
    m = TYPE_AT_HEAD.match(text)
    return m.group(1) if m else json.loads(text)["type"]


async def one_request(url: str, kind: str, config: dict, timeout: float = 600) -> float:
    """Seconds from sending a run/train request on a fresh socket to its last frame."""
    async with open_socket(url) as ws:
        t0 = time.perf_counter()
        await ws.send(json.dumps({"type": kind, "config": config}))
        trained = kind != "train"
        async with asyncio.timeout(timeout):
            while True:
                message = await ws.recv()
                if isinstance(message, str):
                    kind_of = frame_type(message)
                    if kind_of in ("error", "cancelled"):
                        raise RuntimeError(f"request refused: {message[:500]}")
                    trained |= kind_of == "train_done"
                    if kind_of == "done" and trained:
                        return time.perf_counter() - t0


async def room(url: str, kind: str, config: dict, clients: int) -> list[float]:
    return await asyncio.gather(*(one_request(url, kind, config) for _ in range(clients)))


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def health(base: str) -> dict:
    with urllib.request.urlopen(base + "/healthz", timeout=10) as r:
        return json.loads(r.read())


def lesson_room(url: str, kind: str, lesson_id: str, clients: int, seed: int, repeats: int = 3,
                lone: int = 9) -> tuple[float, float]:  # fmt: skip
    """Median over ``repeats`` of the p95 seconds of ``clients`` asking for a lesson's setting at once, and the median
    of ``lone`` clients alone; every room and every lone client uses a seed of its own, so each starts cold.  The
    machine is shared: one sample of either swings by 2x (a lone client's cold trace by 4x), the median of several
    much less.  Lone clients are cheap, so there are more of them than rooms.  Each room follows its share of the lone
    clients, so the two see the same moments of the machine's load, which drifts over a run."""
    cfg = lesson_config(lesson_id)
    alone, rooms = [], []
    for r in range(repeats):
        alone += [run(room(url, kind, {**cfg, "seed": seed + 1000 + k}, 1))[0]
                  for k in range(r * lone // repeats, (r + 1) * lone // repeats)]  # fmt: skip
        rooms.append(percentile(run(room(url, kind, {**cfg, "seed": seed + r}, clients)), 95))
    return statistics.median(rooms), statistics.median(alone)


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds process ``pid`` has used."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cached_room_cpu(url: str, pid: int, lesson_id: str, clients: int, seed: int, rooms: int = 5) -> tuple[float, float]:
    """The server's CPU milliseconds per socket when ``clients`` open a cached link at once, ``rooms`` times, and this
    process's (the clients', all on this machine's cores too): what each socket costs apart from computing, on the
    loaded machine.  Several rooms: the kernel counts CPU time in 10 ms ticks, 0.1 ms a socket of one room."""
    cfg = {**lesson_config(lesson_id), "seed": seed}
    run(room(url, "run", cfg, 1))  # computed and cached
    server, here = cpu_seconds(pid), time.process_time()
    for _ in range(rooms):
        run(room(url, "run", cfg, clients))
    sockets = rooms * clients
    return 1000 * (cpu_seconds(pid) - server) / sockets, 1000 * (time.process_time() - here) / sockets


def scenario_a(url: str, pid: int) -> tuple[str, float, float]:
    p95, alone = lesson_room(url, "run", "lstm-cell-state", 100, 101)
    server_ms, client_ms = cached_room_cpu(url, pid, "lstm-cell-state", 100, 199)
    return (f"(a) 100 clients open the LSTM lesson link: p95 {p95 * 1000:.0f} ms, one alone {alone * 1000:.0f} ms; "
            f"with the answer cached, {server_ms:.2f} ms of server CPU and {client_ms:.2f} ms of the clients' a socket",
            p95 / alone, 3.0)  # fmt: skip


def scenario_b(url: str) -> tuple[str, float, float]:
    p95, alone = lesson_room(url, "train", "gru-gates", 30, 201, lone=3)  # a lone training costs seconds
    return (f"(b) 30 clients press Train on the GRU lesson: p95 {p95:.2f} s, one alone {alone:.2f} s",
            p95 / alone, 1.5)  # fmt: skip


async def small_clients(url: str, first_seed: int, clients: int = 24, runs: int = 10) -> list[float]:
    async def client(i: int) -> list[float]:
        cfg = {"seq_len": 100}
        return [await one_request(url, "run", {**cfg, "seed": first_seed + i * runs + k}) for k in range(runs)]

    return [t for times in await asyncio.gather(*(client(i) for i in range(clients))) for t in times]


async def with_big_clients(url: str, base: str, first_seed: int) -> tuple[list[float], int]:
    stop = asyncio.Event()
    big_done = 0

    async def big(i: int) -> None:
        nonlocal big_done
        seed = 10_000 + 100 * i
        while not stop.is_set():
            seed += 1
            await one_request(url, "run", {**LARGEST, "seed": seed})
            big_done += 1

    bigs = [asyncio.create_task(big(i)) for i in range(4)]
    while (await asyncio.to_thread(health, base))["computing"] < 1:  # a largest trace is computing first
        await asyncio.sleep(0.05)
    try:
        return await small_clients(url, first_seed), big_done
    finally:
        stop.set()
        for task in bigs:
            task.cancel()
        await asyncio.gather(*bigs, return_exceptions=True)


def scenario_c(url: str, base: str) -> tuple[str, float, float]:
    alone = run(small_clients(url, 3000))
    started = health(base)["computations"]
    mixed, big_done = run(with_big_clients(url, base, 4000))
    big_started = health(base)["computations"] - started - len(mixed)
    p_alone, p_mixed = percentile(alone, 95), percentile(mixed, 95)
    return (f"(c) 24 small clients beside 4 largest-config clients: p95 {p_mixed * 1000:.0f} ms, "
            f"alone {p_alone * 1000:.0f} ms ({big_started} largest traces computed or computing meanwhile, "
            f"{big_done} of them fully received)",
            p_mixed / p_alone, 2.0)  # fmt: skip


def scenario_d(base: str, url: str, pid: int) -> tuple[str, float, float]:
    before = rss_mb(pid)
    run(one_request(url, "run", {**LARGEST, "seed": 501}))
    one = rss_mb(pid) - before
    after_one = rss_mb(pid)
    socks = [never_reading_socket(base, {"type": "run", "config": {**LARGEST, "seed": 502}}) for _ in range(8)]
    deadline = time.monotonic() + 600
    while health(base)["stalled_closed"] < 8 or health(base)["sessions"] > 0:
        if time.monotonic() > deadline:
            raise RuntimeError(f"the stalled sockets were not closed: {health(base)}")
        time.sleep(0.5)
    eight = rss_mb(pid) - after_one
    for s in socks:
        s.close()
    return (f"(d) 8 never-reading clients of the largest config, after the {STALL_S} s stall limit: "
            f"+{eight:.0f} MB; one client computing and reading one: +{one:.0f} MB", eight / one, 1.0)  # fmt: skip


def measure(root: Path, only: list[str], label: str) -> list[bool]:
    """Run the scenarios ``only`` against a server of the tree at ``root``; print each figure; whether each is met."""
    results = []
    # A whole class from one loopback address: the per-address connection cap is lifted.
    env = {"GFL_STALL_SECONDS": str(STALL_S), "GFL_MAX_CONNECTIONS_PER_CLIENT": "100000"}
    with server_process(env=env, root=root) as (base, proc):
        url = base.replace("http://", "ws://", 1) + "/ws"
        run(room(url, "run", {"seed": 1}, 1))  # warm-up: a fresh process pays one-off costs
        for name in only:
            t0 = time.perf_counter()
            if name == "d":
                line, ratio, target = scenario_d(base, url, proc.pid)
            elif name == "c":
                line, ratio, target = scenario_c(url, base)
            elif name == "a":
                line, ratio, target = scenario_a(url, proc.pid)
            else:
                line, ratio, target = scenario_b(url)
            verdict = "met" if ratio <= target else "NOT met"
            print(f"{label}{line}\n    ratio {ratio:.2f} (target <= {target:g}: {verdict}; "
                  f"{time.perf_counter() - t0:.0f} s; {load()})")  # fmt: skip
            results.append(ratio <= target)
            sys.stdout.flush()
        cache = health(base)["cache"]
        print(f"{label}cache: {cache['hits']} hits, {cache['misses']} misses, {cache['shared']} shared flights, "
              f"{cache['bytes'] / 1e6:.0f} MB held in {cache['entries']} entries")  # fmt: skip
    return results


def load() -> str:
    return "load average " + " ".join(f"{x:.1f}" for x in os.getloadavg())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    # (d) first: its memory figures must not include what earlier scenarios left for the allocator to trim.
    parser.add_argument("--only", nargs="*", choices=list("abcd"), default=list("dabc"))
    parser.add_argument("--baseline", nargs="?", const="", metavar="REV",
                        help="first measure the server of commit REV (default: where this branch left main), "
                             "with these same clients")  # fmt: skip
    args = parser.parse_args()
    # The clients' own heap (torch, through the lesson table) frozen out of their collector, as the server's is: a
    # room's hundred sockets would otherwise trigger full collections of it in the process timing them.
    gc.collect()
    gc.freeze()
    if args.baseline is not None:
        rev = args.baseline or baseline_rev()
        with tree_of(rev) as old:
            measure(old, args.only, f"[baseline {rev[:10]}] ")
    return 0 if all(measure(ROOT, args.only, "[this tree] " if args.baseline is not None else "")) else 1


if __name__ == "__main__":
    sys.exit(main())
