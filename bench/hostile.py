"""Hostile uploads against one real server: each figure against a healthy baseline measured in the same run.

For every hostile shape of issue 22 (tests/server/hostile.py), over the socket:
  refusal   time from sending the file to its error frame, against the time a healthy model is accepted;
  healthz   the slowest /healthz while four such uploads are in flight on four sockets, against /healthz idle;
  rss       the server's peak resident memory growth during those four uploads;
  back      seconds until the server's memory is back within 20 MB of where it started after the sockets close.
Targets: refusal <= 1 s; healthz <= 250 ms while parsing; rss growth <= 200 MB for any upload; back <= 10 s.

Run: .venv/bin/python bench/hostile.py [--only NAME ...]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import websockets  # noqa: E402

from tests.e2e.harness import server_process  # noqa: E402
from tests.server import hostile  # noqa: E402

SHAPES = {
    "pickle 2M deep (segfault)": ("model", lambda: hostile.deep_key_pt(2_000_000)),
    "pickle 100k deep": ("model", lambda: hostile.deep_key_pt(100_000)),
    "zip bomb 920 MB in 0.9 MB": ("model", lambda: hostile.zip_bomb_pt(920 * 2**20)),
    "zip bomb lying about size": ("model", lambda: hostile.zip_bomb_pt(400 * 2**20, declared=4096)),
    "state_dict 50k keys": ("model", lambda: hostile.many_keys_pt(50_000)),
    "NaN weights": ("model", lambda: hostile.nonfinite_pt()),
    "CSV 450k rows": ("series", lambda: hostile.rows_csv(450_000)),
    "CSV CR-only (accepted)": ("series", lambda: hostile.cr_only_csv(5000)),
    "CSV cell 130 KB": ("series", lambda: hostile.big_cell_csv(130_000)),
    "CSV header 900k chars": ("series", lambda: hostile.long_header_csv(900_000)),
    "CSV 450k columns": ("series", lambda: b"1," * 450_000 + b"1\n"),
    "CSV values 1e308": ("series", lambda: hostile.huge_values_csv(20_000)),
}


def rss(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        return next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmRSS:"))


def healthz_seconds(base: str) -> float:
    started = time.perf_counter()
    with urllib.request.urlopen(base + "/healthz", timeout=60) as r:
        r.read()
    return time.perf_counter() - started


async def upload_seconds(base: str, kind: str, data: bytes) -> tuple[float, dict]:
    """Open a socket, send the file, return (seconds to its answer, the answer)."""
    async with websockets.connect(base.replace("http", "ws", 1) + "/ws", max_size=None) as ws:
        started = time.perf_counter()
        await ws.send(json.dumps({"type": kind, "bytes": len(data)}))
        await ws.send(data)
        answer = json.loads(await asyncio.wait_for(ws.recv(), 60))
        return time.perf_counter() - started, answer


async def four_at_once(base: str, pid: int, kind: str, data: bytes) -> tuple[float, int]:
    """Four uploads in flight at once: (slowest /healthz meanwhile, peak RSS)."""
    pending = [asyncio.ensure_future(upload_seconds(base, kind, data)) for _ in range(4)]
    slowest, peak = 0.0, rss(pid)
    while not all(p.done() for p in pending):
        slowest = max(slowest, await asyncio.to_thread(healthz_seconds, base))
        peak = max(peak, rss(pid))
    for p in pending:
        p.result()
    return slowest, peak


def back_seconds(pid: int, start: int, limit: float = 10.0) -> float:
    started = time.perf_counter()
    while rss(pid) > start + 20 * 2**20:
        if time.perf_counter() - started > limit:
            return float("inf")
        time.sleep(0.1)  # condition-free: sampling the server's memory until it is back
    return time.perf_counter() - started


async def main(only: list[str] | None) -> None:
    with server_process() as (base, proc):
        pid = proc.pid
        healthy = hostile.saved(hostile.gru_state(hidden=64))
        for _ in range(3):  # warm: the parse worker, the first socket, torch in the worker
            await upload_seconds(base, "model", healthy)
        accept = statistics.median([(await upload_seconds(base, "model", healthy))[0] for _ in range(7)])
        idle = statistics.median([healthz_seconds(base) for _ in range(15)])
        print(f"baseline: healthy model accepted in {accept * 1000:.1f} ms, /healthz idle {idle * 1000:.1f} ms, "
              f"server RSS {rss(pid) / 2**20:.0f} MB")
        print(f"{'shape':30s} {'bytes':>9s} {'refusal':>9s} {'x accept':>9s} {'healthz':>9s} {'x idle':>8s} "
              f"{'rss +MB':>8s} {'back s':>7s}  answer")
        for name, (kind, make) in SHAPES.items():
            if only and not any(o.lower() in name.lower() for o in only):
                continue
            data = make()
            start = rss(pid)
            seconds, answer = await upload_seconds(base, kind, data)
            slowest, peak = await four_at_once(base, pid, kind, data)
            back = await asyncio.to_thread(back_seconds, pid, start)
            said = answer.get("message", answer["type"])[:60]
            print(f"{name:30s} {len(data):9,d} {seconds * 1000:7.0f}ms {seconds / accept:9.1f} "
                  f"{slowest * 1000:7.0f}ms {slowest / idle:8.1f} {(peak - start) / 2**20:8.1f} {back:7.1f}  {said}")
        assert proc.poll() is None, "the server died"
        with urllib.request.urlopen(base + "/healthz") as r:
            uploads = json.loads(r.read())["uploads"]
        print(f"server alive; RSS {rss(pid) / 2**20:.0f} MB; /healthz uploads: {json.dumps(uploads)}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", nargs="*", help="shapes whose name contains one of these words")
    asyncio.run(main(parser.parse_args().only))
