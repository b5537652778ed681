"""Trace every recurrent module inside a whole model, through the user's own forward and loss."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from engine.tracing import ModuleTrace, TraceRun, finish_trace, start_trace, with_lag_map

_STOCK_FORWARD = {nn.RNN.forward, nn.LSTM.forward, nn.GRU.forward}


def trace_submodules(
    model: nn.Module, compute_loss: Callable[[], torch.Tensor], lag_rows: int = 0
) -> dict[str, ModuleTrace | list[ModuleTrace]]:
    """Run ``compute_loss()`` forward and backward once while every ``nn.RNN``/``LSTM``/``GRU`` in ``model`` is traced.

    ``compute_loss`` takes no arguments, runs the model as the user does (embedding, encoder, decoder,
    head, packed or padded, any initial state) and returns a scalar loss; ``trace_submodules`` calls
    ``backward`` on it, so ``compute_loss`` must not.  Returns ``{qualified name: trace}``, e.g.
    ``"encoder.rnn"``, for every recurrent module that ran: a :class:`ModuleTrace` for a module called once,
    a list of them, one per call in call order, for a module called several times (a decoder stepped one
    token at a time).  Each trace's ``loss`` is the whole loss; its ``grad_h0`` is the gradient that left
    through that call's initial state (what an encoder receives from its decoder).  Afterwards every
    parameter's ``.grad`` is what a plain ``compute_loss().backward()`` would leave.

    A module registered under several names is keyed by the first ``model.named_modules()`` gives.
    ``lag_rows`` = S > 0 adds each call's lag map over its own outputs, as :func:`engine.tracing.trace_module`.

    Raises ``ValueError`` naming the module by its qualified name for what cannot be traced: dropout
    between layers while training, a module subclass with its own ``forward``, a call with gradients
    disabled.
    """
    if isinstance(lag_rows, bool) or not isinstance(lag_rows, int) or lag_rows < 0:
        raise ValueError(f"lag_rows must be an integer ≥ 0 (0 computes no lag map); got {lag_rows!r}")
    runs, loss = run_submodules(model, compute_loss)
    traces: dict[str, ModuleTrace | list[ModuleTrace]] = {}
    for name, calls in runs.items():
        if calls:
            done = [finish_trace(run, loss, keep_backward=lag_rows > 0) for run in calls]
            if lag_rows:
                done = [with_lag_map(trace, run, lag_rows) for trace, run in zip(done, calls)]
            traces[name] = done[0] if len(done) == 1 else done
    return traces


def run_submodules(model: nn.Module, compute_loss: Callable[[], torch.Tensor]) -> tuple[dict[str, list[TraceRun]],
                                                                                         float]:
    """Run ``compute_loss()`` forward and backward with every recurrent module traced, not yet finished.

    Returns ``({qualified name: [run per call]}, loss)``; :func:`engine.tracing.finish_trace` reads each run.
    Raises as :func:`trace_submodules` does.
    """
    targets = [(name, m) for name, m in model.named_modules() if isinstance(m, nn.RNNBase)]
    if not targets:
        raise ValueError("trace_submodules: the model holds no nn.RNN, nn.LSTM or nn.GRU to trace")
    for name, m in targets:
        if type(m).forward not in _STOCK_FORWARD or "forward" in m.__dict__:
            raise ValueError(f"{name}: {type(m).__name__} has its own forward; only the stock nn.RNN/LSTM/GRU"
                             " forward can be traced")
    runs: dict[str, list[TraceRun]] = {name: [] for name, _ in targets}

    def traced_forward(name: str, module: nn.RNNBase):
        def forward(input, hx=None):  # the stock forward's signature
            if not torch.is_grad_enabled():
                raise ValueError(f"{name}: ran with gradients disabled (torch.no_grad): nothing to trace")
            run, output, h_n = start_trace(module, input, hx, name)
            runs[name].append(run)
            return output, h_n

        return forward

    # An instance attribute shadows the class's forward for this call only; nn.Module.__call__ (and any hooks)
    # still run as usual.
    try:
        for name, m in targets:
            m.forward = traced_forward(name, m)
        value = compute_loss()
    finally:
        for _, m in targets:
            m.__dict__.pop("forward", None)
    if not isinstance(value, torch.Tensor) or value.numel() != 1 or not value.requires_grad:
        got = f"shape {tuple(value.shape)}" if isinstance(value, torch.Tensor) else type(value).__name__
        raise ValueError(f"compute_loss must return a scalar tensor that depends on the model's parameters; got {got}")
    value.backward()
    return runs, float(value.detach())
