"""Attention for the encoder-decoder: every decoder step reads a weighted sum of every encoder state.

The annotations h_j are the encoder's top layer at source step j (in the order it reads them), its two
directions summed as the handoff sums them (engine/models/network.py), so that they are H wide like the
decoder's state.  Shapes: h (T, N, H) annotations, s (N, H) or (T, N, H) decoder states.

Additive (Bahdanau, Cho & Bengio 2015), scored from the state *before* decoder step i::

    e_ij = vᵀ tanh(W s_{i−1} + U h_j)          W, U (H, H), v (H,)
    α_ij = exp(e_ij) / Σ_k exp(e_ik)           the alignment, rows sum to 1
    c_i  = Σ_j α_ij h_j                        the context
    s_i  = cell(s_{i−1}, [y_{i−1}; c_i])       the context enters the decoder's input
    p(y_i | ·) = softmax(head(s_i))            (the paper's deep output g(y_{i−1}, s_i, c_i) reduced to s_i)

Dot (global attention, Luong, Pham & Manning 2015), scored from the state *after* decoder step i::

    s_i  = cell(s_{i−1}, y_{i−1})              the decoder as without attention
    e_ij = s_iᵀ h_j
    α_ij, c_i as above
    s̃_i  = tanh(W_c [c_i; s_i])                W_c (H, 2H), the attentional state
    p(y_i | ·) = softmax(head(s̃_i))

The additive decoder needs s_{i−1} before step i can read its input, so it runs a step at a time; the dot
decoder runs over the whole target at once, as the decoder without attention does.
"""

from __future__ import annotations

import torch
from torch import nn

ATTENTION_KINDS = ("none", "additive", "dot")


def annotations(out: torch.Tensor, num_directions: int) -> torch.Tensor:
    """The encoder's top-layer output (T, N, D*H) -> h (T, N, H), the directions summed."""
    if num_directions == 1:
        return out
    H = out.shape[-1] // 2
    return out[..., :H] + out[..., H:]


class AdditiveAttention(nn.Module):
    """e_ij = vᵀ tanh(W s_{i−1} + U h_j): ``query`` is W, ``key`` is U, ``score`` is v (no biases)."""

    def __init__(self, hidden_size: int, dtype: torch.dtype = torch.float32):
        super().__init__()
        self.query = nn.Linear(hidden_size, hidden_size, bias=False, dtype=dtype)  # W
        self.key = nn.Linear(hidden_size, hidden_size, bias=False, dtype=dtype)  # U
        self.score = nn.Linear(hidden_size, 1, bias=False, dtype=dtype)  # v

    def forward(self, s_prev: torch.Tensor, h: torch.Tensor, keys: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``s_prev`` (N, H), ``h`` (T, N, H), ``keys`` = U h (T, N, H) -> context (N, H), α (N, T)."""
        e = self.score(torch.tanh(self.query(s_prev) + keys)).squeeze(-1)  # (T, N)
        alpha = torch.softmax(e, dim=0)  # (T, N), over source steps
        return (alpha[..., None] * h).sum(0), alpha.T  # (N, H), (N, T)


class DotAttention(nn.Module):
    """e_ij = s_iᵀ h_j over every decoder step at once; ``combine`` is W_c of s̃_i = tanh(W_c [c_i; s_i])."""

    def __init__(self, hidden_size: int, dtype: torch.dtype = torch.float32):
        super().__init__()
        self.combine = nn.Linear(2 * hidden_size, hidden_size, bias=False, dtype=dtype)  # W_c

    def forward(self, s: torch.Tensor, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``s`` (T', N, H) decoder states, ``h`` (T, N, H) -> s̃ (T', N, H), α (T', N, T)."""
        e = torch.einsum("inh,jnh->inj", s, h)  # (T', N, T)
        alpha = torch.softmax(e, dim=-1)  # (T', N, T)
        context = torch.einsum("inj,jnh->inh", alpha, h)  # (T', N, H)
        return torch.tanh(self.combine(torch.cat([context, s], dim=-1))), alpha  # (T', N, H), (T', N, T)


def build_attention(kind: str, hidden_size: int, dtype: torch.dtype) -> nn.Module | None:
    """The attention module of ``kind`` (one of :data:`ATTENTION_KINDS`); None for 'none'."""
    if kind == "none":
        return None
    if kind == "additive":
        return AdditiveAttention(hidden_size, dtype)
    if kind == "dot":
        return DotAttention(hidden_size, dtype)
    raise ValueError(f"attention must be one of {', '.join(map(repr, ATTENTION_KINDS))}; got {kind!r}")
