"""Trace every recurrence inside a whole model, through the user's own forward and loss."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import torch
from torch import nn

from engine.tracing import joined, joined_stock
from engine.tracing.fused import TraceRun, finish_trace
from engine.tracing.module import with_lag_map
from engine.tracing.recurrence import CELL_NAMES, STOCK, Recorder, Step, StockCall
from engine.tracing.trace import ModuleTrace

__all__ = ["trace_submodules"]

Traces = dict[str, ModuleTrace | list[ModuleTrace]]

NOTHING_FOUND = (
    "trace_submodules: nothing recurrent ran in the model: no nn.RNN/LSTM/GRU or RNNCell/LSTMCell/GRUCell, no module "
    "whose returned state fed its next call, and no state marked. A loop over plain tensors needs a mark: "
    "`from engine import mark_state`, then `H = mark_state(H, \"H\")` after each update of the state inside the loop"
)


def trace_submodules(model: nn.Module, compute_loss: Callable[[], torch.Tensor], lag_rows: int = 0) -> Traces:
    """Run ``compute_loss()`` forward and backward once, tracing every recurrence in ``model`` as it runs.

    ``compute_loss`` takes no arguments, runs the model as the user does (any loop, embedding, encoder,
    decoder, head, packed or padded, any initial state) and returns a scalar loss; ``trace_submodules``
    calls ``backward`` on it, so ``compute_loss`` must not.  Returns ``{key: trace}`` in the order the model
    lists its modules, marks last:

    - an ``nn.RNN``/``LSTM``/``GRU`` (also a subclass, traced through its own ``forward``): keyed by qualified
      name, e.g. ``"encoder.rnn"``.  Calls that chain (call t+1's ``hx`` is call t's ``h_n``, a decoder stepped
      a token at a time) are joined into one trace along time whose ``grad_h0`` is what left through the first
      call's initial state (what an encoder receives); unchained calls give one :class:`ModuleTrace` each, a list
      in call order when there are several;
    - an ``nn.RNNCell``/``LSTMCell``/``GRUCell`` stepped in a loop: ``kind`` 'cell', its chained calls joined,
      one time step per call, with its own gates;
    - any other module whose returned state feeds its next call (a cell built from ``nn.Linear`` layers, a whole
      model called once per character, a subclass with its own ``forward``): ``kind`` 'custom', ``cell``
      'custom', no gates; a returned tuple's fed-back tensors are the state, h first and c second (a first
      element fed back as the next input, a prediction, is an input).  The root model's key is ``""``;
    - a state marked with :func:`engine.tracing.mark_state` inside a loop: ``kind`` 'marked', keyed by its name.

    The innermost recurrence is the trace: a module whose returned state is the state of a traced module inside
    it (a decoder around its ``nn.GRU``) is not traced again, and a module without a recurrence of its own is no
    key.  ``grad_out_norm`` is the direct part of ∂L/∂h_t, what does not flow back through the next step's state
    (engine/tracing/joined.py).  Each trace's ``loss`` is the whole loss.
    Afterwards every parameter's ``.grad`` is what a
    plain ``compute_loss().backward()`` would leave.  ``lag_rows`` = S > 0 adds each trace's lag map over at most
    S rows: rows are output steps for a stock module (across the calls of a joined one), the steps whose direct
    part is not zero for the other kinds.

    Raises ``ValueError`` naming the module for what cannot be traced (dropout between a stock module's layers
    while training, a call with gradients disabled, a subclass whose own forward neither reaches the stock one
    nor chains), when ``compute_loss`` calls ``backward`` itself, and when nothing recurrent ran.
    """
    if isinstance(lag_rows, bool) or not isinstance(lag_rows, int) or lag_rows < 0:
        raise ValueError(f"lag_rows must be an integer ≥ 0 (0 computes no lag map); got {lag_rows!r}")
    recorder = Recorder(model, lag=lag_rows > 0)
    value = _run(model, compute_loss, recorder)
    stock = {name: _stock_segments(recorder, calls) for name, calls in recorder.stock.items()}
    cells = recorder.cells
    custom = _custom_segments(recorder, stock)
    _refuse_untraced_subclasses(recorder, stock, custom)
    if not (stock or cells or custom or recorder.marks):
        raise ValueError(NOTHING_FOUND)
    clash = sorted(set(recorder.marks) & (set(stock) | set(cells) | set(custom)))
    if clash:
        raise ValueError(f"mark_state: the name {clash[0]!r} is also a module's qualified name; choose another")
    steps = [s for segs in cells.values() for seg in segs for s in seg]
    steps += [s for segs in custom.values() for seg in segs for s in seg]
    steps += [s for seq in recorder.marks.values() for s in seq]
    for s in steps:
        for t in {id(t): t for t in (*s.state, *s.out)}.values():
            t.retain_grad()
    _backward(value, retain_graph=bool(custom or recorder.marks or (lag_rows and steps)))
    loss = float(value.detach())
    # every .grad is read before the first vector-Jacobian product adds to those it passes through
    finished = {name: [[finish_trace(c.run, loss, keep_backward=lag_rows > 0) for c in seg] for seg in segs]
                for name, segs in stock.items()}
    grads = joined.snapshot(steps)
    traces: Traces = {}
    for name in recorder.modules:
        if name in custom:  # before a subclass's stock runs: its own state is not theirs
            traces[name] = _one_or_list([_step_trace(name, "custom", "custom", seg, loss, grads, lag_rows)
                                         for seg in custom[name]])
        elif name in stock:
            traces[name] = _one_or_list([_stock_trace(seg, done, lag_rows)
                                         for seg, done in zip(stock[name], finished[name])])
        elif name in cells:
            module = recorder.modules[name]
            cell = next(v for k, v in CELL_NAMES.items() if isinstance(module, k))
            traces[name] = _one_or_list([_step_trace(name, "cell", cell, seg, loss, grads, lag_rows, module)
                                         for seg in cells[name]])
    for name, seq in recorder.marks.items():
        traces[name] = _step_trace(name, "marked", "custom", seq, loss, grads, lag_rows)
    return traces


def _run(model: nn.Module, compute_loss: Callable[[], torch.Tensor], recorder: Recorder) -> torch.Tensor:
    """``compute_loss()`` under ``recorder``; the scalar loss it returned, checked, its backward not yet run."""
    params = [p for p in model.parameters() if p.requires_grad]
    before = [(p.grad, p.grad._version if p.grad is not None else None) for p in params]
    with recorder:
        value = compute_loss()
    if not isinstance(value, torch.Tensor) or value.numel() != 1 or not value.requires_grad:
        got = f"shape {tuple(value.shape)}" if isinstance(value, torch.Tensor) else type(value).__name__
        raise ValueError(f"compute_loss must return a scalar tensor that depends on the model's parameters; got {got}")
    after = [(p.grad, p.grad._version if p.grad is not None else None) for p in params]
    if any(a[0] is not b[0] or a[1] != b[1] for a, b in zip(after, before)):
        raise ValueError(_BACKWARD_INSIDE)
    return value


_BACKWARD_INSIDE = ("compute_loss ran backward (the parameters' .grad changed while it ran): return the loss without "
                    "calling .backward() on it; trace_submodules runs the backward pass once itself")


def _backward(value: torch.Tensor, retain_graph: bool) -> None:
    try:
        value.backward(retain_graph=retain_graph)
    except RuntimeError as e:
        if "second time" in str(e):
            raise ValueError(_BACKWARD_INSIDE) from e
        raise


def _one_or_list(traces: list[ModuleTrace]) -> ModuleTrace | list[ModuleTrace]:
    return traces[0] if len(traces) == 1 else traces


def _stock_segments(recorder: Recorder, calls: list[StockCall]) -> list[list[StockCall]]:
    """A module's calls grouped into runs of chained calls that can share a time axis; the others alone."""
    segments: list[list[StockCall]] = []
    for call in calls:
        if segments and recorder._chains(call.given, segments[-1][-1].state) and joined_stock.joinable(
                [segments[-1][0].run, call.run]):
            segments[-1].append(call)
        else:
            segments.append([call])
    return segments


