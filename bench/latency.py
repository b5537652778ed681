"""Latency of one trace over the websocket: from sending ``run`` to receiving ``done``, and bytes received.

Starts ``python -m server`` on a free loopback port (or uses ``--url``), warms it with one run,
then measures the default config and the largest one the app allows (LSTM, seq_len 2000,
hidden_size 256, 4 bidirectional layers, batch 1), the median over ``--repeats`` (each with a new
seed, so each is computed), and once more a repeated request, which the server's cache answers.
Targets: default under 50 ms, largest under 3 s.

Run: .venv/bin/python bench/latency.py [--repeats 5]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from load import open_socket, run_once, start_server  # noqa: E402

CASES = [
    ("default", {}, 0.050),
    (
        "largest",
        {"cell": "lstm", "seq_len": 2000, "hidden_size": 256, "num_layers": 4, "bidirectional": True, "batch_size": 1},
        3.0,
    ),
]


async def measure(url: str, repeats: int, timeout: float) -> bool:
    ok = True
    async with open_socket(url) as ws:
        number = 1
        await run_once(ws, {}, number, timeout)  # warm-up: the process's first trace pays one-off costs
        for name, config, target in CASES:
            seconds, server_ms = [], []
            for k in range(repeats):
                number += 1
                # A new seed each time: an identical request would be served from the server's cache.
                result = await run_once(ws, {**config, "seed": 100 + k}, number, timeout)
                if result.end["type"] != "done":
                    print(f"{name}: run ended with {result.end}")
                    return False
                seconds.append(result.seconds)
                server_ms.append(result.end["elapsed_ms"])
            median = statistics.median(seconds)
            verdict = "ok" if median < target else "OVER TARGET"
            print(
                f"{name:8s} median {median * 1000:8.1f} ms (target < {target * 1000:.0f} ms, {verdict}); "
                f"server compute+encode {statistics.median(server_ms):8.1f} ms; "
                f"{result.bytes / 1e6:.2f} MB in {result.frames} frames; "
                f"runs: {', '.join(f'{s * 1000:.0f}' for s in seconds)} ms"
            )
            ok &= median < target
            number += 1
            hit = await run_once(ws, {**config, "seed": 100 + repeats - 1}, number, timeout)  # the newest: still cached
            print(f"{'':8s} the same request again, from the cache: {hit.seconds * 1000:8.1f} ms")
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--url", help="use this running server (ws://host:port/ws) instead of starting one")
    parser.add_argument("--torch-threads", type=int, help="GFL_TORCH_THREADS for the server started here")
    parser.add_argument("--timeout", type=float, default=120, help="seconds one run may take")
    args = parser.parse_args()
    env = {"GFL_TORCH_THREADS": str(args.torch_threads)} if args.torch_threads else {}
    with contextlib.ExitStack() as stack:
        url = args.url or stack.enter_context(start_server(env=env))
        ok = asyncio.run(measure(url, args.repeats, args.timeout))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
