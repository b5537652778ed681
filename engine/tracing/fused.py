"""Exact per-timestep traces of a fused recurrent module, without a Python loop over time.

PyTorch's fused RNN/LSTM/GRU kernels never expose h_t inside the recurrence, so
``retain_grad`` cannot reach the total derivative ∂L/∂h_t.  We run the same
computation layer by layer through the same fused kernels, with one change:
every step also receives an all-zero extra input e_t whose input weights are a
copy of the recurrent weights.  Since e_t enters exactly where h_{t-1} does,

    ∂L/∂e_t = W_hhᵀ · ∂L/∂(gate pre-activations at t)

which is the part of ∂L/∂h_{t-1} that travels through the recurrence.  Adding
the direct part (what the layer above, or the loss, asks of h_{t-1}) gives the
total derivative:

    ∂L/∂h_{t-1} = ∂L/∂out_{t-1} + ∂L/∂e_t                       (RNN, LSTM)
    ∂L/∂h_{t-1} = ∂L/∂out_{t-1} + ∂L/∂e_t + W_hnᵀ(r_t ⊙ ∂L/∂a_t) + z_t ⊙ ∂L/∂h_t   (GRU)

For the GRU, e_t carries only the r and z blocks of W_hh; a second zero input
with an identity block reads ∂L/∂a_t, the gradient of the n gate's input-side
pre-activation, because W_hn h_{t-1} is scaled by r_t.  The copied weights are
detached and multiply zeros, so parameter gradients are exactly a plain
backward's.  The remaining recurrences (c_t, ∂L/∂c_t, the GRU's z_t term) are
elementwise and cheap.

A given initial state h_0 (and c_0) enters step 0 exactly where h_{t-1} does, so the zero input at
step 0 reads ∂L/∂h_0 the same way.  A call of one step (a decoder stepped a word at a time) has no
recurrence inside it: its only W_hhᵀ-product is into h_0, which autograd gives as h_0's own gradient
(retained on the state the kernel receives), so such a call runs without the zero input, at the width
of its own input.  With ``proj_size`` P > 0 the recurrent state is the projected
h_t = W_hr (o_t ⊙ tanh c_t), P wide: W_hh is (4H, P), and so is the zero input's block.
A ``PackedSequence`` runs through the fused kernel's packed form; the reverse direction runs on
every sequence reversed within its length (see engine/tracing/layouts.py).

Truncated backpropagation through time (``tbptt`` = k > 0) cuts each direction's processing order into
windows of k steps, starting at its own first step (t = 0, k, 2k, … forward; t = T−1, T−1−k, … reverse):
each window is one fused call from the detached final state of the one before, exactly as a loop that
detaches every k steps.  Every layer is cut at the same steps; the input a layer passes up is never cut.
The zero input still reads W_hhᵀ · ∂L/∂(pre-activations) at a window's first step, the gradient the
detach throws away, so the analysis leaves it out there, and the recurrence factors (f_t, the GRU's z_t)
are zero across a cut.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.nn.utils.rnn import PackedSequence

from engine.models import GATES, gate_activations
from engine.tracing import lagmap
from engine.tracing.grad_h import (
    cut_at,
    direction_reads,
    grad_or_zeros,
    layer_weights,
    masked,
    read_grad_h,
    scan,
    windows,
)
from engine.tracing.layouts import PackedLayout, PaddedLayout, initial_states, read_inputs
from engine.tracing.trace import ModuleTrace

__all__ = ["start_trace"]

_FUSED = {"RNN_TANH": torch._VF.rnn_tanh, "RNN_RELU": torch._VF.rnn_relu, "LSTM": torch._VF.lstm, "GRU": torch._VF.gru}


def _cell_name(module: nn.Module, name: str) -> tuple[str, str]:
    if isinstance(module, nn.LSTM):
        return "lstm", "LSTM"
    if isinstance(module, nn.GRU):
        return "gru", "GRU"
    if isinstance(module, nn.RNN):
        return "rnn", module.mode
    cls = type(module)
    raise TypeError(f"{name} must be a torch.nn.RNN, LSTM or GRU; got {cls.__module__}.{cls.__qualname__}, which is "
                    "not one (a model of your own is traced by engine.trace_submodules)")


def _extra_width(cell: str, hidden: int, state: int) -> int:
    return 2 * hidden if cell == "gru" else state


def _extra_block(cell: str, w_hh: torch.Tensor, hidden: int) -> torch.Tensor:
    """Input weights for the zero input e_t: (G*H, extra width), detached."""
    w = w_hh.detach()
    if cell != "gru":
        return w
    block = torch.zeros(3 * hidden, 2 * hidden, dtype=w.dtype, device=w.device)
    block[: 2 * hidden, :hidden] = w[: 2 * hidden]  # r and z blocks of W_hh
    block[2 * hidden :, hidden:] = torch.eye(hidden, dtype=w.dtype, device=w.device)  # reads ∂L/∂a_t
    return block


def _widened(cache: dict | None, cell: str, w_ih: torch.Tensor, w_hh: torch.Tensor, hidden: int) -> torch.Tensor:
    """[W_ih | the zero input's block], (G*H, I + extra width); from ``cache`` while neither weight has changed."""
    key = (id(w_ih), w_ih._version, id(w_hh), w_hh._version)
    if cache is not None and key in cache:
        return cache[key][0]
    widened = torch.cat([w_ih, _extra_block(cell, w_hh, hidden)], dim=1)
    if cache is not None:
        cache[key] = (widened, w_ih, w_hh)  # the weights kept alive, so that their ids stay theirs
    return widened


def step_norms(a: np.ndarray) -> np.ndarray:
    """L2 norm over batch and units of (T, N, H), in float64 so squaring cannot overflow float32."""
    return np.sqrt(np.square(a, dtype=np.float64).sum(axis=(1, 2)))


@dataclass
class TraceRun:
    """One traced forward whose backward has not run yet: what :func:`finish_trace` needs afterwards."""

    module: nn.RNNBase
    cell: str
    layout: PaddedLayout | PackedLayout
    batched: bool
    x: torch.Tensor  # layer 0's input rows, (T, N, I) or packed (R, I)
    states: list[torch.Tensor] | None  # given h_0 (and c_0), (L*D, N, ·) in the layout's batch order
    outs: list[torch.Tensor]  # each layer's output rows, grad retained
    extras: list[torch.Tensor]  # each layer's zero inputs; none for a call of one step (``starts`` instead)
    finals: list[tuple[torch.Tensor, ...]]  # per layer*D + d: (h_n,) or (h_n, c_n), grad retained
    output: torch.Tensor | PackedSequence
    unsort: torch.Tensor | None  # batch order back to the caller's (packed input)
    tbptt: int = 0  # window length of truncated BPTT; 0 is full BPTT
    # Filled by finish_trace(..., keep_backward=True) for the lag map: stack[layer][d] and ∂L/∂out as a
    # (T, N, D*P) grid in input order.
    stack: list[list[lagmap.LayerBackward]] | None = None
    top_grad: torch.Tensor | None = None
    # A call of one step: per layer*D + d, the h_0 the kernel received, grad retained (the module docstring).
    starts: list[torch.Tensor] | None = None


def start_trace(module: nn.Module, inputs, hx=None, name: str = "module", tbptt: int = 0,
                weights: dict | None = None):
    """Run ``module`` forward as its own ``forward(inputs, hx)`` would, ready to be traced.

    ``tbptt`` = k > 0 detaches the state entering every window of k steps (see the module docstring); the
    forward values are unchanged, the backward pass is the truncated one.  ``weights``: a dict kept by the caller
    over several calls of one forward pass (a decoder stepped a token at a time), in which each layer's input
    weights widened for the zero input are built once and shared by the calls, as the module's own weights are.

    Returns ``(run, output, h_n)``: ``output`` and ``h_n`` (``(h_n, c_n)`` for the LSTM) as the module
    returns them, differentiable.  Backpropagate a loss built on them, then call :func:`finish_trace`.
    ``name`` names the module in error messages.
    """
    cell, mode = _cell_name(module, name)
    if isinstance(tbptt, bool) or not isinstance(tbptt, int) or tbptt < 0:
        raise ValueError(f"{name}: tbptt must be an integer ≥ 0 (0 is full backpropagation through time); "
                         f"got {tbptt!r}")
    if module.training and module.dropout > 0 and module.num_layers > 1:
        raise ValueError(
            f"{name}: dropout={module.dropout} between its layers while training is drawn inside PyTorch's fused "
            "kernel, where no trace can see it; call .eval() or set dropout=0 (nn.Dropout elsewhere is traced)"
        )
    dtype = module.weight_hh_l0.dtype
    layout, x, batched, sorted_indices, unsort = read_inputs(module, inputs, dtype, name)
    N, H, L, D = layout.N, module.hidden_size, module.num_layers, 2 if module.bidirectional else 1
    state = getattr(module, "proj_size", 0) or H
    states = initial_states(module, hx, batched, N, dtype, name, sorted_indices)
    one_step = not layout.packed and layout.T == 1
    E = 0 if one_step else _extra_width(cell, H, state)
    fused = _FUSED[mode]
    zeros_h, zeros_c = x.new_zeros(1, N, state), x.new_zeros(1, N, H)
    starts: list[torch.Tensor] | None = [] if one_step else None

    def initial(k: int):
        given = [zeros_h, zeros_c] if states is None else [s[k : k + 1] for s in states]
        if one_step:  # ∂L/∂h_0 read from h_0 itself: a leaf if nothing upstream asks for it, else a retained view
            given[0] = given[0] if given[0].requires_grad else given[0].detach().requires_grad_()
            if given[0].grad_fn is not None:
                given[0].retain_grad()
            starts.append(given[0])
        return tuple(given) if cell == "lstm" else given[0]

    layer_in = x
    outs: list[torch.Tensor] = []  # (T, N, D*P) or (R, D*P) per layer
    extras: list[torch.Tensor] = []  # (T, N, D*E) or (R, D*E) per layer, the zero inputs
    finals: list[tuple[torch.Tensor, ...]] = []
    for layer in range(L):
        extra = layout.zeros(x, D * E).requires_grad_()
        halves = []
        for d in range(D):
            # Each direction runs on its own, the reverse one on the time-flipped sequences, so that the
            # zero input of one direction never costs the other a matrix product.
            w_ih, w_hh, b_ih, b_hh, w_hr = layer_weights(module, layer, d)
            flat = [w_ih if one_step else _widened(weights, cell, w_ih, w_hh, H), w_hh]
            flat += ([b_ih, b_hh] if module.bias else []) + ([w_hr] if w_hr is not None else [])
            seq = layer_in if one_step else torch.cat([layer_in, extra[..., d * E : (d + 1) * E]], dim=-1)
            seq = layout.reverse(seq) if d else seq
            half, *final = layout.run_windows(fused, seq, initial(layer * D + d), flat, module.bias, tbptt)
            for f in final:
                f.retain_grad()
            finals.append(tuple(final))
            halves.append(layout.reverse(half) if d else half)
        out = torch.cat(halves, dim=-1) if D == 2 else halves[0]
        out.retain_grad()
        outs.append(out)
        if not one_step:
            extras.append(extra)
        layer_in = out

    output = outs[-1]
    if layout.packed:
        output = PackedSequence(output, inputs.batch_sizes, sorted_indices, unsort)
    else:
        if module.batch_first:
            output = output.transpose(0, 1)
        if not batched:
            output = output.squeeze(0 if module.batch_first else 1)
    h_n = [torch.cat([f[i] for f in finals]) for i in range(len(finals[0]))]  # (L*D, N, ·)
    h_n = [h if unsort is None else h.index_select(1, unsort) for h in h_n]
    h_n = [h if batched else h.squeeze(1) for h in h_n]
    run = TraceRun(module, cell, layout, batched, x, states, outs, extras, finals, output, unsort, tbptt,
                   starts=starts)
    return run, output, (tuple(h_n) if cell == "lstm" else h_n[0])


def finish_trace(run: TraceRun, loss: float, keep_backward: bool = False) -> ModuleTrace:
    """Read the trace of ``run`` once the loss built on its outputs has been backpropagated.

    ``keep_backward`` keeps on ``run`` what the lag map needs (``run.stack``, ``run.top_grad``).
    """
    module, cell, layout = run.module, run.cell, run.layout
    T, N, H, L, D = layout.T, layout.N, module.hidden_size, module.num_layers, 2 if module.bidirectional else 1
    P = getattr(module, "proj_size", 0) or H
    E = _extra_width(cell, H, P)
    dtype = np.float64 if run.x.dtype == torch.float64 else np.float32
    widths = {"hidden": P, "grad_h": P, **{k: H for k in (*GATES[cell], "cell_state", "grad_c")}}
    names = ("hidden", "grad_h", *GATES[cell], *(("cell_state", "grad_c") if cell == "lstm" else ()))
    per_unit = {k: np.empty((L, D, T, N, widths[k]), dtype=dtype) for k in names}
    grad_out_norm = np.empty((L, D, T))
    grad_h0 = np.empty((L, D, N, P), dtype=dtype)
    grad_c0 = np.empty((L, D, N, H), dtype=dtype) if cell == "lstm" else None
    cut, keep = windows(run)
    rev = torch.from_numpy(layout._rev_t) if layout.packed else None
    stack: list[list[lagmap.LayerBackward]] = []
    with torch.no_grad():
        layer_in = run.x
        for layer in range(L):
            out = run.outs[layer]
            g_out = grad_or_zeros(out)
            g_extra = None if run.starts is not None else grad_or_zeros(run.extras[layer])
            stack.append([])
            for d in range(D):
                k = layer * D + d
                w_ih, w_hh, b_ih, b_hh, w_hr = layer_weights(module, layer, d)
                grid, h, h_prev, direct = direction_reads(run, layer, d, g_out, layer_in)
                gates = gate_activations(cell, grid(layer_in), h_prev, w_ih, w_hh, b_ih, b_hh)
                extra = None if g_extra is None else grid(g_extra[..., d * E : (d + 1) * E])
                start = None if extra is not None else grad_or_zeros(run.starts[k])
                grad_h, g0 = read_grad_h(cell, layout, direct, extra, start, gates, w_hh, keep, cut)
                grad_h0[layer, d] = g0
                unflip = layout.to_input_order if d else (lambda arr: arr)
                per_unit["hidden"][layer, d] = unflip(h.numpy())
                per_unit["grad_h"][layer, d] = unflip(grad_h)
                grad_out_norm[layer, d] = step_norms(unflip(direct.numpy()))
                for gate, act in gates.items():
                    per_unit[gate][layer, d] = unflip(act.numpy())
                if cell == "lstm":
                    i, f, g, o = (gates[gate].numpy() for gate in GATES["lstm"])
                    c0 = run.states[1][k].detach().numpy() if run.states is not None else None
                    c = scan(i * g, f, c0, backward=False)
                    tanh_c = np.tanh(c)
                    grad_m = grad_h if w_hr is None else grad_h @ w_hr.detach().numpy()  # ∂L/∂(o ⊙ tanh c), (T, N, H)
                    a_c = grad_m * o * (1 - tanh_c * tanh_c)
                    c_n = run.finals[k][1]
                    if c_n.grad is not None:
                        layout.add_at_last(a_c, c_n.grad[0].numpy())
                    f = cut_at(masked(f, layout), cut)
                    grad_c = scan(a_c, f, None, backward=True)
                    grad_c0[layer, d] = f[0] * grad_c[0]
                    per_unit["cell_state"][layer, d] = unflip(c)
                    per_unit["grad_c"][layer, d] = unflip(grad_c)
                if keep_backward:
                    cs = (None, None)
                    if cell == "lstm":
                        c_t = torch.from_numpy(c)
                        c_first = torch.from_numpy(c0)[None] if c0 is not None else c_t.new_zeros(1, N, H)
                        cs = (c_t, torch.cat([c_first, c_t[:-1]]))
                    stack[layer].append(lagmap.layer_backward(
                        cell, d, (w_ih, w_hh, b_ih, b_hh, w_hr), gates, h, h_prev, *cs,
                        getattr(module, "nonlinearity", "tanh"), keep[:, 0, 0], rev))
            layer_in = out
    if keep_backward:
        top = run.outs[-1]
        run.stack = stack
        run.top_grad = layout.grid(top.grad if top.grad is not None else torch.zeros_like(top))

    grad_h_norm = np.sqrt(np.square(per_unit["grad_h"], dtype=np.float64).sum(axis=(3, 4)))
    grad_c_norm = np.sqrt(np.square(per_unit["grad_c"], dtype=np.float64).sum(axis=(3, 4))) if cell == "lstm" else None
    order = run.unsort.numpy() if run.unsort is not None else np.arange(N)  # the caller's batch order

    def shape(a: np.ndarray, batch_axis: int = 3) -> np.ndarray:
        """The caller's batch order, NaN past each sequence's length, no batch axis if unbatched.

        Norms are taken before: the padding there is zero, so they cover real steps only."""
        if layout.packed:
            a = np.take(a, order, axis=batch_axis)
            if batch_axis == 3:
                a[:, :, ~layout.valid[:, order]] = np.nan
        return a if run.batched else np.take(a, 0, axis=batch_axis)

    output = run.output
    if isinstance(output, PackedSequence):
        output = output._replace(data=output.data.detach())
    else:
        output = output.detach()
    return ModuleTrace(
        cell=cell,
        hidden=shape(per_unit["hidden"]),
        cell_state=shape(per_unit["cell_state"]) if cell == "lstm" else None,
        gates={k: shape(per_unit[k]) for k in GATES[cell]},
        grad_h=shape(per_unit["grad_h"]),
        grad_c=shape(per_unit["grad_c"]) if cell == "lstm" else None,
        grad_h_norm=grad_h_norm,
        grad_c_norm=grad_c_norm,
        grad_out_norm=grad_out_norm,
        output=output,
        loss=loss,
        grad_h0=shape(grad_h0, 2),
        grad_c0=shape(grad_c0, 2) if cell == "lstm" else None,
        lengths=layout.lengths[order],
    )
