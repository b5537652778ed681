"""Live training: the classic adding-problem result, and the app's training time against plain PyTorch.

For each of LSTM (T=50), GRU (T=50) and a tanh RNN (T=100) on the adding problem (batch 32, hidden 32,
Adam lr 0.01, clip norm 1.0) it trains through the app's websocket and prints the mean loss of the last
100 steps against the 1/6 baseline: the gated cells should end far below it, the RNN near it.  For each
it also runs a plain PyTorch loop of the same size in this process (same model, data, clipping and
optimizer, one thread like the server) and prints app time / plain time (target ≤ 2).

Then the encoder-decoder copy task (LSTM, T=10, same batch, size and optimizer), with and without
``reverse_source``: the loss of the last 100 steps against the ln 8 baseline and the app/plain ratio
(target ≤ 1.5).  ``--only encoder-decoder`` (or ``adding``) runs one half.

Run: .venv/bin/python bench/train.py [--steps 2000] [--only adding|encoder-decoder]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402
from load import open_socket, start_server  # noqa: E402

from engine import Config  # noqa: E402
from engine.data import baseline, get_task, make_batch, task_loss  # noqa: E402
from engine.lab import OPTIMIZERS  # noqa: E402
from engine.models import build_model, data_generator  # noqa: E402

BASE = {
    "task": "adding",
    "batch_size": 32,
    "hidden_size": 32,
    "optimizer": "adam",
    "lr": 0.01,
    "clip": "norm",
    "clip_at": 1.0,
}
CASES = [("lstm", 50), ("gru", 50), ("rnn", 100)]
SEQ2SEQ = {**BASE, "task": "copy", "arch": "encoder-decoder", "cell": "lstm", "seq_len": 10}
SEQ2SEQ_CASES = [False, True]  # reverse_source


async def train_over_socket(url: str, config: dict, number: int) -> tuple[float, list[float], dict]:
    """Seconds from sending train to train_done, the streamed losses, and train_done."""
    losses = []
    async with open_socket(url) as ws:
        t0 = time.perf_counter()
        await ws.send(json.dumps({"type": "train", "config": config}))
        while True:
            message = await ws.recv()
            if isinstance(message, bytes):
                continue
            frame = json.loads(message)
            if frame["type"] == "train_step":
                losses.append(frame["loss"] if isinstance(frame["loss"], float) else float("nan"))
            elif frame["type"] == "train_done":
                return time.perf_counter() - t0, losses, frame
            elif frame["type"] in ("error", "cancelled"):
                raise RuntimeError(frame)


def plain_loop(cfg: Config) -> float:
    """The same training as a plain PyTorch loop; seconds."""
    torch.set_num_threads(1)
    t0 = time.perf_counter()
    task = get_task(cfg.task)
    model = build_model(cfg, task.input_size, task.output_size)
    opt = OPTIMIZERS[cfg.optimizer](model.parameters(), lr=cfg.lr)
    data = data_generator(cfg.seed)
    for _ in range(cfg.steps):
        batch = make_batch(cfg.task, cfg.arch, cfg.seq_len, cfg.batch_size, data)
        opt.zero_grad()
        pred = model(batch.x, batch.y) if cfg.arch == "encoder-decoder" else model(batch.x)
        task_loss(pred, batch).backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.clip_at)
        opt.step()
    return time.perf_counter() - t0


def encoder_decoder_cases(url: str, steps: int) -> list[float]:
    """The encoder-decoder copy task with and without reversing the source; returns the app/plain ratios."""
    base = baseline(SEQ2SEQ["task"], SEQ2SEQ["arch"], SEQ2SEQ["seq_len"])["loss"]
    print(f"encoder-decoder copy, LSTM, T=10, batch 32, hidden 32, Adam lr 0.01, clip norm 1.0, {steps} steps; "
          f"baseline ln 8 = {base:.3f}")
    return [measured_case(url, {**SEQ2SEQ, "reverse_source": reverse, "steps": steps}, 1,
                          f"reverse_source={str(reverse).lower():5s}", base, " (target ≤ 1.5)")
            for reverse in SEQ2SEQ_CASES]  # fmt: skip


def measured_case(url: str, config: dict, number: int, label: str, base: float, target: str = "") -> float:
    """Trains ``config`` over the socket (run ``number``) and in the plain loop, prints the line ``label`` starts,
    with the tail loss against the baseline loss ``base``, and returns the app/plain time ratio."""
    app_s, losses, done = asyncio.run(train_over_socket(url, config, number))
    plain_s = plain_loop(Config.from_dict(config))
    tail = statistics.mean(losses[-100:])
    print(f"{label}: loss (mean of last 100 steps) {tail:.4f} = {tail / base:.2f} × baseline; {done['message']}; "
          f"app {app_s:.1f} s over the socket, plain loop {plain_s:.1f} s, ratio {app_s / plain_s:.2f}{target}")
    return app_s / plain_s


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--only", choices=("adding", "encoder-decoder"))
    args = parser.parse_args()
    ratios = []
    with contextlib.ExitStack() as stack:
        url = stack.enter_context(start_server(env={"GFL_MAX_CONCURRENT": "1"}))
        if args.only != "adding":
            ratios += encoder_decoder_cases(url, args.steps)
        if args.only == "encoder-decoder":
            return 0
        print(f"adding problem, batch 32, hidden 32, Adam lr 0.01, clip norm 1.0, {args.steps} steps; "
              "baseline 1/6 = 0.167")
        for number, (cell, T) in enumerate(CASES, 1):
            config = {**BASE, "cell": cell, "seq_len": T, "steps": args.steps}
            ratios.append(measured_case(url, config, number, f"{cell:4s} T={T:3d}", 1 / 6))
    print(f"worst app/plain ratio {max(ratios):.2f} (target ≤ 2)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
