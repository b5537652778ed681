"""The lag map of a traced run: which output steps become rows, the rows a chunk at a time, the lag curve.

Row s is what the gradient at every step owes to output step s alone (the sweep that computes every row at
once, and the equations, are in :mod:`engine.tracing.lag_sweep`).  A small setting's map has a row for every
output that receives a gradient; a larger one fewer, evenly spaced, so that the rows' cost stays bounded.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from engine.tracing.lag_sweep import (  # noqa: F401 - the lag map's parts, read as lagmap.<name> by the tracers
    Feed,
    LayerBackward,
    RowsResult,
    backward_rows,
    layer_backward,
    norms,
    stack_rows,
    to_processing,
)

__all__ = ["MAX_ROWS", "lag_curve", "rows_for"]

# Bytes of per-row arrays (gate gradients, states' gradients, inputs' gradients) one chunk of rows may hold.
CHUNK_BYTES = 96 * 1024 * 1024

# How many rows a setting's map holds: every output (up to MAX_ROWS) while the setting is small (every lesson's
# default size), then fewer as it grows, so that rows × state values stays about ROW_CELLS, never under MIN_ROWS.
SMALL_CELLS = 100_000  # T·N·H·L·D state values
MAX_ROWS, MIN_ROWS = 64, 8
ROW_CELLS = MAX_ROWS * SMALL_CELLS


def rows_for(cells: int) -> int:
    """The most output steps the lag map of a setting with ``cells`` state values (T·N·H·L·D) itemises."""
    return MAX_ROWS if cells <= SMALL_CELLS else max(MIN_ROWS, min(MAX_ROWS, ROW_CELLS // cells))


def choose_rows(steps: Sequence[int], most: int) -> np.ndarray:
    """``steps`` (ascending) when there are at most ``most`` of them; else ``most`` of them evenly spaced,
    the first and the last among them."""
    steps = np.asarray(steps, dtype=np.int64)
    if len(steps) <= most:
        return steps
    if most == 1:
        return steps[-1:]
    return steps[np.unique(np.round(np.linspace(0, len(steps) - 1, most)).astype(np.int64))]


def lag_curve(grad_h_by_output: np.ndarray, output_steps: np.ndarray) -> np.ndarray:
    """How much of an output's gradient survives k steps back: (L, D, K), K = T.

    For direction d, lag k reads t = s − k (forward) or t = s + k (reverse, which reads the sequence from
    its end); the value is the median over rows s with ‖δ_s^{(s)}‖ > 0 and t inside the sequence of
    ‖δ_t^{(s)}‖ / ‖δ_s^{(s)}‖.  NaN where no row reaches lag k.
    """
    L, D, S, T = grad_h_by_output.shape
    curve = np.full((L, D, T), np.nan)
    rows = np.arange(S)
    for layer in range(L):
        for d in range(D):
            m = grad_h_by_output[layer, d]  # (S, T)
            own = m[rows, output_steps]  # (S,)
            ok = own > 0
            for k in range(T):
                t = output_steps - k if d == 0 else output_steps + k
                inside = ok & (t >= 0) & (t < T)
                if inside.any():
                    curve[layer, d, k] = np.median(m[rows[inside], t[inside]] / own[inside])
    return curve


@dataclass(frozen=True)
class LagMap:
    """One trace's lag map, as the server sends it: which output steps the rows are, the rows, the lag curve."""

    output_steps: np.ndarray  # (S,) ascending
    grad_h_by_output: np.ndarray  # (L, D, S, T) ‖(∂out_s/∂h_t)ᵀ ∂L/∂out_s‖ over batch and units
    grad_x_by_output: np.ndarray  # (S, T) the same for the inputs x_t
    lag_curve: np.ndarray  # (L, D, T) :func:`lag_curve` of the rows

    @classmethod
    def of(cls, traced) -> LagMap | None:
        """The map of a tracer's result that was asked for one (``output_steps`` not None; a ModuleTrace, a
        HandoffTrace), with its lag curve; None when it holds no map."""
        if traced.output_steps is None:
            return None
        rows = traced.grad_h_by_output
        return cls(traced.output_steps, rows, traced.grad_x_by_output, lag_curve(rows, traced.output_steps))


