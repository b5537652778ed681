"""One trace along time for a recurrence run one call at a time: torch cells, custom modules, marked states.

Step t returned the state s_t = (h_t, c_t, ...) (h first; an LSTM cell's c second) and took s_{t-1} as its
state input.  With autograd's total derivatives (the ``.grad`` of the tensors the steps returned)::

    total_t  = ∂L/∂s_t
    e_t      = ∂L/∂s_t with its parts independent          (total_t, less what reaches c_t through the h_t
                                                          the step computed from it)
    rec_t    = (∂s_{t+1}/∂s_{t}|step t+1)ᵀ e_{t+1}         what flows back through the next step's state
    direct_t = total_t − rec_t                            everything else: what the loss, or the rest of the
                                                          model, asks of s_t (``grad_out_norm``)

∂s_{t+1}/∂s_t|step t+1 is taken through step t+1 alone, from the state it took to the state it returned.
For a torch cell, whose outputs are its state, rec_t is the ``.grad`` of the view the next call took in
place of s_t.  A custom module's other outputs may depend on its state input too (the classic char-RNN's
output does): its rec_t are vector-Jacobian products through its state alone, all steps in one pass over
the recorded graph with every gate closed (engine/tracing/recurrence.py).  For a mark, one product per step
through everything between the marked state t and the tensor marked at t+1.

The lag map itemises total_t by the step whose direct part it comes from::

    δ_s^{(s)} = direct_s,    δ_t^{(s)} = (∂s_{t+1}/∂s_t|step t+1)ᵀ δ_{t+1}^{(s)},    Σ_s δ_t^{(s)} = total_t

with e_s − rec_s for direct_s (the same for h).  A torch cell's rows are swept by engine/tracing/lagmap.py as the
one layer it is; a custom module's in one pass over the recorded graph with the gates on what the steps
returned closed, so that each row travels along the chain of states alone; a mark's one product per step.
The passes run every row at once, vectorised by autograd (row by row where an operation has no
vectorised rule).

A state of shape (H,) is unbatched, (N, H) one layer, (..., N, H) the leading dimensions flattened into
layers (as ``h_n`` is (layers·directions, N, H)): per-unit arrays are (L, 1, T, N, H) or (1, 1, T, H),
norms (L, 1, T), as for a stock module.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Sequence
from contextlib import contextmanager

import numpy as np
import torch

from engine.models import gate_activations
from engine.tracing import lagmap
from engine.tracing.recurrence import Step
from engine.tracing.trace import ModuleTrace


def to_numpy(t: torch.Tensor) -> np.ndarray:
    t = t.detach().cpu()
    return (t if t.dtype in (torch.float64, torch.float32, torch.float16) else t.float()).numpy()


def grid(stacked: torch.Tensor) -> np.ndarray:
    """(T, *state shape) -> (L, 1, T, N, H), or (1, 1, T, H) for an unbatched (H,) state."""
    a = to_numpy(stacked)
    if a.ndim == 1:
        a = a[:, None]
    if a.ndim == 2:
        return a[None, None]
    T, N, H = a.shape[0], a.shape[-2], a.shape[-1]
    return np.moveaxis(a.reshape(T, -1, N, H), 0, 1)[:, None]


def norms(per_unit: np.ndarray) -> np.ndarray:
    """(L, D, T, ...) -> (L, D, T): Frobenius norm over batch and units, in float64."""
    return np.sqrt(np.square(per_unit, dtype=np.float64).sum(axis=tuple(range(3, per_unit.ndim))))


def snapshot(steps) -> dict[int, torch.Tensor]:
    """The ``.grad`` of every tensor the steps hold, read once after the backward pass and before any
    vector-Jacobian product: autograd adds what later products pass through a tensor to its ``.grad`` (as a new
    tensor, tests/engine/test_loops.py checks, so the ones read here stay as they were)."""
    grads = {}
    for step in steps:
        for t in (*step.state, *step.out, *(step.state_in or ())):
            if t.is_leaf or t.retains_grad:  # a first step's given state may be neither: nothing to read there
                grads[id(t)] = t.grad if t.grad is not None else torch.zeros_like(t)
    return grads


def vjp(outs: Sequence[torch.Tensor], ins: Sequence[torch.Tensor], grads: Sequence[torch.Tensor],
        batched: bool = False) -> list[torch.Tensor]:
    """(∂outs/∂ins)ᵀ grads over the recorded graph (kept for later products); zeros where an input is unused.

    ``batched``: each grad has a leading row axis, and so does each result.  Raises what autograd raises
    when it cannot vectorise an operation over the rows (:func:`rows_vjp` then goes a row at a time)."""
    lead = (grads[0].shape[0],) if batched else ()
    pairs = [(o, g) for o, g in zip(outs, grads) if o.requires_grad]
    got = [None] * len(ins)
    if pairs and ins:
        got = torch.autograd.grad([o for o, _ in pairs], list(ins), [g for _, g in pairs], retain_graph=True,
                                  allow_unused=True, is_grads_batched=batched)
    return [g if g is not None else torch.zeros(lead + tuple(i.shape), dtype=i.dtype) for g, i in zip(got, ins)]


def rows_vjp(outs, ins, grads, vectorise: list[bool]) -> list[torch.Tensor]:
    """:func:`vjp` for a batch of rows: vectorised while ``vectorise[0]``, else (from the first failure) row by row."""
    if vectorise[0]:
        try:
            return vjp(outs, ins, grads, batched=True)
        except (RuntimeError, NotImplementedError):
            vectorise[0] = False
    rows = [vjp(outs, ins, [g[r] for g in grads]) for r in range(grads[0].shape[0])]
    return [torch.stack(parts) for parts in zip(*rows)]


@contextmanager
def closed(gates: dict, *sides: str):
    """The recorder's :class:`engine.tracing.states.Gate` s on ``sides`` closed for the duration."""
    kept = dict(gates)
    gates.update({side: False for side in sides})
    try:
        yield
    finally:
        gates.update(kept)


