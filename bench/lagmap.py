"""The lag map's cost against the plain trace of the same setting, measured in the same run.

For each setting, what the server computes per request: the trace and its frames (``trace_units``), plain and
with the lag map (as many rows as the server takes for that setting, ``engine.tracing.lagmap.rows_for``).  Both are
timed in turn, several times, with one torch thread (as a server slot has); the ratio of the medians is printed.
Settings: the default size many-to-many (target: all rows within 3× the plain trace), the LSTM lesson's setting,
every lab lesson's own link, and the largest setting the app allows, as a many-to-many task (its rows are fewer;
it must stay within the server's queue budget, GFL_MAX_QUEUED_SECONDS, 60 s by default).

Run: .venv/bin/python bench/lagmap.py [--repeats 7] [--skip-largest]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from engine import Config  # noqa: E402
from engine.lab import trace_config  # noqa: E402
from engine.lessons import LESSONS, lesson_config  # noqa: E402
from engine.tracing import rows_for  # noqa: E402
from server.wire import trace_units  # noqa: E402

LARGEST = {"cell": "lstm", "seq_len": 2000, "hidden_size": 256, "num_layers": 4, "bidirectional": True,
           "batch_size": 1, "arch": "many-to-many", "task": "sine"}


def request_seconds(cfg: Config, rows: int) -> float:
    started = time.perf_counter()
    trace_units(trace_config(cfg, lag_rows=rows), started)
    return time.perf_counter() - started


def measure(name: str, cfg: Config, repeats: int, target: float | None = None) -> None:
    rows = rows_for(cfg.trace_cells)
    request_seconds(cfg, 0), request_seconds(cfg, rows)  # warm: weight figures, allocator, kernels
    plain, lag = [], []
    for _ in range(repeats):  # in turn, so a change in the machine's speed hits both alike
        plain.append(request_seconds(cfg, 0))
        lag.append(request_seconds(cfg, rows))
    p, q = statistics.median(plain), statistics.median(lag)
    outputs = len(trace_config(cfg, lag_rows=rows).output_steps)
    verdict = "" if target is None else f"  (target ≤ {target:.1f}×: {'met' if q / p <= target else 'NOT met'})"
    print(f"{name:34s} rows {outputs:3d}  plain {p * 1e3:9.1f} ms  with the map {q * 1e3:9.1f} ms  "
          f"ratio {q / p:5.2f}×{verdict}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--skip-largest", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(1)
    measure("default size, many-to-many", Config.from_dict({"arch": "many-to-many"}), args.repeats, 3.0)
    lstm = next(lesson for lesson in LESSONS if lesson.id == "lstm-cell-state")
    measure("LSTM lesson, many-to-many", Config.from_dict({**lesson_config(lstm).to_dict(), "arch": "many-to-many"}),
            args.repeats)
    for lesson in LESSONS:
        if lesson.view == "lab":
            measure(f"lesson {lesson.id}", lesson_config(lesson), args.repeats)
    if not args.skip_largest:
        measure("largest allowed, many-to-many", Config.from_dict(LARGEST), max(1, args.repeats // 3))


if __name__ == "__main__":
    main()
