"""Attention: the exact trace and training against plain PyTorch loops of the same model.

Trace: for each attention (dot, additive) and cell (GRU, LSTM) on the reverse task (T=32, batch 32, hidden 64, one
thread like the server), ``trace_encoder_decoder`` (the alignment and the split gradient included) against the plain
PyTorch loop that reads the same gradients: the model's own ``translate`` with its encoder and decoder stepped by
torch's own cell functions (``torch.gru_cell``, ``torch.lstm_cell``) on their own parameters, every state h_t (and
c_t) kept with ``retain_grad``, the encoder's output too (what it receives is the attention's part), the loss's
``backward()``, then ‖∂L/∂h_t‖ of every step, the attention's part and α read out as numpy: the parameter gradients,
the per-step gradients and the alignment the lab shows (not the gate activations, which the trace also gives).  A
stock fused module cannot give ∂L/∂h_t inside its recurrence, so that loop is how plain PyTorch gets them; its norms
are checked against the trace's before timing.  The ratio, trace over loop, has the target ≤ 1.5.  The bare
forward and ``loss.backward()`` of the fused model (no per-step gradient at all) is printed beside it, the floor.
Times are CPU seconds of this process (one thread), the three alternating, each setting warmed first, medians:
the time this process waits while others run on a shared machine counts for none of them (contention for caches
still slows all three alike).  The first call in this fresh process is
printed too (what a server pays once).  The lag map, a backward pass per decoder step, is printed for information,
with the price server/scheduling/cost.py puts on it up front.

Training: ``Trainer`` (every profiled step's per-step norms and alignment read, every other step at 200 steps) over
a plain loop of the same model, data, optimizer and clipping that reads no per-step gradient (the stricter
baseline), each for ``--steps`` steps on reverse (T=8, batch 32, hidden 32), both warmed first (a process's first
optimizer step imports torch._dynamo), then alternating ``--train-repeats`` times: the ratio of the median CPU
seconds (target ≤ 1.5), and the last step's loss and accuracy.

Cost (``--cost``): the server's up-front price (server/scheduling/cost.py) of what it computes for a request, the
trace and its frames (``trace_units``), plain and with the lag map, against the CPU seconds measured (medians of 3,
one thread), on the 20 settings its attention constants were fitted on; estimate / measured for each, and the range.

Run: .venv/bin/python bench/attention.py [--repeats 15] [--steps 200] [--train-repeats 3] [--cost]
"""

from __future__ import annotations

import argparse
import copy
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dataclasses import replace  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402
from train import plain_loop  # noqa: E402  the same plain PyTorch training loop as bench/train.py's

from engine import Config  # noqa: E402
from engine.data import task_loss  # noqa: E402
from engine.lab import Trainer, prepare, trace_config  # noqa: E402
from engine.models.network import teacher_inputs  # noqa: E402
from engine.tracing import rows_for, trace_encoder_decoder  # noqa: E402
from server.scheduling import cost  # noqa: E402
from server.wire import trace_units  # noqa: E402

TRACE = {"arch": "encoder-decoder", "task": "reverse", "seq_len": 32, "batch_size": 32, "hidden_size": 64}
TRAIN = {"arch": "encoder-decoder", "task": "reverse", "seq_len": 8, "batch_size": 32, "hidden_size": 32,
         "optimizer": "adam", "lr": 0.01, "clip": "norm", "clip_at": 1.0}
CASES = [(attention, cell) for attention in ("dot", "additive") for cell in ("gru", "lstm")]
# The cost fit's settings: attention, cell, T, H, N, layers, both ways, task.
PRICED = [("dot", "gru", 32, 64, 32, 1, False, "reverse"), ("dot", "lstm", 32, 64, 32, 1, False, "reverse"),
          ("additive", "gru", 32, 64, 32, 1, False, "reverse"), ("additive", "lstm", 32, 64, 32, 1, False, "reverse"),
          ("dot", "rnn", 16, 32, 16, 1, False, "translate"), ("additive", "rnn", 16, 32, 16, 1, False, "translate"),
          ("dot", "gru", 8, 32, 16, 1, False, "reverse"), ("additive", "gru", 8, 32, 16, 1, False, "reverse"),
          ("dot", "lstm", 64, 128, 16, 1, False, "copy"), ("additive", "lstm", 64, 128, 16, 1, False, "copy"),
          ("dot", "gru", 128, 64, 16, 1, False, "copy"), ("additive", "gru", 128, 64, 16, 1, False, "copy"),
          ("dot", "lstm", 32, 64, 16, 2, True, "reverse"), ("additive", "lstm", 32, 64, 16, 2, True, "reverse"),
          ("dot", "gru", 64, 256, 8, 1, False, "copy"), ("additive", "gru", 64, 256, 8, 1, False, "copy"),
          ("dot", "rnn", 128, 128, 32, 1, False, "copy"), ("additive", "rnn", 128, 128, 32, 1, False, "copy"),
          ("dot", "gru", 16, 16, 16, 1, False, "reverse"), ("additive", "lstm", 16, 16, 16, 1, False, "reverse")]
