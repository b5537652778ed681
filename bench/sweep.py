"""A sweep against the separate requests it stands for, and the sweep lessons' cold and cached times.

Starts ``python -m server`` on a free loopback port (or uses ``--url``).  A 3-cell × 8-value trace sweep
(``POST /api/sweep``, cell ∈ {rnn, lstm, gru}, seq_len over 8 values) is timed against the 24 ``POST /api/trace``
requests of the same points, one after the other, in the same run: each repeat uses a new seed for both, so both
are computed (never the cache's), and the two alternate which goes first.  Target: the sweep takes at most 1.2× the
24 separate traces (it is the same 24 computations plus reading each document's numbers).  Then each sweep lesson's
sweep cold (on this fresh server) and again (every point from the cache).

Run: .venv/bin/python bench/sweep.py [--repeats 3]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import sys
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from load import start_server  # noqa: E402

from engine.lessons import LESSONS, lesson_config  # noqa: E402

CELLS = ["rnn", "lstm", "gru"]
LENGTHS = [10, 20, 30, 40, 60, 80, 120, 160]
TARGET = 1.2


def post(base: str, path: str, body: dict) -> float:
    """Seconds for one POST of ``body`` to its whole answer; raises on an error status."""
    request = urllib.request.Request(base + path, json.dumps(body).encode(), {"content-type": "application/json"})
    t0 = time.perf_counter()
    with urllib.request.urlopen(request, timeout=600) as r:
        r.read()
    return time.perf_counter() - t0


def separate(base: str, seed: int) -> float:
    return sum(post(base, "/api/trace", {"cell": c, "seq_len": t, "seed": seed}) for t in LENGTHS for c in CELLS)


def swept(base: str, seed: int) -> float:
    body = {"config": {"seed": seed}, "key": "seq_len", "values": LENGTHS, "over": {"cell": CELLS}, "seeds": [seed]}
    return post(base, "/api/sweep", body)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--url", help="use this running server (http://host:port) instead of starting one")
    args = parser.parse_args()
    with contextlib.ExitStack() as stack:
        base = args.url or stack.enter_context(start_server()).removesuffix("/ws").replace("ws://", "http://", 1)
        post(base, "/api/trace", {"seed": 999})  # warm-up: the process's first trace pays one-off costs
        ratios = []
        for k in range(args.repeats):
            seeds = (1000 + 2 * k, 1001 + 2 * k)
            if k % 2:
                one, many = swept(base, seeds[0]), separate(base, seeds[1])
            else:
                many, one = separate(base, seeds[1]), swept(base, seeds[0])
            ratios.append(one / many)
            print(f"repeat {k + 1}: sweep of 24 points {one:6.2f} s; 24 separate traces {many:6.2f} s; "
                  f"ratio {one / many:.3f}")
        again = swept(base, 1000)
        ratio = statistics.median(ratios)
        verdict = "ok" if ratio <= TARGET else "OVER TARGET"
        print(f"median ratio sweep / separate traces: {ratio:.3f} (target ≤ {TARGET}, {verdict}); the same sweep "
              f"again, from the cache: {again * 1000:.0f} ms")
        for lesson in LESSONS:
            if lesson.view != "sweep":
                continue
            body = lesson_config(lesson).to_dict()
            cold, cached = post(base, "/api/sweep", body), post(base, "/api/sweep", body)
            print(f"lesson {lesson.id}: {body['kind']} sweep of {lesson_config(lesson).size} points, cold "
                  f"{cold:6.2f} s, cached {cached * 1000:6.0f} ms")
    return 0 if ratio <= TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
