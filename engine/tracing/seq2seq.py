"""The encoder-decoder's exact trace: both halves on one time axis, and the gradient across the handoff.

The model (engine.models.network.EncoderDecoderModel), for layer l, source x_0..x_{T-1}, target y_0..y_{T-1}::

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

from dataclasses import dataclass, replace

import numpy as np
import torch

from engine.data import task_loss
from engine.tracing import lagmap
from engine.tracing.attention import trace_attention
from engine.tracing.fused import TraceRun, finish_trace
from engine.tracing.submodules import run_submodules
from engine.tracing.trace import ModuleTrace

__all__ = ["encoder_decoder_loss", "trace_encoder_decoder"]


@dataclass(frozen=True)
class HandoffTrace:
    """:func:`trace_encoder_decoder`'s result: each half's :class:`ModuleTrace` and the joined arrays."""

    encoder: ModuleTrace  # per-unit arrays (L, D, T, N, H)
    decoder: ModuleTrace  # per-unit arrays (L, 1, T, N, H); grad_h0 (L, 1, N, H) is ∂L/∂s_0
    logits: torch.Tensor  # (T, N, O) the head's output at every decoder step, detached
    loss: float
    handoff: int  # T: the joined time axis's first decoder step
    # The lag map on the joined axis (lag_rows > 0): rows are decoder steps (joined indices T + s), columns
    # every encoder and decoder step; what each target word sends back, across the handoff.  None otherwise.
    output_steps: np.ndarray | None = None  # (S,)
    grad_h_by_output: np.ndarray | None = None  # (L, D, S, 2T)
    grad_x_by_output: np.ndarray | None = None  # (S, 2T)
    # With attention (engine/tracing/attention.py), else None: α (T, N, T) of decoder step i over encoder step j
    # (the encoder's reading order), and the part of the encoder's top-layer ∂L/∂h_j that arrives through the
    # attention, (D, T, N, H); the rest, grad_h_recurrent, arrives through the recurrence and the handoff.
    alignment: np.ndarray | None = None
    grad_h_attention: np.ndarray | None = None

    @property
    def handoff_grad_norm(self) -> float:
        """‖∂L/∂s_0‖ over layers, batch and units: all the gradient that reaches the encoder."""
        return float(np.sqrt(np.square(self.decoder.grad_h0, dtype=np.float64).sum()))

    @property
    def handoff_grad_norms(self) -> np.ndarray:
        """(L,) ‖∂L/∂s_0^l‖ per layer."""
        g = np.square(self.decoder.grad_h0, dtype=np.float64)
        return np.sqrt(g.reshape(g.shape[0], -1).sum(-1))

    @property
    def grad_h_recurrent(self) -> np.ndarray | None:
        """(D, T, N, H) the encoder's top-layer ∂L/∂h_j less its attention part; None without attention."""
        if self.grad_h_attention is None:
            return None
        return self.encoder.grad_h[-1] - self.grad_h_attention

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


def trace_encoder_decoder(model, batch, lag_rows: int = 0) -> HandoffTrace:
    """Forward and backward once through ``model`` (an EncoderDecoderModel) on ``batch``, both halves traced.

    Afterwards every parameter's ``.grad`` is what a plain ``encoder_decoder_loss(...)[0].backward()`` leaves.
    A model with attention is traced by :func:`engine.tracing.attention.trace_attention`.
    ``lag_rows`` = S > 0 adds the lag map of at most S decoder steps on the joined axis.
    """
    if getattr(model, "attention", None) is not None:
        return trace_attention(model, batch, lag_rows)
    logits: list[torch.Tensor] = []

    def compute_loss() -> torch.Tensor:
        value, out = encoder_decoder_loss(model, batch)
        logits.append(out)
        return value

    runs, loss = run_submodules(model, compute_loss)
    (enc_run,), (dec_run,) = runs["rnn"], runs["decoder"]
    enc, dec = (finish_trace(run, loss, keep_backward=lag_rows > 0) for run in (enc_run, dec_run))
    T = batch.x.shape[0]
    ht = HandoffTrace(enc, dec, logits[-1].detach(), loss, T)
    if not lag_rows:
        return ht
    rows = lagmap.choose_rows(lagmap.output_steps(dec_run.top_grad), lag_rows)
    grad_h, grad_x = _handoff_lag_map(enc_run, dec_run, rows)
    return replace(ht, output_steps=rows + T, grad_h_by_output=grad_h, grad_x_by_output=grad_x)


def _handoff_lag_map(enc_run: TraceRun, dec_run: TraceRun, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(L, D, S, 2T) and (S, 2T): the decoder's rows through the decoder, then across the handoff.

    ∂s_0^l/∂h_final^{l,d} is the identity for each direction d (s_0^l is their sum), so what a row sends into
    the decoder's initial state enters each encoder direction's final state as it is.
    """
    enc, dec = enc_run.stack, dec_run.stack
    L, D = len(enc), len(enc[0])
    T = dec[0][0].keep.shape[0]
    S = len(rows)
    grad_h, grad_x = np.zeros((L, D, S, 2 * T)), np.zeros((S, 2 * T))
    for lo, hi in lagmap.chunks(S, (enc, dec)):
        back = lagmap.stack_rows(dec, lagmap.output_feeds(dec, dec_run.top_grad, rows[lo:hi]))
        last = np.full(hi - lo, T - 1)  # both directions' last processed step: the handoff
        feeds = [lagmap.Feed(None, last, back.grad_h0[layer], back.grad_c0[layer])
                 for layer in range(L) for _ in range(D)]
        front = lagmap.stack_rows(enc, feeds)
        grad_h[:, :, lo:hi, :T] = front.grad_h
        grad_h[:, 0, lo:hi, T:] = back.grad_h[:, 0]
        grad_x[lo:hi] = np.concatenate([lagmap.norms(front.grad_x), lagmap.norms(back.grad_x)], axis=1)
    return grad_h, grad_x