CELL_FNS = {"GRU": torch.gru_cell, "LSTM": torch.lstm_cell, "RNN_TANH": torch.rnn_tanh_cell,
            "RNN_RELU": torch.rnn_relu_cell}


class Stepped(nn.Module):
    """A stock one-direction ``nn.GRU``/``LSTM``/``RNN`` as a plain loop: torch's cell function a step at a time over
    the whole batch, on the module's own parameters, every state kept (``retain_grad``) in ``self.h[layer]`` (and
    ``self.c``) across calls; ``keep_output`` retains the output's gradient too."""

    def __init__(self, module: nn.RNNBase, keep_output: bool = False):
        super().__init__()
        assert not module.bidirectional and not module.batch_first and not getattr(module, "proj_size", 0)
        self.like, self.keep_output = module, keep_output
        self.h: list[list[torch.Tensor]] = []
        self.c: list[list[torch.Tensor]] = []

    def reset(self) -> None:
        L = self.like.num_layers
        self.h, self.c = [[] for _ in range(L)], [[] for _ in range(L)]

    def forward(self, x: torch.Tensor, hx=None):
        m, lstm, fn = self.like, self.like.mode == "LSTM", CELL_FNS[self.like.mode]
        if hx is None:
            zero = x.new_zeros(m.num_layers, x.shape[1], m.hidden_size)
            hx = (zero, zero) if lstm else zero
        finals = []
        steps = list(x.unbind(0))  # (N, I) each
        for layer in range(m.num_layers):
            names = ("weight_ih", "weight_hh") + (("bias_ih", "bias_hh") if m.bias else ())
            w = [getattr(m, f"{name}_l{layer}") for name in names] + ([] if m.bias else [None, None])
            state = (hx[0][layer], hx[1][layer]) if lstm else hx[layer]
            for t, x_t in enumerate(steps):
                state = fn(x_t, state, *w)
                for part, kept in zip(state if lstm else (state,), (self.h[layer], self.c[layer])):
                    part.retain_grad()
                    kept.append(part)
                steps[t] = state[0] if lstm else state
            finals.append(state)
        out = torch.stack(steps)  # (T, N, H)
        if self.keep_output:
            out.retain_grad()
            self.out = out
        if lstm:
            return out, tuple(torch.stack([f[i] for f in finals]) for i in range(2))
        return out, torch.stack(finals)


def _norms(states: list[list[torch.Tensor]]) -> np.ndarray:
    """(L, T) ‖∂L/∂h_t‖ over batch and units of every kept state, in float64."""
    grads = torch.stack([torch.stack([s.grad if s.grad is not None else torch.zeros_like(s) for s in layer])
                         for layer in states])  # (L, T, N, H)
    return torch.linalg.vector_norm(grads, dim=(2, 3), dtype=torch.float64).numpy()


def plain_step_loop(model):
    """A function (batch) -> (per-step norms (L, 2T), attention's part (T, N, H), α (T, N, T)): the plain loop."""
    enc, dec = Stepped(model.rnn, keep_output=True), Stepped(model.decoder)
    stepped = copy.copy(model)  # the same parameters, attention and head; its encoder and decoder stepped
    stepped._modules = {**model._modules, "rnn": enc, "decoder": dec}

    def run(batch):
        enc.reset()
        dec.reset()
        model.zero_grad(set_to_none=True)
        logits, alpha = stepped.translate(batch.x, teacher_inputs(batch.y, model.output_size, batch.x.dtype))
        task_loss(logits, batch).backward()
        norms = np.concatenate([_norms(enc.h), _norms(dec.h)], axis=1)  # (L, 2T) the lab's profile
        cells = np.concatenate([_norms(enc.c), _norms(dec.c)], axis=1) if model.rnn.mode == "LSTM" else None
        return norms, cells, enc.out.grad.numpy(), alpha.detach().numpy()

    return run


def cpu_medians(fns: dict, repeats: int, timed: bool = True) -> dict:
    """The median CPU seconds of each function, the functions called in turn ``repeats`` times after one warm call;
    ``timed=False``: each function returns its own seconds."""
    for fn in fns.values():
        fn()
    times: dict = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            t0 = time.process_time()
            own = fn()
            times[name].append(time.process_time() - t0 if timed else own)
    return {name: statistics.median(ts) for name, ts in times.items()}


