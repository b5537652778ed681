"""The recurrent cells' equations, in PyTorch's conventions.

Shapes: x (T, N, I) inputs, h_prev (T, N, H) the state each step starts from,
W_ih (G*H, I), W_hh (G*H, H), b_ih and b_hh (G*H,) or None, with G gate blocks
stacked in PyTorch's order.

Vanilla RNN (G = 1)::

    h_t = φ(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh),   φ = tanh or relu

LSTM (G = 4, blocks i, f, g, o)::

    i_t = σ(W_ii x_t + b_ii + W_hi h_{t-1} + b_hi)      input gate
    f_t = σ(W_if x_t + b_if + W_hf h_{t-1} + b_hf)      forget gate
    g_t = tanh(W_ig x_t + b_ig + W_hg h_{t-1} + b_hg)   cell candidate
    o_t = σ(W_io x_t + b_io + W_ho h_{t-1} + b_ho)      output gate
    c_t = f_t ⊙ c_{t-1} + i_t ⊙ g_t
    h_t = o_t ⊙ tanh(c_t)

GRU (G = 3, blocks r, z, n)::

    r_t = σ(W_ir x_t + b_ir + W_hr h_{t-1} + b_hr)             reset gate
    z_t = σ(W_iz x_t + b_iz + W_hz h_{t-1} + b_hz)             update gate
    n_t = tanh(W_in x_t + b_in + r_t ⊙ (W_hn h_{t-1} + b_hn))  new state
    h_t = (1 - z_t) ⊙ n_t + z_t ⊙ h_{t-1}

Because every h_{t-1} is known once the fused module has run, the gates of all
timesteps come out of one matrix product each: no loop over time.
"""

from __future__ import annotations

import torch

__all__ = ["DERIVATIVE_BOUND", "GATES", "NUM_BLOCKS", "gate_activations"]

# Gate names as the app shows them, in PyTorch's block order.
GATES: dict[str, tuple[str, ...]] = {
    "rnn": (),
    "lstm": ("input", "forget", "cell", "output"),
    "gru": ("reset", "update", "new"),
}

NUM_BLOCKS: dict[str, int] = {"rnn": 1, "lstm": 4, "gru": 3}

# Upper bound of |φ'| for the vanilla RNN's activation (tanh' ≤ 1, relu' ∈ {0, 1}).
DERIVATIVE_BOUND: dict[str, float] = {"tanh": 1.0, "relu": 1.0}


def _affine(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor | None) -> torch.Tensor:
    y = x @ w.T  # (T, N, G*H)
    return y if b is None else y + b


def gate_activations(
    cell: str,
    x: torch.Tensor,
    h_prev: torch.Tensor,
    w_ih: torch.Tensor,
    w_hh: torch.Tensor,
    b_ih: torch.Tensor | None,
    b_hh: torch.Tensor | None,
) -> dict[str, torch.Tensor]:
    """Gate activations of every timestep at once, each (T, N, H), named as in :data:`GATES`."""
    if cell == "rnn":
        return {}
    gi = _affine(x, w_ih, b_ih)  # (T, N, G*H)
    gh = _affine(h_prev, w_hh, b_hh)  # (T, N, G*H)
    if cell == "lstm":
        i, f, g, o = (gi + gh).chunk(4, dim=-1)
        return {"input": i.sigmoid(), "forget": f.sigmoid(), "cell": g.tanh(), "output": o.sigmoid()}
    if cell == "gru":
        i_r, i_z, i_n = gi.chunk(3, dim=-1)
        h_r, h_z, h_n = gh.chunk(3, dim=-1)
        r = (i_r + h_r).sigmoid()
        z = (i_z + h_z).sigmoid()
        n = (i_n + r * h_n).tanh()
        return {"reset": r, "update": z, "new": n}
    raise ValueError(f"cell must be 'rnn', 'lstm' or 'gru'; got {cell!r}")