def partials(steps: list[Step], totals: list[tuple]) -> list[tuple]:
    """∂L/∂s_t with s_t's parts taken as independent (what a product through the step that returned them takes):
    the total derivative of a part less what reaches it through another part the step computed from it (an
    LSTM's c_t through h_t).  Exact for a state of one or two tensors."""
    width = len(steps[0].out)
    if width == 1:
        return totals
    outs = [[s.out[i] for s in steps] for i in range(width)]
    bar = [list(t) for t in totals]
    with closed(steps[0].gates, "in", "out"):  # each step's own graph alone, all steps in one pass per pair
        for i in range(width):
            for j in range(width):
                if i != j:
                    into = vjp(outs[j], outs[i], [t[j] for t in totals])
                    for t, g in enumerate(into):
                        bar[t][i] = bar[t][i] - g
    return [tuple(b) for b in bar]


def parts_of(steps: list[Step], kind: str, grads: dict) -> tuple[list[tuple], list[tuple], list[tuple]]:
    """``(totals, arriving, recs)``: per step and part of the state, ∂L/∂s_t (autograd's total derivative), what
    arrived at s_t from outside its step, and what of that flowed back through step t+1's state.

    ``grads`` is :func:`snapshot` of the steps.  A custom module's steps are measured in one pass with every
    gate closed, each step's product alone; a mark's one step at a time (what runs between two marks is
    unknown)."""
    totals = [tuple(grads[id(s)] for s in step.out) for step in steps]
    arriving = [tuple(grads[id(s)] for s in step.state) for step in steps]
    if kind == "custom":
        arriving = partials(steps, totals)
    zeros = tuple(torch.zeros_like(g) for g in totals[-1])
    if kind == "cell":
        recs = [tuple(grads[id(v)] for v in nxt.state_in) for nxt in steps[1:]]
    elif kind == "custom" and len(steps) > 1:
        later = steps[1:]
        with closed(steps[0].gates, "in", "out"):
            flat = vjp([o for s in later for o in s.out], [v for s in later for v in s.state_in],
                       [g for a in arriving[1:] for g in a])
        width = len(steps[0].out)
        recs = [tuple(flat[k * width : (k + 1) * width]) for k in range(len(later))]
    else:
        recs = [tuple(vjp(nxt.out, nxt.state_in, arriving[t + 1])) for t, nxt in enumerate(steps[1:])]
    return totals, arriving, [*recs, zeros]


def initial_grad(steps: list[Step], kind: str, arriving, grads: dict) -> tuple | None:
    """What left through the first step's state input; None when that input was a constant nobody can read."""
    first = steps[0]
    if first.state_in is None:
        return None
    if kind == "cell":
        return tuple(grads[id(v)] for v in first.state_in)
    return tuple(vjp(first.out, first.state_in, arriving[0]))


