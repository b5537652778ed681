"""Where each step's gradient comes from: ∂L/∂h_t itemised by the output step it leaves the network through.

``out_s`` is what the recurrent network returns at step s (the top layer, every direction), and
g_s = ∂L/∂out_s whatever the loss does with it.  Row s of the lag map is the part of the total
derivative at h_t that reaches it from output s alone::

    δ_t^{(s)} = (∂out_s/∂h_t)ᵀ g_s            Σ_s δ_t^{(s)} = ∂L/∂h_t      (as vectors)

and the map holds ‖δ_t^{(s)}‖ (Frobenius over batch and units) for every layer, direction, row s
and state step t, and the same for the inputs x_t.  It needs no split of the loss into terms, so it
holds for any loss.

The backward pass is linear in g, so the S rows are S backward passes of one network.  They run as
one: a single sweep over time in each layer and direction whose every step multiplies S right-hand
sides at once, reusing the activations the trace already holds (no second forward).  Per step, in a
direction's own processing order, with δh the total derivative at h_t and the carry what step t+1
sends back::

    RNN:   δa = δh ⊙ φ'(a_t)                                   carry = W_hhᵀ δa
    LSTM:  δc = δm ⊙ o ⊙ (1 − tanh² c_t) + f_{t+1} ⊙ δc_{t+1}    δm = δh (or W_hrᵀ δh with proj_size)
           δ(i, f, g, o) = (δc ⊙ g ⊙ i(1−i), δc ⊙ c_{t−1} ⊙ f(1−f), δc ⊙ i ⊙ (1−g²), δm ⊙ tanh c ⊙ o(1−o))
           carry = W_hhᵀ δ(i, f, g, o)
    GRU:   δn = δh ⊙ (1−z) ⊙ (1−n²)   δz = δh ⊙ (h_{t−1} − n) ⊙ z(1−z)   δr = δn ⊙ (W_hn h_{t−1} + b_hn) ⊙ r(1−r)
           carry = z ⊙ δh + W_hhᵀ (δr, δz, r ⊙ δn)

and the gradient a layer passes down is W_ihᵀ of its gate gradients, one matrix product for every
row and step after the sweep.  A truncation window's first step sends nothing back (tbptt), as in the
trace.  A row is zero after (in processing order) its last non-zero input, so the sweep only carries
the rows already started.  Rows are processed in chunks so that no more than a fixed number of bytes
of S × T × N × H arrays is held at once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from engine.tracing._subnormal import denormals_flushed


@dataclass
class LayerBackward:
    """One layer and direction of a traced run, ready for :func:`backward_rows`; grids in processing order.

    ``coef`` holds the per-step factors of the backward step above, (T, N, ·); ``keep`` (T,) is False at a
    truncation window's first step; ``rev`` maps processing step to input position for direction 1 ((T, N)
    indices for packed sequences, None for padded ones, which are simply flipped).
    """

    cell: str  # 'rnn' | 'lstm' | 'gru'
    direction: int  # 0 forward, 1 reverse
    w_ih: torch.Tensor  # (G*H, I)
    w_hh: torch.Tensor  # (G*H, P)
    w_hr: torch.Tensor | None  # (P, H) LSTM projection
    coef: dict[str, torch.Tensor]
    keep: torch.Tensor  # (T,) bool
    rev: torch.Tensor | None  # (T, N) int64


def layer_backward(cell: str, direction: int, weights, gates: dict[str, torch.Tensor], h: torch.Tensor,
                   h_prev: torch.Tensor, c: torch.Tensor | None, c_prev: torch.Tensor | None,
                   nonlinearity: str, keep: torch.Tensor, rev: torch.Tensor | None) -> LayerBackward:
    """The factors of one layer-direction's backward step, from what the trace computed (processing order).

    ``weights`` is ``(w_ih, w_hh, b_ih, b_hh, w_hr)``; ``gates`` as :func:`engine.models.cells.gate_activations`
    names them, each (T, N, H); ``h``, ``h_prev`` (T, N, P); ``c``, ``c_prev`` (T, N, H) for the LSTM.  The rows
    are swept in float64 whatever the module's dtype (see :func:`stack_rows`).
    """
    w_ih, w_hh, _, b_hh, w_hr = (w.detach().double() if w is not None else None for w in weights)
    gates = {k: v.double() for k, v in gates.items()}
    h, h_prev = h.double(), h_prev.double()
    c, c_prev = (None, None) if c is None else (c.double(), c_prev.double())
    if cell == "rnn":
        dphi = (h > 0).to(h.dtype) if nonlinearity == "relu" else 1 - h * h  # φ'(a_t) from h_t = φ(a_t)
        coef = {"dphi": dphi}
    elif cell == "lstm":
        i, f, g, o = (gates[k] for k in ("input", "forget", "cell", "output"))
        tanh_c = torch.tanh(c)
        # δ(i, f, g) = δc ⊙ coef, δo = δm ⊙ coef: one product over the four blocks, (T, N, 4H)
        gate_coef = torch.cat([g * i * (1 - i), c_prev * f * (1 - f), i * (1 - g * g), tanh_c * o * (1 - o)], -1)
        coef = {"out": o * (1 - tanh_c * tanh_c), "gates": gate_coef, "forget": f}
    else:
        r, z, n = (gates[k] for k in ("reset", "update", "new"))
        H = n.shape[-1]
        hn = h_prev @ w_hh[2 * H :].T + (b_hh[2 * H :] if b_hh is not None else 0)  # W_hn h_{t-1} + b_hn
        coef = {"new": (1 - z) * (1 - n * n), "update": (h_prev - n) * z * (1 - z), "reset": hn * r * (1 - r),
                "r": r, "z": z}
    return LayerBackward(cell, direction, w_ih, w_hh, w_hr, coef, keep, rev)


def to_processing(x: torch.Tensor, lb: LayerBackward) -> torch.Tensor:
    """(T, S, N, X) in input order -> this direction's processing order (its own inverse)."""
    if lb.direction == 0:
        return x
    if lb.rev is None:
        return x.flip(0)
    index = lb.rev[:, None, :, None].expand(-1, x.shape[1], -1, x.shape[-1])
    return x.gather(0, index)