def _stock_trace(segment: list[StockCall], traces: list[ModuleTrace], lag_rows: int) -> ModuleTrace:
    """One segment's trace from its calls' finished traces: joined along time when there are several."""
    runs: list[TraceRun] = [c.run for c in segment]
    if len(traces) == 1:
        return with_lag_map(traces[0], runs[0], lag_rows) if lag_rows else traces[0]
    trace = joined_stock.join_stock(traces, runs)
    if not lag_rows:
        return trace
    rows, grad_h, grad_x = joined_stock.stock_lag_map(runs, lag_rows)
    return replace(trace, output_steps=rows, grad_h_by_output=grad_h, grad_x_by_output=grad_x)


def _step_trace(key: str, kind: str, cell: str, steps: list[Step], loss: float, grads: dict, lag_rows: int,
                module: nn.Module | None = None) -> ModuleTrace:
    return joined.step_trace(key or "the model", kind, cell, steps, loss, grads, module, lag_rows)


def _custom_segments(recorder: Recorder, stock: dict) -> dict[str, list[list[Step]]]:
    """Each custom module's chained segments, innermost first; a module whose every state is a traced module's
    state (a wrapper) is left out, and so is one with no segment of two steps or more."""
    root = recorder.resolve
    traced = {id(root(t)) for calls in recorder.stock.values() for c in calls for t in c.state}
    traced |= {id(root(t)) for segs in recorder.cells.values() for seg in segs for s in seg for t in s.state}
    traced |= {id(root(t)) for seq in recorder.marks.values() for s in seq for t in s.state}
    chains = {name: [seg for seg in rec.segments if len(seg) > 1] for name, rec in recorder.custom.items()}
    found: dict[str, list[list[Step]]] = {}
    for name in sorted((n for n in chains if chains[n]), key=lambda n: -(n.count(".") + bool(n))):
        ids = {id(recorder.resolve(t)) for seg in chains[name] for step in seg for t in step.state}
        if ids <= traced:
            continue
        found[name] = chains[name]
        traced |= ids
    return found


