"""The encoder-decoder's exact trace: both halves on one time axis, and the gradient across the handoff.

The model (engine.network.EncoderDecoderModel), for layer l, source x_0..x_{T-1}, target y_0..y_{T-1}::

    encoder:  h_t^{l,d} = cell(h_{t∓1}^{l,d}, input)          t = 0..T-1, D directions, over x (or x reversed)
    handoff:  s_0^l = h_final^{l,→} + h_final^{l,←}              (one direction: s_0^l = h_final^l; LSTM: c too)
    decoder:  s_t^l = cell(s_{t-1}^l, input)                    t = 1..T, one direction, from s_0
              input at decoder step t: one-hot(y_{t-1}), a start symbol at t = 0 (teacher forcing)
    loss:     L = mean over t, n of cross-entropy(head(s_t^L), y_t)

Summing the directions keeps the decoder H wide, and makes ∂L/∂h_final of each direction exactly
∂L/∂s_0: the handoff passes the same gradient to both.

The trace's time axis has 2T steps: the encoder's steps 0..T-1 in the order it reads them (with
``reverse_source`` step 0 reads the source's last word x_{T-1}), then the decoder's steps T..2T-1
(decoder step t at T + t).  ``handoff`` = T, the first decoder step.  The decoder has one direction:
over its steps, direction 1's rows (bidirectional encoder) are 0.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from engine.modules import trace_submodules
from engine.tasks import task_loss
from engine.tracing import ModuleTrace


@dataclass(frozen=True)
class HandoffTrace:
    """:func:`trace_encoder_decoder`'s result: each half's :class:`ModuleTrace` and the joined arrays."""

    encoder: ModuleTrace  # per-unit arrays (L, D, T, N, H)
    decoder: ModuleTrace  # per-unit arrays (L, 1, T, N, H); grad_h0 (L, 1, N, H) is ∂L/∂s_0
    logits: torch.Tensor  # (T, N, O) the head's output at every decoder step, detached
    loss: float
    handoff: int  # T: the joined time axis's first decoder step

    @property
    def handoff_grad_norm(self) -> float:
        """‖∂L/∂s_0‖ over layers, batch and units: all the gradient that reaches the encoder."""
        return float(np.sqrt(np.square(self.decoder.grad_h0, dtype=np.float64).sum()))

    @property
    def handoff_grad_norms(self) -> np.ndarray:
        """(L,) ‖∂L/∂s_0^l‖ per layer."""
        g = np.square(self.decoder.grad_h0, dtype=np.float64)
        return np.sqrt(g.reshape(g.shape[0], -1).sum(-1))

    def joined(self, name: str) -> np.ndarray | None:
        """The encoder's array then the decoder's along time (axis 2): (L, D, 2T, ...).

        ``name`` is a ModuleTrace field (``hidden``, ``grad_h``, ``grad_h_norm``, ...) or a gate name.
        """
        enc, dec = _field(self.encoder, name), _field(self.decoder, name)
        if enc is None:
            return None
        D = enc.shape[1]
        if D > dec.shape[1]:  # the decoder's missing direction: 0
            dec = np.concatenate([dec, np.zeros((dec.shape[0], D - dec.shape[1], *dec.shape[2:]), dec.dtype)], 1)
        return np.concatenate([enc, dec.astype(enc.dtype, copy=False)], axis=2)


def _field(trace: ModuleTrace, name: str) -> np.ndarray | None:
    if name in trace.gates:
        return trace.gates[name]
    return getattr(trace, name)


def encoder_decoder_loss(model, batch) -> tuple[torch.Tensor, torch.Tensor]:
    """(loss, logits): the mean cross-entropy over every decoder step, as a plain forward computes it."""
    logits = model(batch.x, batch.y)  # (T, N, O)
    return task_loss(logits, batch), logits


def trace_encoder_decoder(model, batch) -> HandoffTrace:
    """Forward and backward once through ``model`` (an EncoderDecoderModel) on ``batch``, both halves traced.

    Afterwards every parameter's ``.grad`` is what a plain ``encoder_decoder_loss(...)[0].backward()`` leaves.
    """
    logits: list[torch.Tensor] = []

    def compute_loss() -> torch.Tensor:
        value, out = encoder_decoder_loss(model, batch)
        logits.append(out)
        return value

    traces = trace_submodules(model, compute_loss)
    enc, dec = traces["rnn"], traces["decoder"]
    return HandoffTrace(enc, dec, logits[-1].detach(), dec.loss, batch.x.shape[0])
