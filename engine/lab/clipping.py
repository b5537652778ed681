"""Gradient norms and clipping, with exactly PyTorch's semantics (we call its functions)."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

import torch
from torch import nn


@dataclass(frozen=True)
class ClipResult:
    total_norm: float  # total L2 norm of all gradients before clipping (what clip_grad_norm_ returns)
    total_norm_clipped: float  # the same after clipping
    clip_coef: float | None  # clip='norm': min(1, clip_at / (total_norm + 1e-6)); 'none': 1.0; 'value': None
    clipped_fraction: float  # share of gradient entries that clipping changed


def total_norm(params: Iterable[nn.Parameter]) -> float:
    grads = [p.grad for p in params if p.grad is not None]
    return float(torch.nn.utils.get_total_norm(grads, norm_type=2.0)) if grads else 0.0


def clip_gradients(params: list[nn.Parameter], clip: str, clip_at: float) -> ClipResult:
    """Clip the ``.grad`` of ``params`` in place as ``clip`` says and report what happened."""
    before = [p.grad.clone() for p in params if p.grad is not None]
    if clip == "norm":
        norm = float(torch.nn.utils.clip_grad_norm_(params, clip_at, norm_type=2.0, error_if_nonfinite=False))
        # As clip_grad_norm_ computes it: clamp(max_norm / (norm + 1e-6), max=1), so a NaN norm gives NaN.
        ratio = clip_at / (norm + 1e-6)
        coef: float | None = ratio if math.isnan(ratio) else min(1.0, ratio)
    elif clip == "value":
        norm = total_norm(params)
        torch.nn.utils.clip_grad_value_(params, clip_at)
        coef = None
    elif clip == "none":
        norm = total_norm(params)
        coef = 1.0
    else:
        raise ValueError(f"clip must be 'none', 'norm' or 'value'; got {clip!r}")
    after = [p.grad for p in params if p.grad is not None]
    # NaN != NaN, so an entry that was NaN and stays NaN is not "changed".
    changed = sum(int((~((a == b) | (a.isnan() & b.isnan()))).sum()) for a, b in zip(after, before))
    entries = sum(b.numel() for b in before)
    return ClipResult(norm, total_norm(params), coef, changed / entries if entries else 0.0)


def parameter_grad_norms(module: nn.Module, prefix: str = "") -> dict[str, float]:
    """L2 norm of each parameter's gradient, keyed by PyTorch's names (``weight_hh_l0``, ...)."""
    return {
        prefix + name: float(p.grad.double().norm()) if p.grad is not None else 0.0
        for name, p in module.named_parameters()
    }