def _refuse_untraced_subclasses(recorder: Recorder, stock: dict, custom: dict) -> None:
    """A subclass of a stock module or cell with its own forward that ran but gave no trace is refused by name."""
    for name, rec in recorder.custom.items():
        module = recorder.modules[name]
        base = next((c for c in STOCK if isinstance(module, c)), None)
        if rec.calls and base is not None and not ({name} & (set(stock) | set(custom) | set(recorder.cells))):
            raise ValueError(
                f"{name or 'the model'}: {type(module).__name__} has its own forward, which never reached the stock "
                f"nn.{base.__name__} computation (super().forward) and whose returned state never fed its next call: "
                "nothing to trace exactly; mark its state with mark_state inside that forward")


def run_submodules(model: nn.Module, compute_loss: Callable[[], torch.Tensor], retain_graph: bool = False
                   ) -> tuple[dict[str, list[TraceRun]], float]:
    """Run ``compute_loss()`` forward and backward with every stock recurrent module traced, not yet finished.

    Returns ``({qualified name: [run per call]}, loss)``; :func:`engine.tracing.fused.finish_trace` reads each run.
    ``retain_graph`` keeps the graph for more backward passes (a lag map's rows).  Raises as
    :func:`trace_submodules` does.
    """
    recorder = Recorder(model, stock_only=True)
    value = _run(model, compute_loss, recorder)
    if not recorder.stock:
        raise ValueError(NOTHING_FOUND)
    _backward(value, retain_graph=retain_graph)
    return {name: [c.run for c in calls] for name, calls in recorder.stock.items()}, float(value.detach())