@dataclass(frozen=True)
class Itemised:
    """Every row of a stack: the lag map's norms and what each row sends out through the initial states."""

    grad_h: np.ndarray  # (L, D, S, T)
    grad_x: np.ndarray  # (S, T)
    grad_h0: list[torch.Tensor]  # per layer*D + d: (S, N, P)
    grad_c0: list[torch.Tensor | None]  # per layer*D + d: (S, N, H), LSTM


def output_steps(top_grad: torch.Tensor) -> np.ndarray:
    """The steps where the loss sends a non-zero gradient into the outputs; ``top_grad`` (T, N, X)."""
    return top_grad.flatten(1).ne(0).any(1).nonzero().flatten().numpy()


def output_feeds(stack: Sequence[Sequence[LayerBackward]], top_grad: torch.Tensor, rows: np.ndarray) -> list[Feed]:
    """Row i receives ``top_grad`` (T, N, D*P, input order) at output step ``rows[i]``: a feed per layer*D + d
    (empty below the top layer)."""
    L, D = len(stack), len(stack[0])
    T = top_grad.shape[0]
    none = np.full(len(rows), -1)
    feeds = [Feed(None, none) for _ in range((L - 1) * D)]
    index = torch.from_numpy(np.asarray(rows, dtype=np.int64))
    for d, lb in enumerate(stack[-1]):
        P = lb.w_hh.shape[1]
        values = top_grad[index, :, d * P : (d + 1) * P].double()  # (S, N, P)
        if lb.direction == 0:
            feeds.append(Feed(None, np.asarray(rows), values))
        elif lb.rev is None:
            feeds.append(Feed(None, T - 1 - np.asarray(rows), values))
        else:  # packed, reverse: each sequence reads output s at its own step
            dense = values.new_zeros(T, len(rows), *values.shape[1:])
            dense[index, torch.arange(len(rows))] = values
            feeds.append(Feed(to_processing(dense, lb), none))
    return feeds


def chunks(S: int, stacks: Sequence[Sequence[Sequence[LayerBackward]]], budget: int = CHUNK_BYTES):
    """Ranges (lo, hi) of S rows small enough that one chunk's arrays through ``stacks`` fit ``budget`` bytes.

    Per row a layer holds at once what comes down from the layer above, its gate gradients, its own states'
    gradient and what it sends down: (T, N, D*P + G*H + P + I).
    """
    first = stacks[0][0][0]
    T, N = first.keep.shape[0], next(iter(first.coef.values())).shape[1]
    width = max(lb.w_hh.shape[1] * (len(layer) + 1) + lb.w_hh.shape[0] + lb.w_ih.shape[1]
                for stack in stacks for layer in stack for lb in layer)
    step = max(1, budget // (T * N * width * first.w_hh.element_size()))
    return [(lo, min(S, lo + step)) for lo in range(0, S, step)]


def itemise(stack: Sequence[Sequence[LayerBackward]], S: int, feeds, budget: int = CHUNK_BYTES) -> Itemised:
    """:func:`stack_rows` for S rows, a chunk at a time; ``feeds(lo, hi)`` gives rows lo..hi-1's feeds."""
    L, D = len(stack), len(stack[0])
    T = stack[0][0].keep.shape[0]
    grad_h, grad_x = np.zeros((L, D, S, T)), np.zeros((S, T))
    h0: list[list[torch.Tensor]] = [[] for _ in range(L * D)]
    c0: list[list[torch.Tensor]] = [[] for _ in range(L * D)]
    for lo, hi in chunks(S, (stack,), budget):
        part = stack_rows(stack, feeds(lo, hi))
        grad_h[:, :, lo:hi] = part.grad_h
        grad_x[lo:hi] = norms(part.grad_x)
        for k in range(L * D):
            h0[k].append(part.grad_h0[k])
            if part.grad_c0[k] is not None:
                c0[k].append(part.grad_c0[k])
    return Itemised(grad_h, grad_x, [torch.cat(p) if p else None for p in h0],
                    [torch.cat(p) if p else None for p in c0])
