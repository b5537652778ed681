"""Where one slider move's time goes, stage by stage: the server's trace and encoding, the bytes, the wait for a slot,
the transfer and the page's own handling of the frames, and the paint.

    python bench/move_stages.py [--only default|big] [--moves 7]

In this process first (one torch thread, as the server's computations use): the trace of each setting
(``trace_config``) and its encoding into the socket's frames (``trace_units``), median of three, and the frames'
text and binary bytes.  Then in headless Chromium against a fresh ``python -m server`` of this tree: the gain slider
moves to values far apart (none a neighbour of the one before, so the server computes each unless its prefetch got
there first), and for each move the page's own clocks give

* ``first``: the move until the run's start frame arrives (the server sends a run's frames once it is encoded whole);
* ``server``: the trace and encoding as the server timed them (``done.elapsed_ms``); ``first - server`` is the wait
  for a computation slot and the socket;
* ``frames``: the start frame until the done frame (the transfer, and the page's handling in between), of which
  ``js``: the page's time inside the socket's message handler (parsing and storing the frames);
* ``paint``: the done frame until the views in sight show the run.

The machine is shared: the load average is printed with each move.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from bench.cdp import devtools_page  # noqa: E402
from bench.ui_latency import PAINTED, SCENARIOS  # noqa: E402
from engine import Config, parse_query, trace_config  # noqa: E402
from server.wire.frames import trace_units  # noqa: E402
from tests.e2e.harness import running_server  # noqa: E402

VALUES = ["2.00", "0.50", "1.50", "0.80", "2.50", "1.20", "0.30", "1.80", "0.60"]

# The page's time inside the socket's message handler, summed (reset before each move).
HOOK = """(() => { const s = window.gfl.socket.socket, receive = s.receive.bind(s); window.benchReceiveMs = 0;
  s.receive = (d) => { const t = performance.now(); receive(d); window.benchReceiveMs += performance.now() - t; };
})()"""

MOVE = """
((value) => new Promise((resolve) => {
  const before = window.gfl.lastPaint ? window.gfl.lastPaint.run : 0;
  const slider = document.querySelector('[name="gain"]');
  const onPaint = (e) => {
    if (e.detail.run <= before || !(e.detail.inSight ?? e.detail.complete)) return;
    window.removeEventListener('gfl:painted', onPaint);
    const tr = window.gfl.trace;
    resolve({ first: tr.createdAt - t0, server: tr.done.elapsed_ms, frames: tr.doneAt - tr.createdAt,
              js: window.benchReceiveMs, paint: e.detail.at - tr.doneAt });
  };
  window.addEventListener('gfl:painted', onPaint);
  window.benchReceiveMs = 0;
  const t0 = performance.now();
  slider.value = value;
  slider.dispatchEvent(new Event('input', { bubbles: true }));
}))(%s)
"""


def in_process(link: str) -> str:
    query = link.lstrip("/?")
    cfg = parse_query(query)[0] if query else Config()
    traced, encoded = [], []
    for _ in range(3):
        t0 = time.perf_counter()
        trace = trace_config(cfg)
        t1 = time.perf_counter()
        units = trace_units(trace, t0)
        traced.append(t1 - t0)
        encoded.append(time.perf_counter() - t1)
    text = sum(len(u.text or "") for u in units)
    data = sum(len(u.data or b"") for u in units)
    return (f"trace {statistics.median(traced) * 1000:.0f} ms, encoding {statistics.median(encoded) * 1000:.1f} ms; "
            f"{len(units)} messages, text {text / 1e6:.2f} MB, binary {data / 1e6:.2f} MB")  # fmt: skip


async def in_page(link: str, moves: int) -> None:
    with running_server() as base:
        async with devtools_page() as page:
            await page.call("Page.navigate", url=base + link)
            await page.wait_for(PAINTED, timeout=300)
            await page.evaluate(HOOK)
            for value in VALUES[:moves]:
                r = await page.evaluate(MOVE % json.dumps(value))
                r["wait"] = r["first"] - r["server"]
                stages = ", ".join(f"{k} {r[k]:.0f}" for k in ("first", "server", "wait", "frames", "js", "paint"))
                print(f"  gain -> {value}: {stages} ms (load average {os.getloadavg()[0]:.1f})")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--only", choices=("default", "big"))
    parser.add_argument("--moves", type=int, default=7)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    for key, (name, link, *_) in zip(("default", "big"), SCENARIOS, strict=True):
        if args.only in (None, key):
            print(f"{name}: in process, {in_process(link)} (load average {os.getloadavg()[0]:.1f})")
            asyncio.run(in_page(link, min(args.moves, len(VALUES))))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
