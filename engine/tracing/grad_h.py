"""∂L/∂h_t of a traced fused call, read from what its backward pass left (engine/tracing/fused.py's equations).

:func:`read_grad_h` is the reading of one layer and direction, shared by the whole trace
(:func:`engine.tracing.fused.finish_trace`) and by :func:`grad_h_norms`, which gives only ‖∂L/∂h_t‖: what a
training step's profile and each row of an attention model's lag map read, without the per-unit arrays, the cell
state or the gates (the GRU's reset and update excepted, which its recurrence needs).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

__all__ = ["grad_h_norms", "layer_weights", "read_grad_h"]


def layer_weights(module: nn.RNNBase, layer: int, direction: int):
    """(W_ih, W_hh, b_ih, b_hh, W_hr) of one layer and direction, None where the module has none."""
    sfx = f"_l{layer}" + ("_reverse" if direction else "")
    w_ih = getattr(module, "weight_ih" + sfx)
    w_hh = getattr(module, "weight_hh" + sfx)
    b_ih = getattr(module, "bias_ih" + sfx) if module.bias else None
    b_hh = getattr(module, "bias_hh" + sfx) if module.bias else None
    w_hr = getattr(module, "weight_hr" + sfx) if getattr(module, "proj_size", 0) else None
    return w_ih, w_hh, b_ih, b_hh, w_hr


def grad_or_zeros(t: torch.Tensor) -> torch.Tensor:
    return t.grad if t.grad is not None else torch.zeros_like(t)


def scan(a: np.ndarray, m: np.ndarray | None, x0: np.ndarray | None, backward: bool) -> np.ndarray:
    """Solve x_t = a_t + m_t ⊙ x_{t∓1} along axis 0 (x_{-1} = x0, or 0).

    Forward: x_t = a_t + m_t ⊙ x_{t-1}.  Backward: x_t = a_t + m_{t+1} ⊙ x_{t+1}.
    """
    x = np.empty_like(a)
    T = a.shape[0]
    tmp = np.empty_like(a[0])
    if backward:
        x[T - 1] = a[T - 1]
        for t in range(T - 2, -1, -1):
            np.multiply(m[t + 1], x[t + 1], out=tmp)
            np.add(a[t], tmp, out=x[t])
    else:
        x[0] = a[0] if x0 is None else a[0] + m[0] * x0
        for t in range(1, T):
            np.multiply(m[t], x[t - 1], out=tmp)
            np.add(a[t], tmp, out=x[t])
    return x


def cut_at(m: np.ndarray, cut: np.ndarray) -> np.ndarray:
    """Zero a recurrence factor at the first step of each truncation window: the detach sends nothing back."""
    if not cut.any():
        return m
    m = m.copy()
    m[cut] = 0
    return m


def masked(m: np.ndarray, layout) -> np.ndarray:
    """Zero a step's recurrence factor past each sequence's end, so padding sends nothing back."""
    return m if layout.valid is None else np.where(layout.valid[..., None], m, 0)


def read_grad_h(cell: str, layout, direct: torch.Tensor, extra: torch.Tensor | None, start: torch.Tensor | None,
                gates: dict, w_hh: torch.Tensor, keep: torch.Tensor, cut: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(∂L/∂h_t (T, N, P), ∂L/∂h_0 (N, P)) of one layer and direction, in its processing order, as numpy.

    ``direct`` (T, N, P): what h_t receives from above (and, at the last step, through its final state); ``extra``
    (T, N, E): what the zero input read, or None for a call of one step, whose ``start`` (1, N, P) is h_0's own
    gradient; ``gates``: the GRU's ``reset`` and ``update`` (T, N, H); ``keep``/``cut``: truncation windows.
    """
    a = direct.clone()  # a_t: everything ∂L/∂h_t receives except (GRU) z_{t+1} ⊙ ∂L/∂h_{t+1}
    P = direct.shape[-1]
    if extra is None:  # one step: nothing to follow inside the call, h_0's gradient its own
        g0 = start[0].numpy()
    else:
        rec = extra[..., :P]  # into h_{t-1} from step t
        a[:-1] += rec[1:] * keep[1:]
        g0 = rec[0].numpy()
    if cell != "gru":
        return a.numpy(), g0
    H = w_hh.shape[0] // 3
    z = cut_at(masked(gates["update"].numpy(), layout), cut)
    if extra is not None:
        g_new, w_hn = extra[..., H:], w_hh[2 * H :]  # ∂L/∂a_t, the n gate's input-side pre-activation
        a[:-1] += ((gates["reset"][1:] * g_new[1:]) @ w_hn) * keep[1:]
    grad_h = scan(a.numpy(), z, None, backward=True)
    if extra is not None:
        g0 = g0 + ((gates["reset"][0] * g_new[0]) @ w_hn).numpy() + z[0] * grad_h[0]
    return grad_h, g0