def _stack(key: str, values: list[torch.Tensor]) -> torch.Tensor:
    shapes = {tuple(v.shape) for v in values}
    if len(shapes) > 1:
        raise ValueError(f"{key}: the state changes shape between steps ({', '.join(map(str, sorted(shapes)))}); "
                         "a trace needs one shape along time")
    return torch.stack([v.detach() for v in values])


def step_trace(key: str, kind: str, cell: str, steps: list[Step], loss: float, grads: dict, module=None,
               lag_rows: int = 0) -> ModuleTrace:
    """The :class:`ModuleTrace` of one segment of chained steps (see the module docstring).

    ``grads`` is :func:`snapshot` of the steps; ``module`` the torch cell for ``kind`` 'cell' (its gates are
    recomputed from what it was fed); ``lag_rows`` = S > 0 adds the lag map over at most S rows."""
    totals, arriving, recs = parts_of(steps, kind, grads)
    h0 = initial_grad(steps, kind, arriving, grads)
    direct = [tuple(g - r for g, r in zip(tot, rec)) for tot, rec in zip(totals, recs)]
    per_part = []
    for i in range(min(2, len(steps[0].state))):
        hidden = grid(_stack(key, [s.state[i] for s in steps]))
        grad = grid(torch.stack([g[i] for g in totals]))
        first = grid(h0[i][None]) if h0 is not None else np.full_like(hidden[:, :, :1], np.nan)
        per_part.append((hidden, grad, grid(torch.stack([d[i] for d in direct])), first[:, :, 0]))
    (hidden, grad_h, direct_h, grad_h0), pair = per_part[0], per_part[1] if len(per_part) > 1 else None
    N = hidden.shape[3] if hidden.ndim == 5 else 1
    gates = cell_gates(module, cell, steps) if kind == "cell" else {}
    rows = grad_by_output = grad_x = None
    if lag_rows:
        seeds = [tuple(g - r for g, r in zip(arr, rec)) for arr, rec in zip(arriving, recs)]
        if kind == "cell":
            rows, grad_by_output, grad_x = cell_lag_map(module, cell, steps, gates, seeds, lag_rows)
        elif kind == "custom":
            rows, grad_by_output = gated_lag_map(steps, seeds, lag_rows)
        else:
            rows, grad_by_output = marked_lag_map(steps, seeds, lag_rows)
    return ModuleTrace(
        cell=cell,
        hidden=hidden,
        cell_state=pair[0] if pair else None,
        gates={name: grid(a) for name, a in gates.items()},
        grad_h=grad_h,
        grad_c=pair[1] if pair else None,
        grad_h_norm=norms(grad_h),
        grad_c_norm=norms(pair[1]) if pair else None,
        grad_out_norm=norms(direct_h),
        output=_stack(key, [s.state[0] for s in steps]),
        loss=loss,
        grad_h0=grad_h0,
        grad_c0=pair[3] if pair else None,
        lengths=np.full(N, len(steps)),
        output_steps=rows,
        grad_h_by_output=grad_by_output,
        grad_x_by_output=grad_x,
        kind=kind,
    )


def cell_gates(module, cell: str, steps: list[Step]) -> dict[str, torch.Tensor]:
    """A torch cell's gate activations at every step, (T, N, H) or (T, H), from the inputs and states it was fed
    (engine/models/cells.py)."""
    with torch.no_grad():
        x = torch.stack([s.x.detach() for s in steps])  # (T, N, I) or (T, I)
        h_prev = torch.stack([s.state_in[0].detach() for s in steps])  # (T, N, H) or (T, H)
        return gate_activations(cell, x, h_prev, module.weight_ih, module.weight_hh, module.bias_ih,
                                module.bias_hh)


