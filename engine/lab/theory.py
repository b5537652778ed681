"""What theory predicts for gradient flow, from the recurrent weights alone.

For a vanilla RNN, h_t = φ(W_ih x_t + W_hh h_{t-1} + b), the step Jacobian is
∂h_t/∂h_{t-1} = diag(φ'(·)) W_hh, so its norm is at most η = γ·σ_max(W_hh), with
γ = sup|φ'| (1 for tanh and relu).  If the loss (or the layer above) injects a
gradient of norm ‖δ_s‖ at step s, the triangle inequality gives

    ‖∂L/∂h_t‖ ≤ Σ_{s ≥ t} ‖δ_s‖ η^{s-t}

(Pascanu, Mikolov & Bengio, 2013): with η < 1 the signal from step s shrinks at
least geometrically with the distance s − t; η > 1 is necessary for explosion.
Gated cells have data-dependent Jacobians, so for them we report the weight
figures but no bound.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from engine.models import DERIVATIVE_BOUND, GATES, NUM_BLOCKS

__all__ = ["gate_products"]


def weight_figures(module: nn.RNNBase, cell: str, nonlinearity: str) -> dict:
    """σ_max and spectral radius of each recurrent matrix, per gate block for LSTM/GRU, as nested lists (L, D).

    Also the eigenvalues (real and imaginary parts) of layer 0's forward W_hh (RNN) or of each of its gate
    blocks.  Eigenvalues are computed in float32 (they are shown, not differentiated; float64 costs twice
    as much at H = 256).
    """
    L, D, H = module.num_layers, 2 if module.bidirectional else 1, module.hidden_size
    G = NUM_BLOCKS[cell]
    names = GATES[cell] or ("recurrent",)
    suffixes = [f"_l{layer}" + ("_reverse" if d else "") for layer in range(L) for d in range(D)]
    with torch.no_grad():
        w = torch.stack([getattr(module, "weight_hh" + s).detach() for s in suffixes]).double()  # (L*D, G*H, H)
        sigma = torch.linalg.matrix_norm(w, ord=2).view(L, D)
        blocks = w.view(L * D, G, H, H)
        block_sigma = torch.linalg.matrix_norm(blocks, ord=2).view(L, D, G)
        eig = torch.linalg.eigvals(blocks.float()).view(L, D, G, H)
        block_radius = eig.abs().amax(-1).double()
    per_gate = {n: block_sigma[..., k].tolist() for k, n in enumerate(names)}
    radius = {n: block_radius[..., k].tolist() for k, n in enumerate(names)}
    eigen = {n: {"real": eig[0, 0, k].real.tolist(), "imag": eig[0, 0, k].imag.tolist()} for k, n in enumerate(names)}
    gamma = DERIVATIVE_BOUND[nonlinearity] if cell == "rnn" else None
    return {
        "sigma_max": sigma.tolist(),  # (L, D) largest singular value of the whole W_hh
        "spectral_radius": radius["recurrent"] if cell == "rnn" else None,
        "gate_sigma_max": per_gate if cell != "rnn" else None,
        "gate_spectral_radius": radius if cell != "rnn" else None,
        "eigenvalues": eigen,
        "derivative_bound": gamma,  # sup |φ'| for the RNN's activation
        "contraction": (gamma * sigma).tolist() if gamma is not None else None,  # η = γ σ_max
    }


def geometric_bound(grad_out_norm: np.ndarray, contraction: list[list[float]], tbptt: int = 0) -> np.ndarray:
    """Bound (L, D, T) on ‖∂L/∂h_t‖: b_t = ‖δ_t‖ + η b_{t+1} (the reverse direction runs the other way).

    ``grad_out_norm`` (L, D, T) holds ‖δ_t‖, the gradient the loss or the layer above injects at t.
    With truncated BPTT (``tbptt`` = k > 0) nothing crosses a window's start: b_t = ‖δ_t‖ where t+1 begins a
    window (every k-th step of each direction's own order).
    """
    L, D, T = grad_out_norm.shape
    bound = np.empty((L, D, T))
    with np.errstate(over="ignore", invalid="ignore"):
        for layer in range(L):
            for d in range(D):
                eta = contraction[layer][d]
                delta = grad_out_norm[layer, d] if d == 0 else grad_out_norm[layer, d, ::-1]
                b = np.empty(T)
                acc = 0.0
                for t in range(T - 1, -1, -1):
                    acc = delta[t] + (0.0 if tbptt and (t + 1) % tbptt == 0 else eta * acc)
                    b[t] = acc
                bound[layer, d] = b if d == 0 else b[::-1]
    return bound


def gate_products(gates: dict[str, np.ndarray], cell: str) -> np.ndarray | None:
    """Product of the mean forget (LSTM) or update (GRU) gate between t and the end: (L, D, T).

    The LSTM's cell state carries gradient from step s back to t through f_{t+1}⋯f_s, and the GRU's
    state through z_{t+1}⋯z_s: where this product stays near 1 the memory path is open.  For the
    forward direction P_t = ∏_{s>t} m_s; the reverse direction runs the other way.
    """
    name = {"lstm": "forget", "gru": "update"}.get(cell)
    if name is None:
        return None
    g = np.asarray(gates[name], dtype=np.float64)
    mean = g.reshape(g.shape[:3] + (-1,)).mean(-1)  # (L, D, T)
    ones = np.ones(mean.shape[:2] + (1,))
    fwd = np.concatenate([np.cumprod(mean[:, :, :0:-1], axis=-1)[:, :, ::-1], ones], axis=-1)
    rev = np.concatenate([ones, np.cumprod(mean[:, :, :-1], axis=-1)], axis=-1)
    return np.concatenate([fwd[:, :1], rev[:, 1:]], axis=1)
