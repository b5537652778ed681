"""The trace of an encoder-decoder with attention: the alignment, and the encoder's gradient split in two.

The model and its equations are in engine/models/attention.py.  The time axis is the encoder-decoder's
(engine/tracing/seq2seq.py): the encoder's T steps in the order it reads them, then the decoder's.

The encoder's top layer h_j receives its gradient by two roads, and as vectors (over batch and units)::

    ∂L/∂h_j = (∂L/∂h_j)_attention + (∂L/∂h_j)_recurrent

- attention: what the annotation h_j receives from every decoder step's scores e_ij and context c_i,
  exactly the gradient autograd leaves on the encoder's output tensor (its only reader);
- recurrent: the rest, what flows back into h_j through the encoder's own step j+1 and, at the last step,
  through the handoff into the decoder's initial state: the only road a model without attention has.

Both directions of a bidirectional encoder receive the same attention part (the annotation sums them).

The lag map's row s is the gradient of decoder step s's loss term alone: ∂L/∂logits seeded at step s and
zero elsewhere, taken back through the same recorded graph by autograd, and read as the trace reads the
whole gradient, its norms alone (engine/tracing/grad_h.py).  With attention a row reaches every encoder step directly.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import torch

from engine.data import task_loss
from engine.models.network import teacher_inputs
from engine.tracing import lagmap
from engine.tracing.fused import TraceRun, finish_trace
from engine.tracing.grad_h import grad_h_norms
from engine.tracing.joined_stock import finish_steps, join_stock, steps_at_once
from engine.tracing.submodules import run_submodules
from engine.tracing.trace import ModuleTrace


def trace_attention(model, batch, lag_rows: int = 0):
    """:func:`engine.tracing.seq2seq.trace_encoder_decoder` for a model with attention (see the module docstring).

    The result's ``decoder.grad_h0`` is the whole ∂L/∂s_0 (with additive attention s_0 is also the first query),
    read where it enters the encoder's final states.
    """
    from engine.tracing.seq2seq import HandoffTrace  # the result type; seq2seq calls this function

    keep: dict[str, torch.Tensor] = {}
    lag = lag_rows > 0

    def compute_loss() -> torch.Tensor:
        x = batch.x.detach().requires_grad_(lag)  # (T, N, I) leaves whose .grad a lag row reads
        inputs = teacher_inputs(batch.y, model.output_size, batch.x.dtype).requires_grad_(lag)  # (T, N, O+1)
        logits, alpha = model.translate(x, inputs)
        logits.retain_grad()
        keep.update(x=x, inputs=inputs, logits=logits, alpha=alpha)
        return task_loss(logits, batch)

    runs, loss = run_submodules(model, compute_loss, retain_graph=lag)
    (enc_run,), dec_runs = runs["rnn"], runs["decoder"]
    enc, dec = _finish(enc_run, dec_runs, loss)
    grad_h0, grad_c0 = _handoff_grads(enc_run)
    dec = replace(dec, grad_h0=grad_h0, grad_c0=grad_c0)
    T = batch.x.shape[0]
    D = 2 if enc_run.module.bidirectional else 1
    top = enc_run.outs[-1].grad
    top = torch.zeros_like(enc_run.outs[-1]) if top is None else top  # (T, N, D*H)
    H = top.shape[-1] // D
    through = np.stack([top[..., d * H : (d + 1) * H].numpy() for d in range(D)])  # (D, T, N, H)
    ht = HandoffTrace(enc, dec, keep["logits"].detach(), loss, T, alignment=keep["alpha"].detach().numpy(),
                      grad_h_attention=through)
    if not lag:
        return ht
    rows = lagmap.choose_rows(lagmap.output_steps(keep["logits"].grad), lag_rows)
    grad_h, grad_x = _attention_lag_map(enc_run, dec_runs, keep, rows, model.reverse_source)
    return replace(ht, output_steps=rows + T, grad_h_by_output=grad_h, grad_x_by_output=grad_x)


def profile_attention(model, batch) -> tuple[float, np.ndarray, np.ndarray, torch.Tensor]:
    """A training step's profile of a model with attention: what it reads of :func:`trace_attention`, the same numbers,
    without the rest of the trace: (loss, ‖∂L/∂h_t‖ (L, D, 2T) on the joined axis, α (T, N, T), logits (T, N, O)).

    The norms are read without the rest of the trace (:func:`engine.tracing.grad_h.grad_h_norms`), a decoder stepped
    a word at a time (additive attention) from the gradients its calls hold (:func:`_decoder_norms`).  Afterwards
    every parameter's ``.grad`` is what a plain backward leaves.
    """
    keep: dict[str, torch.Tensor] = {}

    def compute_loss() -> torch.Tensor:
        logits, alpha = model.translate(batch.x, teacher_inputs(batch.y, model.output_size, batch.x.dtype))
        keep.update(logits=logits, alpha=alpha)
        return task_loss(logits, batch)

    runs, loss = run_submodules(model, compute_loss)
    (enc_run,), dec_runs = runs["rnn"], runs["decoder"]
    enc = grad_h_norms(enc_run)  # (L, D, T)
    L, D, T = enc.shape
    norms = np.zeros((L, D, 2 * T))
    norms[:, :, :T] = enc
    norms[:, 0, T:] = _decoder_norms(dec_runs)  # the decoder's one direction; a second one's row stays 0
    return loss, norms, keep["alpha"].detach().numpy(), keep["logits"].detach()


def _finish(enc_run: TraceRun, dec_runs: list[TraceRun], loss: float) -> tuple[ModuleTrace, ModuleTrace]:
    """The encoder's trace and the decoder's, its calls (a step at a time, additive attention) on one time axis."""
    enc = finish_trace(enc_run, loss)
    if steps_at_once(dec_runs):
        return enc, finish_steps(dec_runs, loss)
    decs = [finish_trace(r, loss) for r in dec_runs]
    return enc, decs[0] if len(decs) == 1 else join_stock(decs, dec_runs)


def _handoff_grads(enc_run: TraceRun) -> tuple[np.ndarray, np.ndarray | None]:
    """(L, 1, N, H) ∂L/∂s_0 (and ∂L/∂c_0 for the LSTM): what reaches each encoder layer's final state, which
    every direction receives whole (s_0 is their sum)."""
    D = 2 if enc_run.module.bidirectional else 1
    finals = enc_run.finals[::D]  # direction 0 of each layer
    parts = []
    for i in range(len(finals[0])):
        grads = [f[i].grad if f[i].grad is not None else torch.zeros_like(f[i]) for f in finals]  # each (1, N, H)
        parts.append(torch.stack(grads).numpy())  # (L, 1, N, H)
    return parts[0], parts[1] if len(parts) > 1 else None


def _tracked(enc_run: TraceRun, dec_runs: list[TraceRun], keep: dict) -> list[torch.Tensor]:
    tensors = [keep["x"], keep["inputs"]]
    for run in (enc_run, *dec_runs):
        tensors += [*run.outs, *run.extras, *(run.starts or ()), *(f for final in run.finals for f in final)]
    return tensors


def _attention_lag_map(enc_run: TraceRun, dec_runs: list[TraceRun], keep: dict, rows: np.ndarray,
                       reverse_source: bool) -> tuple[np.ndarray, np.ndarray]:
    """(L, D, S, 2T) ‖∂(row s)/∂h_t‖ and (S, 2T) ‖∂(row s)/∂x_t‖, a backward pass per row (module docstring).

    ``x_t`` is the encoder's input at step t (in its reading order) and then the decoder's input y_{t−1}."""
    logits = keep["logits"]
    seed_all = logits.grad  # (T, N, O) ∂L/∂logits
    tracked = _tracked(enc_run, dec_runs, keep)
    L, D = enc_run.module.num_layers, 2 if enc_run.module.bidirectional else 1
    T = seed_all.shape[0]
    S = len(rows)
    grad_h, grad_x = np.zeros((L, D, S, 2 * T)), np.zeros((S, 2 * T))
    for i, s in enumerate(rows.tolist()):
        for t in tracked:
            t.grad = None
        seed = torch.zeros_like(seed_all)
        seed[s] = seed_all[s]
        # a scalar's backward (∂/∂logits of Σ logits ⊙ seed is the seed, exactly): a vector's would make autograd
        # import its symbolic-shape checks, seconds on a process's first call
        (logits * seed).sum().backward(retain_graph=True, inputs=[t for t in tracked if t.requires_grad])
        grad_h[:, :, i, :T] = grad_h_norms(enc_run)
        grad_h[:, 0, i, T:] = _decoder_norms(dec_runs)
        x_grad = _grad(keep["x"])
        grad_x[i, :T] = _step_norms(x_grad.flip(0) if reverse_source else x_grad)
        grad_x[i, T:] = _step_norms(_grad(keep["inputs"]))
    return grad_h, grad_x


def _decoder_norms(dec_runs: list[TraceRun]) -> np.ndarray:
    """(L, T) ‖∂/∂s_t‖ of the decoder over batch and units, from the ``.grad`` its runs hold.

    One run over every step is read as the trace reads it; a run per step (additive attention) holds one step,
    where the total is what its output received plus what its final state received (the next step's and the
    next query's): no recurrence inside the call to follow, the sum :func:`finish_trace` would take."""
    if len(dec_runs) == 1:
        return grad_h_norms(dec_runs[0])[:, 0]
    columns = []
    for run in dec_runs:
        parts = [_grad(out) + _grad(final[0]) for out, final in zip(run.outs, run.finals)]  # each (1, N, H)
        columns.append([float(torch.linalg.vector_norm(p, dtype=torch.float64)) for p in parts])
    return np.array(columns).T


def _step_norms(grid: torch.Tensor) -> np.ndarray:
    """(T, N, X) -> (T,) norms over batch and features, in float64."""
    return torch.linalg.vector_norm(grid, dim=(1, 2), dtype=torch.float64).numpy()


def _grad(t: torch.Tensor) -> torch.Tensor:
    return t.grad if t.grad is not None else torch.zeros_like(t)