@dataclass
class Feed:
    """What S rows send into one layer-direction's states from outside it, in its processing order.

    ``dense`` (T, S, N, P), or None; ``spike_step`` (S,) and ``spike_h`` (S, N, P) (``spike_c`` (S, N, H) for
    the LSTM's c): row i also receives one value at one step (its output, or the final state), -1 for none.
    """

    dense: torch.Tensor | None
    spike_step: np.ndarray
    spike_h: torch.Tensor | None = None
    spike_c: torch.Tensor | None = None

    def __post_init__(self) -> None:  # the rows are swept in float64 (see stack_rows), whatever fed them
        for name in ("dense", "spike_h", "spike_c"):
            value = getattr(self, name)
            if value is not None and value.dtype != torch.float64:
                setattr(self, name, value.double())

    def begins(self, T: int) -> np.ndarray:
        """(S,) the step each row's sweep starts at (it runs backwards): its last input, -1 for none."""
        begins = self.spike_step.copy()
        if self.dense is not None:
            started = self.dense.flatten(2).ne(0).any(-1)  # (T, S)
            last = np.where(started.any(0).numpy(), T - 1 - started.flip(0).int().argmax(0).numpy(), -1)
            begins = np.maximum(begins, last)
        return begins


def _active(begins: np.ndarray, T: int) -> list[tuple[int, int]]:
    """For each step t, a range of rows holding every row under way at t (``begins`` ≥ t).

    Rows come in output order, so those under way are a prefix or a suffix of them in every layer of a
    one-way stack and in a top layer; elsewhere (below a bidirectional layer) every row is under way.
    """
    S = len(begins)
    count = (S - np.searchsorted(np.sort(begins), np.arange(T), side="left")).tolist()  # rows with begins ≥ t
    if np.all(np.diff(begins) <= 0):
        return [(0, c) for c in count]
    if np.all(np.diff(begins) >= 0):
        return [(S - c, S) for c in count]
    return [(0, S) if c else (0, 0) for c in count]


