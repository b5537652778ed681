"""Attention: the exact trace and training against plain PyTorch loops of the same model.

Trace: for each attention (dot, additive) and cell (GRU, LSTM) on the reverse task (T=32, batch 32, hidden 64, one
thread like the server), the median time of ``trace_encoder_decoder`` (the alignment and the split gradient
included) over the median time of a plain forward and ``loss.backward()`` of the same model and batch: the ratio
(target ≤ 1.5).  The lag map, a backward pass per decoder step, is printed for information beside it, with the
price server/scheduling/cost.py puts on it up front.

Training: ``Trainer`` (every profiled step traced, the alignment read) over a plain loop of the same model, data,
optimizer and clipping, each for ``--steps`` steps on reverse (T=8, batch 32, hidden 32), both warmed first: the
ratio (target ≤ 1.5), and the last step's loss and accuracy.

Run: .venv/bin/python bench/attention.py [--repeats 7] [--steps 200]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dataclasses import replace  # noqa: E402

import torch  # noqa: E402
from train import plain_loop  # noqa: E402  the same plain PyTorch training loop as bench/train.py's

from engine import Config  # noqa: E402
from engine.data import task_loss  # noqa: E402
from engine.lab import Trainer, prepare  # noqa: E402
from engine.tracing import trace_encoder_decoder  # noqa: E402
from server.scheduling import cost  # noqa: E402

TRACE = {"arch": "encoder-decoder", "task": "reverse", "seq_len": 32, "batch_size": 32, "hidden_size": 64}
TRAIN = {"arch": "encoder-decoder", "task": "reverse", "seq_len": 8, "batch_size": 32, "hidden_size": 32,
         "optimizer": "adam", "lr": 0.01, "clip": "norm", "clip_at": 1.0}
CASES = [(attention, cell) for attention in ("dot", "additive") for cell in ("gru", "lstm")]


def median_seconds(fn, repeats: int) -> float:
    fn()  # warm
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def trace_ratios(repeats: int) -> list[float]:
    ratios = []
    for attention, cell in CASES:
        cfg = Config.from_dict({**TRACE, "attention": attention, "cell": cell})
        model, batch = prepare(cfg)

        def plain(model=model, batch=batch):
            model.zero_grad(set_to_none=True)
            task_loss(model(batch.x, batch.y), batch).backward()

        def traced(model=model, batch=batch):
            model.zero_grad(set_to_none=True)
            trace_encoder_decoder(model, batch)

        def mapped(model=model, batch=batch):
            model.zero_grad(set_to_none=True)
            trace_encoder_decoder(model, batch, lag_rows=64)

        p, t = median_seconds(plain, repeats), median_seconds(traced, repeats)
        m = median_seconds(mapped, max(1, repeats // 3))
        ratios.append(t / p)
        priced = cost.trace_seconds(cfg, lag=True)  # what the server's up-front budget charges for it
        print(f"trace {attention:8s} {cell}: plain {p * 1e3:7.1f} ms, traced {t * 1e3:7.1f} ms, ratio {t / p:.2f} "
              f"(target ≤ 1.5); with the lag map of {cfg.seq_len} rows {m * 1e3:.0f} ms ({m / p:.1f}×), priced "
              f"{priced * 1e3:.0f} ms (estimate / measured {priced / m:.2f})")
    return ratios


def training_ratios(steps: int) -> list[float]:
    ratios = []
    for attention in ("dot", "additive"):
        cfg = Config.from_dict({**TRAIN, "attention": attention, "cell": "gru", "steps": steps})
        # Warm both sides first: a process's first optimizer imports torch._dynamo (seconds, more without cached
        # bytecode), which a long-running server pays once, not per training.
        Trainer(replace(cfg, steps=2)).run()
        plain_loop(replace(cfg, steps=2))
        t0 = time.perf_counter()
        trainer = Trainer(cfg)
        trainer.run()
        app = time.perf_counter() - t0
        plain = plain_loop(cfg)
        ratios.append(app / plain)
        last = trainer.last
        print(f"train {attention:8s} gru, {steps} steps: Trainer {app:.1f} s, plain loop {plain:.1f} s, ratio "
              f"{app / plain:.2f} (target ≤ 1.5); last loss {last.loss:.3f}, accuracy {last.metric:.2f}")
    return ratios


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--steps", type=int, default=200)
    args = parser.parse_args()
    torch.set_num_threads(1)
    worst = max(trace_ratios(args.repeats) + training_ratios(args.steps))
    print(f"worst ratio {worst:.2f} (target ≤ 1.5)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
