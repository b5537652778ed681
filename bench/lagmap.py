"""The lag map's cost against the plain trace of the same setting, measured in the same run.

For each setting, what the server computes per request: the trace and its frames (``trace_units``), plain and
with the lag map (as many rows as the server takes for that setting, ``engine.tracing.lagmap.rows_for``).  Both are
timed in turn, several times, with one torch thread (as a server slot has); the ratio of the medians is printed.
Settings: the default size many-to-many (target: all rows within 3× the plain trace), the LSTM lesson's setting,
every lab lesson's own link, and the largest setting the app allows, as a many-to-many task (its rows are fewer;
it must stay within the server's queue budget, GFL_MAX_QUEUED_SECONDS, 60 s by default).

Then trainings, what the server computes for a ``train`` message: every step and its frames (with the map: each
profiled step's lag frame too), then the trained model's trace; with the map against without, in turn, same setting.
Settings: the default size many-to-many for 200 steps (profiled every 2), and the copy lesson's link (800 steps).

Run: .venv/bin/python bench/lagmap.py [--repeats 7] [--skip-largest] [--skip-training]
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
from engine.lab import Trainer, trace_config, trace_trained  # noqa: E402
from engine.lessons import LESSONS, lesson_config  # noqa: E402
from engine.tracing import rows_for  # noqa: E402
from server.wire import trace_units  # noqa: E402
from server.wire.training_frames import step_units  # noqa: E402

LARGEST = {"cell": "lstm", "seq_len": 2000, "hidden_size": 256, "num_layers": 4, "bidirectional": True,
           "batch_size": 1, "arch": "many-to-many", "task": "sine"}


def request_seconds(cfg: Config, rows: int) -> float:
    started = time.perf_counter()
    trace_units(trace_config(cfg, lag_rows=rows), started)
    return time.perf_counter() - started


def training_seconds(cfg: Config, rows: int) -> float:
    """A training as the server computes it: the steps and their units, then the trained model's trace."""
    started = time.perf_counter()
    trainer = Trainer(cfg, lag_rows=rows)
    for report in trainer.steps():
        step_units(report, cfg.steps)
    trace_units(trace_trained(trainer.model, cfg, lag_rows=rows), started)
    return time.perf_counter() - started


def measure(name: str, cfg: Config, repeats: int, target: float | None = None, seconds=request_seconds) -> None:
    rows = rows_for(cfg.trace_cells)
    seconds(cfg, 0), seconds(cfg, rows)  # warm: weight figures, allocator, kernels
    plain, lag = [], []
    for _ in range(repeats):  # in turn, so a change in the machine's speed hits both alike
        plain.append(seconds(cfg, 0))
        lag.append(seconds(cfg, rows))
    p, q = statistics.median(plain), statistics.median(lag)
    outputs = len(trace_config(cfg, lag_rows=rows).output_steps)
    verdict = "" if target is None else f"  (target ≤ {target:.1f}×: {'met' if q / p <= target else 'NOT met'})"
    print(f"{name:38s} rows {outputs:3d}  plain {p * 1e3:9.1f} ms  with the map {q * 1e3:9.1f} ms  "
          f"ratio {q / p:5.2f}×{verdict}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--skip-largest", action="store_true")
    parser.add_argument("--skip-training", action="store_true")
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
    if not args.skip_training:
        repeats = max(1, args.repeats // 3)
        training = Config.from_dict({"arch": "many-to-many", "steps": 200})
        measure("training, default size, 200 steps", training, repeats, seconds=training_seconds)
        copy = next(lesson for lesson in LESSONS if lesson.id == "copy-before-and-after-training")
        measure("training, the copy lesson", lesson_config(copy), repeats, seconds=training_seconds)


if __name__ == "__main__":
    main()