def windows(run) -> tuple[np.ndarray, torch.Tensor]:
    """(cut, keep): cut[t] when processing step t starts a truncation window after the first, so nothing flows back
    from it to t-1; keep (T, 1, 1) its complement."""
    cut = np.zeros(run.layout.T, dtype=bool)
    if run.tbptt:
        cut[run.tbptt :: run.tbptt] = True
    return cut, torch.from_numpy(~cut)[:, None, None]


def direction_reads(run, layer: int, d: int, g_out: torch.Tensor, layer_in: torch.Tensor):
    """(grid, h_prev (T, N, P), direct (T, N, P)) of one layer and direction, in its processing order: ``grid`` puts
    rows of the layer in that order."""
    layout, P = run.layout, run.outs[layer].shape[-1] // (2 if run.module.bidirectional else 1)
    k = layer * (2 if run.module.bidirectional else 1) + d

    def grid(rows: torch.Tensor) -> torch.Tensor:  # this direction's processing order, (T, N, ·)
        return layout.grid(layout.reverse(rows) if d else rows)

    h = grid(run.outs[layer][..., d * P : (d + 1) * P])  # (T, N, P)
    h0 = run.states[0][k : k + 1].detach() if run.states is not None else h.new_zeros(1, layout.N, P)
    direct = grid(g_out[..., d * P : (d + 1) * P])
    h_n = run.finals[k][0]
    if h_n.grad is not None:  # the final state itself reaches the loss (a decoder starts from it)
        direct = direct.clone()
        layout.add_at_last(direct, h_n.grad[0])
    return grid, h, torch.cat([h0, h[:-1]]), direct


def _reset_update(x, h_prev, w_ih, w_hh, b_ih, b_hh) -> dict[str, torch.Tensor]:
    """The GRU's r_t and z_t of every step at once, (T, N, H) each."""
    H = w_hh.shape[0] // 3
    pre = x @ w_ih[: 2 * H].T + h_prev @ w_hh[: 2 * H].T  # (T, N, 2H)
    if b_ih is not None:
        pre = pre + (b_ih[: 2 * H] + b_hh[: 2 * H])
    r, z = pre.sigmoid().chunk(2, dim=-1)
    return {"reset": r, "update": z}


def grad_h_norms(run) -> np.ndarray:
    """(L, D, T) ‖∂L/∂h_t‖ over batch and units of a traced call once its loss is backpropagated: the
    ``grad_h_norm`` of :func:`engine.tracing.fused.finish_trace`, read without the rest of the trace."""
    module, layout = run.module, run.layout
    L, D = module.num_layers, 2 if module.bidirectional else 1
    cut, keep = windows(run)
    norms = np.empty((L, D, layout.T))
    with torch.no_grad():
        layer_in = run.x
        for layer in range(L):
            g_out = grad_or_zeros(run.outs[layer])
            extra = None if run.starts is not None else grad_or_zeros(run.extras[layer])
            for d in range(D):
                w_ih, w_hh, b_ih, b_hh, _ = layer_weights(module, layer, d)
                grid, _, h_prev, direct = direction_reads(run, layer, d, g_out, layer_in)
                gates = _reset_update(grid(layer_in), h_prev, w_ih, w_hh, b_ih, b_hh) if run.cell == "gru" else {}
                E = 0 if extra is None else extra.shape[-1] // D
                start = None if extra is not None else grad_or_zeros(run.starts[layer * D + d])
                ext = None if extra is None else grid(extra[..., d * E : (d + 1) * E])
                grad_h, _ = read_grad_h(run.cell, layout, direct, ext, start, gates, w_hh, keep, cut)
                grad_h = layout.to_input_order(grad_h) if d else grad_h
                norms[layer, d] = np.sqrt(np.square(grad_h, dtype=np.float64).sum(axis=(1, 2)))
            layer_in = run.outs[layer]
    return norms
