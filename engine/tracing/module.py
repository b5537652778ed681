"""``trace_module``: one ``nn.RNN``/``LSTM``/``GRU`` run on its inputs, its loss backpropagated, every step reported.

The tracing itself is :mod:`engine.tracing.fused`; the lag map, :mod:`engine.tracing.lagmap`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import torch
from torch import nn
from torch.nn.utils.rnn import PackedSequence

from engine.tracing import lagmap
from engine.tracing.fused import TraceRun, finish_trace, start_trace
from engine.tracing.trace import ModuleTrace

__all__ = ["trace_module"]


def trace_module(
    module: nn.Module,
    inputs: torch.Tensor | PackedSequence,
    loss: Callable[[torch.Tensor | PackedSequence], torch.Tensor],
    hx: torch.Tensor | tuple[torch.Tensor, torch.Tensor] | None = None,
    tbptt: int = 0,
    lag_rows: int = 0,
) -> ModuleTrace:
    """Run ``module`` on ``inputs``, backpropagate ``loss(output)`` and report every timestep.

    ``module`` is any ``nn.RNN``, ``nn.LSTM`` or ``nn.GRU`` (layers, bidirectional, ``batch_first``,
    ``proj_size``, float32 or float64; no dropout while training).  ``inputs`` is what the module takes:
    a tensor, batched or not, or a ``PackedSequence`` (positions past a sequence's length are NaN in the
    per-unit arrays and left out of the norms).  ``hx`` is the initial state as the module takes it
    (``(h_0, c_0)`` for the LSTM), zero if ``None``; the trace's ``grad_h0``/``grad_c0`` are the gradient
    that leaves through it.  ``loss`` takes the module's output and returns a scalar (a loss on the final
    state ``h_n`` too, or a module inside a model: :func:`engine.tracing.trace_submodules`).  Afterwards the
    module's parameters (and ``hx``, if it requires grad) hold the same ``.grad`` a plain
    ``loss(module(inputs, hx)[0]).backward()`` would leave.

    ``tbptt`` = k > 0 traces truncated backpropagation through time: the state entering every window of k
    steps is detached (each direction's windows start at its own first step; every layer is cut at the same
    steps), and ``grad_h``, ``grad_c`` and the parameters' ``.grad`` are the truncated gradient a loop that
    detaches every k steps leaves.  0 is full backpropagation through time.

    ``lag_rows`` = S > 0 adds the lag map (engine/tracing/lagmap.py): for at most S of the output steps s that receive
    a gradient (all of them when there are at most S, else S evenly spaced, the first and last among them),
    ``grad_h_by_output`` (L, D, S, T) = ‖(∂out_s/∂h_t)ᵀ ∂L/∂out_s‖ and ``grad_x_by_output`` (S, T), the same for
    the inputs; ``output_steps`` names the rows.  A gradient the loss sends into the final state ``h_n`` other
    than through the outputs is in ``grad_h`` but in no row.
    """
    if isinstance(lag_rows, bool) or not isinstance(lag_rows, int) or lag_rows < 0:
        raise ValueError(f"lag_rows must be an integer ≥ 0 (0 computes no lag map); got {lag_rows!r}")
    stock = next((c for c in (nn.LSTM, nn.GRU, nn.RNN) if isinstance(module, c)), None)
    if stock is not None and type(module).forward is not stock.forward:
        raise ValueError(f"module: {type(module).__name__} has its own forward, which trace_module would not run; "
                         "engine.trace_submodules(module, compute_loss) traces it through that forward")
    run, output, _ = start_trace(module, inputs, hx, tbptt=tbptt)
    value = loss(output)
    value.backward()
    trace = finish_trace(run, float(value.detach()), keep_backward=lag_rows > 0)
    return with_lag_map(trace, run, lag_rows) if lag_rows else trace


def with_lag_map(trace: ModuleTrace, run: TraceRun, most: int) -> ModuleTrace:
    """``trace`` with the lag map of at most ``most`` of its output steps (``run`` kept its backward)."""
    rows = lagmap.choose_rows(lagmap.output_steps(run.top_grad), most)
    item = lagmap.itemise(run.stack, len(rows),
                          lambda lo, hi: lagmap.output_feeds(run.stack, run.top_grad, rows[lo:hi]))
    return replace(trace, output_steps=rows, grad_h_by_output=item.grad_h, grad_x_by_output=item.grad_x)
