"""One trace along time for a stock ``nn.RNN``/``LSTM``/``GRU`` stepped a token (or a chunk) at a time.

Calls chain when each call's ``hx`` is the ``h_n`` the call before returned (engine/tracing/recurrence.py).  Each call
is traced as it ran (engine/tracing/fused.py); the traces are laid end to end on one time axis, the same numbers a
single call over the whole sequence gives: what the next call's initial state sends back at a call's last step
is recurrence, not direct, and the lag map's rows cross from call to call through those initial states.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import numpy as np
import torch

from engine.tracing import lagmap
from engine.tracing.fused import TraceRun
from engine.tracing.trace import ModuleTrace


def joinable(runs: Sequence[TraceRun]) -> bool:
    """Calls that can share one time axis: padded, one direction, the same batch and dtype, full BPTT."""
    first = runs[0]
    return all(not r.layout.packed and not r.module.bidirectional and not r.tbptt and r.batched == first.batched
               and r.layout.N == first.layout.N and r.x.dtype == first.x.dtype for r in runs)


def join_stock(traces: Sequence[ModuleTrace], runs: Sequence[TraceRun]) -> ModuleTrace:
    """Chained calls' traces on one time axis (axis 2 of every array); ``grad_h0`` is the first call's.

    At each call's last step, what the next call's initial state sent back is recurrence, not direct."""
    def cat(name: str):
        parts = [getattr(t, name) for t in traces]
        return None if parts[0] is None else np.concatenate(parts, axis=2)

    grad_out_norm = cat("grad_out_norm")
    end = 0
    for here, nxt in zip(traces[:-1], traces[1:]):
        end += here.grad_h.shape[2]
        direct = here.grad_h[:, :, -1] - nxt.grad_h0  # (L, D, N, P) or (L, D, P)
        grad_out_norm[:, :, end - 1] = np.sqrt(np.square(direct, dtype=np.float64).sum(
            axis=tuple(range(2, direct.ndim))))
    first = runs[0]
    time_axis = 1 if first.module.batch_first and first.batched else 0
    return replace(
        traces[0],
        hidden=cat("hidden"), cell_state=cat("cell_state"), grad_h=cat("grad_h"), grad_c=cat("grad_c"),
        gates={k: np.concatenate([t.gates[k] for t in traces], axis=2) for k in traces[0].gates},
        grad_h_norm=cat("grad_h_norm"), grad_c_norm=cat("grad_c_norm"), grad_out_norm=grad_out_norm,
        output=torch.cat([t.output for t in traces], dim=time_axis),
        lengths=np.full_like(traces[0].lengths, sum(t.grad_h.shape[2] for t in traces)),
    )


def stock_lag_map(runs: Sequence[TraceRun], most: int):
    """``(output_steps, grad_h_by_output (L, 1, S, T), grad_x_by_output (S, T))`` over chained calls' joined axis.

    Each call's rows run through its stack (engine/tracing/lagmap.py), the last call first; what a row sends out through
    a call's initial state enters the call before at its last step, the step whose final state that was."""
    sizes = [r.layout.T for r in runs]
    offsets = np.cumsum([0] + sizes)
    rows = lagmap.choose_rows(np.concatenate([off + lagmap.output_steps(r.top_grad)
                                              for off, r in zip(offsets, runs)]), most)
    L, T, S = len(runs[0].stack), int(offsets[-1]), len(rows)
    grad_h, grad_x = np.zeros((L, 1, S, T)), np.zeros((S, T))
    for lo, hi in lagmap.chunks(S, [r.stack for r in runs]):
        r = rows[lo:hi]
        carry_h: list = [None] * L
        carry_c: list = [None] * L
        for k in range(len(runs) - 1, -1, -1):
            run, off, size = runs[k], int(offsets[k]), sizes[k]
            inside, later = (r >= off) & (r < off + size), r >= off + size
            feeds = []
            for layer, (lb,) in enumerate(run.stack):
                N, P = run.layout.N, lb.w_hh.shape[1]
                h = lb.w_hh.new_zeros(len(r), N, P)  # the sweep's own dtype (float64), as what the next call sends
                c = lb.w_hh.new_zeros(len(r), N, lb.w_ih.shape[0] // 4) if lb.cell == "lstm" else None
                step = np.where(later, size - 1, -1)
                if carry_h[layer] is not None:
                    h[later] = carry_h[layer][later]
                    if c is not None:
                        c[later] = carry_c[layer][later]
                if layer == L - 1:
                    step = np.where(inside, r - off, step)
                    h[inside] = run.top_grad[torch.from_numpy(r[inside] - off)].to(h.dtype)
                feeds.append(lagmap.Feed(None, step, h, c))
            part = lagmap.stack_rows(run.stack, feeds)
            grad_h[:, :, lo:hi, off : off + size] = part.grad_h
            grad_x[lo:hi, off : off + size] = lagmap.norms(part.grad_x)
            carry_h, carry_c = part.grad_h0, part.grad_c0
    return rows, grad_h, grad_x