def cell_lag_map(module, cell: str, steps: list[Step], gates: dict, seeds: list[tuple], most: int):
    """:func:`lag_map` of a torch cell, swept by engine/tracing/lagmap.py as the one layer it is: every row at once."""
    batched = steps[0].out[0].dim() == 2
    grid3 = (lambda t: t) if batched else (lambda t: t.unsqueeze(1))  # (T, N, ·)
    with torch.no_grad():
        h = grid3(torch.stack([s.out[0].detach() for s in steps]))
        h_prev = grid3(torch.stack([s.state_in[0].detach() for s in steps]))
        c = c_prev = None
        if cell == "lstm":
            c = grid3(torch.stack([s.out[1].detach() for s in steps]))
            c_prev = grid3(torch.stack([s.state_in[1].detach() for s in steps]))
        weights = (module.weight_ih, module.weight_hh, module.bias_ih, module.bias_hh, None)
        lb = lagmap.layer_backward(cell, 0, weights, {k: grid3(v) for k, v in gates.items()}, h, h_prev, c, c_prev,
                                   getattr(module, "nonlinearity", "tanh"), torch.ones(len(steps), dtype=torch.bool),
                                   None)
        rows = _starts(seeds, most)
        seed_h = grid3(torch.stack([s[0] for s in seeds]))
        seed_c = grid3(torch.stack([s[1] for s in seeds])) if cell == "lstm" else None

        def feeds(lo, hi):
            index = torch.from_numpy(rows[lo:hi])
            return [lagmap.Feed(None, rows[lo:hi], seed_h[index], seed_c[index] if seed_c is not None else None)]

        item = lagmap.itemise([[lb]], len(rows), feeds)
    return rows, item.grad_h, item.grad_x


def _row_norms(t: torch.Tensor) -> np.ndarray:
    """(S, *state shape) -> (L, S): each row's norm per layer, the state's layers as :func:`grid` lays them."""
    S = t.shape[0]
    layers = int(np.prod(t.shape[1:-2])) if t.dim() > 3 else 1
    return torch.linalg.vector_norm(t.reshape(S, layers, -1), dim=-1, dtype=torch.float64).T.numpy()


def _starts(seeds: list[tuple], most: int) -> np.ndarray:
    return lagmap.choose_rows([t for t in range(len(seeds)) if bool(seeds[t][0].ne(0).any())], most)


def gated_lag_map(steps: list[Step], seeds: list[tuple], most: int):
    """``(output_steps, grad_h_by_output (L, 1, S, T))`` of a custom module: one pass for a chunk of rows.

    Every step's returned gates closed and its state gates open, row s seeded at step s's state runs back along
    the chain of states alone; what each step's state gate receives is δ_{t-1}^{(s)}."""
    T, width = len(steps), len(steps[0].out)
    rows = _starts(seeds, most)
    S = len(rows)
    L = _row_norms(seeds[0][0][None]).shape[0]
    grad_h = np.zeros((L, 1, S, T))
    outs = [o for s in steps for o in s.out]
    ins = [v for s in steps[1:] for v in s.state_in]
    per_row = sum(o.numel() * o.element_size() for o in outs)
    vectorise = [True]
    for lo in range(0, S, max(1, lagmap.CHUNK_BYTES // per_row)):
        chunk = rows[lo : lo + max(1, lagmap.CHUNK_BYTES // per_row)]
        seeded = [o.new_zeros(len(chunk), *o.shape) for o in outs]
        for i, s in enumerate(chunk.tolist()):
            for k in range(width):
                seeded[s * width + k][i] = seeds[s][k]
        with closed(steps[0].gates, "out"):
            got = rows_vjp(outs, ins, seeded, vectorise) if ins else []
        for t in range(T - 1):
            grad_h[:, 0, lo : lo + len(chunk), t] = _row_norms(got[t * width])
        for i, s in enumerate(chunk.tolist()):
            grad_h[:, 0, lo + i, s] = _row_norms(seeds[s][0][None])[:, 0]
    return rows, grad_h


def marked_lag_map(steps: list[Step], seeds: list[tuple], most: int):
    """``(output_steps, grad_h_by_output (L, 1, S, T))`` of a marked state: one product per step for every row
    under way at once, from the tensors marked at step t back to those marked at t-1."""
    T = len(steps)
    rows = _starts(seeds, most)
    S = len(rows)
    grad_h = np.zeros((_row_norms(seeds[0][0][None]).shape[0], 1, S, T))
    carry = None  # δ_t of rows[lo:], those that started at or after t, per part of the state
    row_list = rows.tolist()
    vectorise = [True]
    for t in range(T - 1, -1, -1):
        lo = bisect_left(row_list, t)
        if lo < S and row_list[lo] == t:
            new = tuple(d[None] for d in seeds[t])
            carry = new if carry is None else tuple(torch.cat([n, c]) for n, c in zip(new, carry))
        if carry is None:
            continue
        grad_h[:, 0, lo:, t] = _row_norms(carry[0])
        if t:
            carry = tuple(rows_vjp(steps[t].out, steps[t].state_in, carry, vectorise))
    return rows, grad_h
