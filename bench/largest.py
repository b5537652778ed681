"""The largest setting the server traces, through the socket, against a plain forward+backward of the same model.

    python bench/largest.py [--repeats N]

The server refuses a trace whose estimated time is over its budget (``GFL_MAX_TRACE_SECONDS``, 3 s by default;
server/scheduling/budgets.py), naming seq_len and the longest that fits.  The largest setting it serves is then the
largest model of the table at batch 1 (LSTM, T = 2000, H = 256, 4 layers, bidirectional).  For it, each repeat
interleaves: the seconds from sending a run on a fresh socket (a new seed: never cached) to its ``done``, and the
seconds of the plain ``nn.LSTM`` forward and backward of the same model and batch in this process, one torch thread as
the server's computations use.  Prints the medians and their ratio (target: the socket within 3 s, a plain
forward+backward ≈ 1 s, so a ratio ≤ 3), then what the server answers for the next larger settings.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import torch  # noqa: E402
from classroom import LARGEST, one_request  # noqa: E402
from load import open_socket  # noqa: E402

from engine import Config  # noqa: E402
from engine.lab import prepare  # noqa: E402
from server.scheduling import cost  # noqa: E402
from tests.e2e.harness import server_process  # noqa: E402

BIGGER = {"batch 2": {**LARGEST, "batch_size": 2},
          "encoder-decoder": {**LARGEST, "arch": "encoder-decoder", "task": "copy"}}  # fmt: skip


def plain_seconds(config: dict) -> float:
    torch.set_num_threads(1)
    model, batch = prepare(Config.from_dict(config))
    t0 = time.perf_counter()
    model.rnn(batch.x)[0].sum().backward()
    return time.perf_counter() - t0


async def refusal(url: str, config: dict) -> dict:
    async with open_socket(url) as ws:
        await ws.send(json.dumps({"type": "run", "config": config}))
        while True:
            frame = json.loads(await ws.recv())
            if frame["type"] in ("error", "done"):
                return frame


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    socket_s, plain_s = [], []
    with server_process() as (base, _):
        url = base.replace("http://", "ws://", 1) + "/ws"
        asyncio.run(one_request(url, "run", {"seed": 1}))  # warm-up
        for r in range(args.repeats):
            config = {**LARGEST, "seed": 7000 + r}
            socket_s.append(asyncio.run(one_request(url, "run", config)))
            plain_s.append(plain_seconds(config))
        refused = {name: asyncio.run(refusal(url, cfg)) for name, cfg in BIGGER.items()}
    s, p = statistics.median(socket_s), statistics.median(plain_s)
    estimate = cost.trace_seconds(Config.from_dict(LARGEST))
    print(f"largest served ({LARGEST}; estimated {estimate:.2f} s): through the socket {s:.2f} s, plain "
          f"forward+backward {p:.2f} s: ratio {s / p:.2f} (target <= 3: {'met' if s <= 3 * p else 'NOT met'}); "
          f"each a median of {args.repeats}")
    for name, frame in refused.items():
        said = f"refused, field {frame['field']}: {frame['message']}" if frame["type"] == "error" else "SERVED"
        print(f"  {name}: {said}")
    return 0 if s <= 3 * p and all(f["type"] == "error" for f in refused.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
