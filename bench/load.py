"""Load: N websocket clients on loopback, each running several traces, against a fresh uvicorn server.

Starts ``python -m server`` on a free 127.0.0.1 port (or uses ``--url``), opens ``--clients``
connections at once, and has each send ``--runs`` runs one after another (default config at
seq_len 100, a different seed each time).  A run's latency is from sending it to receiving its
``done``.  Prints p50/p95/max latency per run, throughput and the error count; the whole bench is
bounded by ``--deadline`` seconds and stops by itself.

Run: .venv/bin/python bench/load.py [--clients 24] [--runs 5] [--workers 1]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import statistics
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from websockets.asyncio.client import connect

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.e2e.harness import running_server  # noqa: E402


@contextlib.contextmanager
def start_server(workers: int = 1, env: dict[str, str] | None = None) -> Iterator[str]:
    """Run ``python -m server`` on a free loopback port; yields its ws:// URL; always stops it.

    Every simulated client connects from 127.0.0.1, so the per-address connection cap is lifted.
    """
    env = {"GFL_MAX_CONNECTIONS_PER_CLIENT": "100000", **(env or {})}
    with running_server(workers=workers, env=env) as base:
        yield base.replace("http://", "ws://", 1) + "/ws"


@dataclass
class RunResult:
    seconds: float
    bytes: int
    frames: int
    end: dict  # the done / error / cancelled frame


async def run_once(ws, config: dict, number: int, timeout: float) -> RunResult:
    """Send one run and read until its done (or error/cancelled) frame."""
    received = frames = 0
    t0 = time.perf_counter()
    await ws.send(json.dumps({"type": "run", "config": config}))
    async with asyncio.timeout(timeout):
        while True:
            message = await ws.recv()
            received += len(message)
            frames += 1
            if isinstance(message, str):
                frame = json.loads(message)
                if frame.get("run") == number and frame["type"] in ("done", "error", "cancelled"):
                    return RunResult(time.perf_counter() - t0, received, frames, frame)


def open_socket(url: str):
    # No compression, as the server offers none; frames of a large trace are tens of MB.
    return connect(url, max_size=None, compression=None, open_timeout=30, proxy=None)


async def client(url: str, runs: int, seq_len: int, index: int, timeout: float) -> tuple[list[float], int]:
    latencies, errors = [], 0
    try:
        async with open_socket(url) as ws:
            for k in range(1, runs + 1):
                try:
                    result = await run_once(ws, {"seq_len": seq_len, "seed": index * runs + k}, k, timeout)
                except TimeoutError:
                    errors += runs - k + 1  # the socket is out of step now: count the rest as failed
                    break
                if result.end["type"] == "done":
                    latencies.append(result.seconds)
                else:
                    errors += 1
    except OSError:
        errors += runs - len(latencies)
    return latencies, errors


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


async def load(url: str, clients: int, runs: int, seq_len: int, timeout: float) -> tuple[list[float], int, float]:
    t0 = time.perf_counter()
    results = await asyncio.gather(*(client(url, runs, seq_len, i, timeout) for i in range(clients)))
    wall = time.perf_counter() - t0
    latencies = [x for lat, _ in results for x in lat]
    return latencies, sum(e for _, e in results), wall


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=24)
    parser.add_argument("--runs", type=int, default=5, help="runs per client, one after another")
    parser.add_argument("--seq-len", type=int, default=100)
    parser.add_argument("--workers", type=int, default=1, help="uvicorn workers of the server started here")
    parser.add_argument("--url", help="use this running server (ws://host:port/ws) instead of starting one")
    parser.add_argument("--run-timeout", type=float, default=60, help="seconds one run may take")
    parser.add_argument("--deadline", type=float, default=300, help="seconds the whole bench may take")
    args = parser.parse_args()

    async def bounded(url: str):
        return await asyncio.wait_for(load(url, args.clients, args.runs, args.seq_len, args.run_timeout), args.deadline)

    with contextlib.ExitStack() as stack:
        url = args.url or stack.enter_context(start_server(args.workers))
        # One run first, not counted: a fresh process pays its one-off start-up cost on the first trace.
        asyncio.run(load(url, 1, 1, args.seq_len, args.run_timeout))
        try:
            latencies, errors, wall = asyncio.run(bounded(url))
        except TimeoutError:
            print(f"load: not finished within --deadline {args.deadline:g} s")
            return 1
    total = args.clients * args.runs
    print(
        f"{args.clients} clients x {args.runs} runs at seq_len {args.seq_len}, {args.workers} worker(s): "
        f"{len(latencies)}/{total} done, {errors} errors, {wall:.1f} s wall, {len(latencies) / wall:.1f} runs/s"
    )
    if latencies:
        ms = [x * 1000 for x in latencies]
        print(
            f"latency per run: p50 {percentile(ms, 50):.0f} ms, p95 {percentile(ms, 95):.0f} ms, "
            f"max {max(ms):.0f} ms, mean {statistics.fmean(ms):.0f} ms"
        )
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
