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

from engine.models import GATES, gate_activations
from engine.tracing import lagmap
from engine.tracing.fused import TraceRun, layer_weights, step_norms
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


def steps_at_once(runs: Sequence[TraceRun]) -> bool:
    """Chained calls of one step each (a decoder stepped a word at a time), batched, joinable: what
    :func:`finish_steps` finishes."""
    return len(runs) > 1 and joinable(runs) and runs[0].batched and all(r.layout.T == 1 for r in runs)


def finish_steps(runs: Sequence[TraceRun], loss: float) -> ModuleTrace:
    """:func:`join_stock` of each call's :func:`engine.tracing.fused.finish_trace`, read for every call at once.

    For calls that chain and run one step each (:func:`steps_at_once`) a call's trace has no recurrence inside it to
    follow: its ∂L/∂s_t is what its output received plus what its final state received (the next call's initial
    state, and whatever else read it), its ∂L/∂s_0 (the part that crosses into the call before) is the gradient its
    initial state received (a call of one step runs without the zero input: engine/tracing/fused.py), and everything
    else is elementwise, so a layer's gates and gradients come out of one pass over the stacked calls, not one per
    call.
    """
    module, cell = runs[0].module, runs[0].cell
    L, N, H = module.num_layers, runs[0].layout.N, module.hidden_size
    P = getattr(module, "proj_size", 0) or H
    lstm = cell == "lstm"
    per_unit: dict[str, list[np.ndarray]] = {}
    starts: dict[str, list[np.ndarray]] = {"grad_h0": [], "grad_c0": []}  # each layer's ∂L/∂(s_0, c_0) per call
    with torch.no_grad():
        layer_in = torch.cat([r.x for r in runs])  # (T, N, I): call t's input at step t
        for layer in range(L):
            w_ih, w_hh, b_ih, b_hh, w_hr = layer_weights(module, layer, 0)
            h = torch.cat([r.outs[layer] for r in runs])  # (T, N, P)
            given = [_initial(r, layer, 0, P) for r in runs]
            gates = gate_activations(cell, layer_in, torch.cat(given), w_ih, w_hh, b_ih, b_hh)
            grad_h = torch.cat([_grad(r.outs[layer]) + _grad(r.finals[layer][0]) for r in runs])  # total ∂L/∂s_t
            g0 = torch.cat([_grad(r.starts[layer]) for r in runs])  # (T, N, P) into s_{t-1} through the cell
            parts = {"hidden": h.numpy(), "grad_h": grad_h.numpy(), **{k: v.numpy() for k, v in gates.items()}}
            starts["grad_h0"].append(g0.numpy())
            if lstm:
                i, f, g, o = (gates[gate].numpy() for gate in GATES["lstm"])
                c = i * g + f * torch.cat([_initial(r, layer, 1, H) for r in runs]).numpy()
                tanh_c = np.tanh(c)
                grad_m = parts["grad_h"] if w_hr is None else parts["grad_h"] @ w_hr.detach().numpy()
                from_final = torch.cat([_grad(r.finals[layer][1]) for r in runs]).numpy()  # ∂L/∂c_t from later
                grad_c = grad_m * o * (1 - tanh_c * tanh_c) + from_final
                parts.update(cell_state=c, grad_c=grad_c)
                starts["grad_c0"].append(f * grad_c)
            for name, value in parts.items():
                per_unit.setdefault(name, []).append(value)
            layer_in = h
    arrays = {name: np.stack(values)[:, None] for name, values in per_unit.items()}  # (L, 1, T, N, ·)
    grad_h0 = np.stack(starts["grad_h0"])  # (L, T, N, P)
    direct = arrays["grad_h"][:, 0].copy()  # less what crosses into the next call's initial state: recurrence
    direct[:, :-1] -= grad_h0[:, 1:]
    first = runs[0]
    time_axis = 1 if first.module.batch_first else 0

    def norms(name: str) -> np.ndarray | None:
        return np.sqrt(np.square(arrays[name], dtype=np.float64).sum(axis=(3, 4))) if name in arrays else None

    return ModuleTrace(
        cell=cell, hidden=arrays["hidden"], cell_state=arrays.get("cell_state"),
        gates={k: arrays[k] for k in GATES[cell]}, grad_h=arrays["grad_h"], grad_c=arrays.get("grad_c"),
        grad_h_norm=norms("grad_h"), grad_c_norm=norms("grad_c"),
        grad_out_norm=np.stack([step_norms(d) for d in direct])[:, None],
        output=torch.cat([r.output.detach() for r in runs], dim=time_axis), loss=loss,
        grad_h0=grad_h0[:, None, 0], grad_c0=np.stack(starts["grad_c0"])[:, None, 0] if lstm else None,
        lengths=np.full(N, len(runs)),
    )


def _initial(run: TraceRun, layer: int, part: int, width: int) -> torch.Tensor:
    """(1, N, width) the state (part 0 h, 1 c) ``run`` started ``layer`` from: given, or zeros."""
    if run.states is None:
        return run.x.new_zeros(1, run.layout.N, width)
    return run.states[part][layer : layer + 1].detach()


def _grad(t: torch.Tensor) -> torch.Tensor:
    return t.grad if t.grad is not None else torch.zeros_like(t)


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