def trace_ratios(repeats: int) -> list[float]:
    ratios = []
    for attention, cell in CASES:
        cfg = Config.from_dict({**TRACE, "attention": attention, "cell": cell})
        model, batch = prepare(cfg)
        loop = plain_step_loop(model)

        def traced(model=model, batch=batch):
            model.zero_grad(set_to_none=True)
            return trace_encoder_decoder(model, batch)

        def fused(model=model, batch=batch):
            model.zero_grad(set_to_none=True)
            task_loss(model(batch.x, batch.y), batch).backward()

        def mapped(model=model, batch=batch):
            model.zero_grad(set_to_none=True)
            trace_encoder_decoder(model, batch, lag_rows=64)

        t0 = time.perf_counter()
        ht = traced()  # the first call in this process of this setting
        first = time.perf_counter() - t0
        norms, cells, through, alpha = loop(batch)  # the loop reads what the trace shows
        np.testing.assert_allclose(norms, ht.joined("grad_h_norm")[:, 0], rtol=1e-4)
        if cells is not None:
            np.testing.assert_allclose(cells, ht.joined("grad_c_norm")[:, 0], rtol=1e-4)
        np.testing.assert_allclose(through, ht.grad_h_attention[0], rtol=1e-4, atol=1e-7)
        np.testing.assert_allclose(alpha, ht.alignment, rtol=1e-4, atol=1e-7)
        t = cpu_medians({"loop": lambda loop=loop, batch=batch: loop(batch), "traced": traced, "fused": fused}, repeats)
        m = cpu_medians({"mapped": mapped}, max(1, repeats // 3))["mapped"]
        ratios.append(t["traced"] / t["loop"])
        priced = cost.trace_seconds(cfg, lag=True)  # what the server's up-front budget charges for it
        print(f"trace {attention:8s} {cell}: plain loop {t['loop'] * 1e3:6.1f} ms, traced {t['traced'] * 1e3:6.1f} ms, "
              f"ratio {t['traced'] / t['loop']:.2f} (target ≤ 1.5); bare fused forward+backward "
              f"{t['fused'] * 1e3:.1f} ms ({t['traced'] / t['fused']:.2f}×); first call in this process "
              f"{first * 1e3:.0f} ms (wall); with the lag map of {cfg.seq_len} rows {m * 1e3:.0f} ms, priced "
              f"{priced * 1e3:.0f} ms (estimate / measured {priced / m:.2f})")
    return ratios


def training_ratios(steps: int, repeats: int) -> list[float]:
    ratios = []
    for attention in ("dot", "additive"):
        cfg = Config.from_dict({**TRAIN, "attention": attention, "cell": "gru", "steps": steps})
        # Warm both sides first: a process's first optimizer imports torch._dynamo (seconds, more without cached
        # bytecode), which a long-running server pays once, not per training.
        Trainer(replace(cfg, steps=2)).run()
        plain_loop(replace(cfg, steps=2))
        trainers: list[Trainer] = []

        def app(cfg=cfg, trainers=trainers):
            trainers.append(Trainer(cfg))
            trainers[-1].run()

        t = cpu_medians({"app": app, "plain": lambda cfg=cfg: plain_loop(cfg)}, repeats)
        ratios.append(t["app"] / t["plain"])
        last = trainers[-1].last
        print(f"train {attention:8s} gru, {steps} steps: Trainer {t['app']:.2f} s, plain loop {t['plain']:.2f} s, "
              f"ratio {t['app'] / t['plain']:.2f} (target ≤ 1.5); last loss {last.loss:.3f}, accuracy "
              f"{last.metric:.2f}", flush=True)
    return ratios


def request_seconds(cfg: Config, rows: int) -> float:
    """CPU seconds of what the server computes for a trace request: the trace and its frames."""
    t0 = time.process_time()
    trace_units(trace_config(cfg, lag_rows=rows), time.perf_counter())
    return time.process_time() - t0


def cost_ratios() -> None:
    ratios: list[float] = []
    for attention, cell, T, H, N, L, both, task in PRICED:
        cfg = Config.from_dict({"arch": "encoder-decoder", "attention": attention, "cell": cell, "seq_len": T,
                                "hidden_size": H, "batch_size": N, "num_layers": L, "bidirectional": both,
                                "task": task})
        rows = rows_for(cfg.trace_cells)
        t = cpu_medians({"plain": lambda cfg=cfg: request_seconds(cfg, 0),
                         "mapped": lambda cfg=cfg, rows=rows: request_seconds(cfg, rows)}, 3, timed=False)
        plain, mapped = cost.trace_seconds(cfg) / t["plain"], cost.trace_seconds(cfg, lag=True) / t["mapped"]
        ratios += [plain, mapped]
        print(f"priced {attention:8s} {cell:4s} T={T:3d} H={H:3d} N={N:2d} L={L} D={1 + both}: trace "
              f"{t['plain'] * 1e3:7.1f} ms (estimate / measured {plain:.2f}), with the map of {min(rows, T)} rows "
              f"{t['mapped'] * 1e3:7.1f} ms ({mapped:.2f})", flush=True)
    print(f"estimate / measured from {min(ratios):.2f} to {max(ratios):.2f}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--train-repeats", type=int, default=3)
    parser.add_argument("--cost", action="store_true", help="also the server's price against measured times")
    args = parser.parse_args()
    torch.set_num_threads(1)
    if args.cost:
        cost_ratios()
    worst = max(trace_ratios(args.repeats) + training_ratios(args.steps, args.train_repeats))
    print(f"worst ratio {worst:.2f} (target ≤ 1.5)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