def backward_rows(lb: LayerBackward, feed: Feed, below: torch.Tensor, keep_rows: bool = False):
    """The backward sweep of one layer-direction for S rows at once.

    Adds what every row sends into the layer's input at every step to ``below`` (T, S, N, I), input order.
    Returns ``(norms, rows, grad_h0, grad_c0)``: ‖∂/∂h_t‖ (S, T) in input order; the rows' ∂/∂h_t (T, S, N, P)
    in input order if ``keep_rows`` (else None, or the packed rows); what leaves through the initial state,
    (S, N, P) and (S, N, H) (None but for the LSTM).
    """
    T, S, N, _ = below.shape
    cell, coef, w_hh, w_ih = lb.cell, lb.coef, lb.w_hh, lb.w_ih
    G, P = w_hh.shape
    H = G // {"rnn": 1, "lstm": 4, "gru": 3}[cell]
    dtype = w_hh.dtype
    # Padded steps map to one input position per step, and each step's norms are taken as it is swept; packed
    # ones map to one position per sequence: their rows are kept in processing order and mapped at the end.
    direct_map = lb.rev is None
    pos = (lambda t: t) if lb.direction == 0 or not direct_map else (lambda t: T - 1 - t)
    norm = torch.zeros(T, S, dtype=torch.float64)
    kept = torch.zeros(T, S, N, P, dtype=dtype) if keep_rows or not direct_map else None
    # What goes down, W_ihᵀ of every step's gate gradients: a matrix product per step, into ``down``; or, when a
    # step's rows are few and W_ih is large (a per-step product would read all of W_ih for a handful of rows),
    # one product after the sweep over every step's gate gradients, kept in ``gates``.
    w_in = w_ih.shape[1]
    after = S * N < 64 and G * w_in >= 4096
    gates = torch.zeros(T, S, N, G, dtype=dtype) if after else None
    da_buf = None if after else torch.empty(S, N, G, dtype=dtype)
    down = below if direct_map else torch.zeros_like(below)
    spikes: dict[int, np.ndarray] = {}
    for row, step in enumerate(feed.spike_step):
        if step >= 0:
            spikes.setdefault(int(step), []).append(row)
    dh_buf = torch.empty(S, N, P, dtype=dtype)
    carry = torch.zeros(S, N, P, dtype=dtype)
    carry_c = torch.zeros(S, N, H, dtype=dtype) if cell == "lstm" else None
    keep = lb.keep.tolist()
    for t, (lo, hi) in reversed(list(enumerate(_active(feed.begins(T), T)))):
        if lo >= hi:
            continue
        dh = kept[t, lo:hi] if kept is not None else dh_buf[lo:hi]
        da = gates[t, lo:hi] if after else da_buf[lo:hi]
        if feed.dense is not None:
            torch.add(feed.dense[t, lo:hi], carry[lo:hi], out=dh)
        else:
            dh.copy_(carry[lo:hi])
        rows = spikes.get(t)
        if rows is not None:
            index = torch.tensor(rows)
            dh.index_add_(0, index - lo, feed.spike_h[index])
        if direct_map:
            torch.linalg.vector_norm(dh, dim=(1, 2), dtype=torch.float64, out=norm[pos(t), lo:hi])
        if cell == "rnn":
            torch.mul(dh, coef["dphi"][t], out=da)
            rec = da
        elif cell == "lstm":
            dm = dh if lb.w_hr is None else dh @ lb.w_hr
            dc = torch.addcmul(carry_c[lo:hi], dm, coef["out"][t])
            if rows is not None and feed.spike_c is not None:
                dc.index_add_(0, index - lo, feed.spike_c[index])
            torch.mul(torch.cat([dc, dc, dc, dm], -1), coef["gates"][t], out=da)
            rec = da
            torch.mul(dc, coef["forget"][t], out=carry_c[lo:hi])
        else:
            dn = torch.mul(dh, coef["new"][t], out=da[..., 2 * H :])
            torch.mul(dh, coef["update"][t], out=da[..., H : 2 * H])
            torch.mul(dn, coef["reset"][t], out=da[..., :H])
            rec = torch.cat([da[..., : 2 * H], dn * coef["r"][t]], -1)
        if not after:
            at = down[pos(t), lo:hi]
            at.view(-1, w_in).addmm_(da.reshape(-1, G), w_ih)
        if keep[t] or t == 0:  # step 0's carry is what leaves through the initial state
            torch.matmul(rec, w_hh, out=carry[lo:hi])
            if cell == "gru":
                carry[lo:hi].addcmul_(dh, coef["z"][t])
        else:
            carry[lo:hi] = 0
            if carry_c is not None:
                carry_c[lo:hi] = 0
    if after:
        below += to_processing(gates @ w_ih, lb)
    elif not direct_map:
        below += to_processing(down, lb)
    if not direct_map:
        kept = to_processing(kept, lb)
        norm = torch.linalg.vector_norm(kept, dim=(2, 3), dtype=torch.float64)
    return norm.T.numpy(), (to_processing(kept, lb) if direct_map and keep_rows else kept), carry, carry_c


def norms(grid: torch.Tensor) -> np.ndarray:
    """(T, S, N, X) -> (S, T) Frobenius norms over batch and units, accumulated in float64."""
    return torch.linalg.vector_norm(grid, dim=(2, 3), dtype=torch.float64).T.numpy()


@dataclass(frozen=True)
class RowsResult:
    """One chunk of rows through a whole stack: norms, and what leaves through the initial states."""

    grad_h: np.ndarray  # (L, D, S, T), input order
    grad_x: torch.Tensor  # (T, S, N, I) what each row sends into the stack's input, input order
    grad_h0: list[torch.Tensor]  # per layer*D + d: (S, N, P)
    grad_c0: list[torch.Tensor | None]  # per layer*D + d: (S, N, H), LSTM
    vectors: list[torch.Tensor] | None = None  # per layer*D + d: the rows' ∂/∂h_t (T, S, N, P), if asked for


def stack_rows(stack: Sequence[Sequence[LayerBackward]], top: Sequence[Feed], vectors: bool = False) -> RowsResult:
    """Every layer and direction of a stack, top layer first, for one chunk of rows.

    ``stack[layer][d]``; ``top[layer*D + d]`` what each row sends into that layer-direction from outside the
    stack (its outputs, for the top layer; final states), in its processing order.  ``vectors`` keeps every
    row's ∂/∂h_t, not only its norms.  The rows are swept in float64 with denormal numbers flushed to zero
    (engine/tracing/_subnormal.py): exact to the module's own rounding for a float32 module, whose gradients hold
    nothing under 1.4e-45, far above float64's denormals; for a float64 one, a value under 2.2e-308 counts as 0.
    """
    with denormals_flushed():
        return _stack_rows(stack, top, vectors)


def _stack_rows(stack, top, vectors: bool) -> RowsResult:
    L, D = len(stack), len(stack[0])
    S = len(top[0].spike_step)
    T = stack[0][0].keep.shape[0]
    N = next(iter(stack[0][0].coef.values())).shape[1]
    grad_h = np.zeros((L, D, S, T))
    h0: list[torch.Tensor | None] = [None] * (L * D)
    c0: list[torch.Tensor | None] = [None] * (L * D)
    kept: list[torch.Tensor | None] = [None] * (L * D)
    into = None  # (T, S, N, D*P) from the layer above into this layer's output, input order
    for layer in range(L - 1, -1, -1):
        w_ih = stack[layer][0].w_ih
        below = torch.zeros(T, S, N, w_ih.shape[1], dtype=w_ih.dtype)
        for d, lb in enumerate(stack[layer]):
            feed = top[layer * D + d]
            if into is not None:
                P = lb.w_hh.shape[1]
                part = to_processing(into[..., d * P : (d + 1) * P], lb)
                feed = Feed(part if feed.dense is None else feed.dense + part, feed.spike_step, feed.spike_h,
                            feed.spike_c)
            grad_h[layer, d], rows, h0[layer * D + d], c0[layer * D + d] = backward_rows(lb, feed, below, vectors)
            kept[layer * D + d] = rows
        into = below
    return RowsResult(grad_h, into, h0, c0, kept if vectors else None)
