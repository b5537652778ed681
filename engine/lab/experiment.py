"""The app's trace of one configuration: model, data, loss, clipping and theory, in one call."""

from __future__ import annotations

import copy
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np
import torch

from engine.config import WEIGHT_KEYS, Config
from engine.data import (
    Batch,
    build_uploaded,
    fit_inputs,
    get_task,
    input_steps,
    make_batch,
    scored_steps,
    task_loss,
    window_starts,
    windows_batch,
)
from engine.lab.clipping import clip_gradients, parameter_grad_norms
from engine.lab.theory import gate_products, geometric_bound, weight_figures
from engine.models import DATA_STREAM, GATES, build_model, data_generator, parameter_count
from engine.tracing import denormals_flushed, lagmap, trace_encoder_decoder, trace_module

__all__ = ["Trace", "own_model", "prepare", "trace_config", "trace_own", "trace_own_trained", "trace_trained"]


@dataclass(frozen=True)
class Trace:
    """One forward and backward pass of the configured model on one batch.

    Per-unit arrays are batch sample 0, shaped (L, D, T, H); norms are over the whole batch.
    """

    config: Config
    gate_names: tuple[str, ...]  # LSTM input/forget/cell/output, GRU reset/update/new, RNN none
    hidden: np.ndarray  # (L, D, T, H) h_t
    cell_state: np.ndarray | None  # (L, D, T, H) c_t, LSTM
    gates: dict[str, np.ndarray]  # name -> (L, D, T, H)
    grad_h: np.ndarray  # (L, D, T, H) total ∂L/∂h_t
    grad_h_norm: np.ndarray  # (L, D, T) over batch and units
    grad_c_norm: np.ndarray | None  # (L, D, T), LSTM
    grad_out_norm: np.ndarray  # (L, D, T) the part of ∂L/∂h_t injected directly by the loss or the layer above
    outputs: np.ndarray  # (T, O) the head's prediction at every step
    input_steps: tuple[int, ...]  # where input enters
    scored_steps: tuple[int, ...]  # where the loss enters
    loss: float
    param_grad_norms: dict[str, float]  # 'weight_hh_l0', 'bias_ih_l1_reverse', 'head.weight', ... before clipping
    total_norm: float  # before clipping, as clip_grad_norm_ returns it
    total_norm_clipped: float
    clip_coef: float | None  # None for clip='value'
    clipped_fraction: float
    param_count: int
    theory: dict  # engine.lab.theory.weight_figures(...) plus 'bound' (L, D, T) or None, 'gate_product' or None
    # Encoder-decoder (engine/tracing/seq2seq.py): the time axis is 2T, encoder steps then decoder steps; handoff is the
    # first decoder step (T) and handoff_grad_norm ‖∂L/∂s_0‖, what crosses it.  None for the other archs.
    handoff: int | None = None
    handoff_grad_norm: float | None = None
    # On an uploaded series: the start p of each of the batch's N windows (inputs z_p..z_{p+T-1}, last target
    # z_{p+T}), sample 0 first, exactly as the batch was cut.  None for the lab's own tasks.
    windows: tuple[int, ...] | None = None
    # The lag map (engine/tracing/lagmap.py), when traced with lag_rows > 0, over the whole batch: the output steps s
    # it itemises (S,), ‖(∂out_s/∂h_t)ᵀ ∂L/∂out_s‖ (L, D, S, T), the same for x_t (S, T), and the lag curve
    # (L, D, T): the median share of an output's gradient left k steps back.  theory['lag_bound'] is (γ·σ_max)^k
    # for the top layer of a vanilla RNN, per direction, (D, T).  None otherwise.
    output_steps: np.ndarray | None = None
    grad_h_by_output: np.ndarray | None = None
    grad_x_by_output: np.ndarray | None = None
    lag_curve: np.ndarray | None = None
    # Attention (engine/tracing/attention.py), else None: α of batch sample 0, (T, T) decoder step × encoder step
    # (rows sum to 1), and the encoder's top-layer ‖∂L/∂h_j‖ split over batch and units, (D, T) each: the part that
    # arrives through the attention and the part through the recurrence and the handoff (as vectors they sum to
    # the total, grad_h_norm[-1, :, :T]).
    alignment: np.ndarray | None = None
    grad_attention_norm: np.ndarray | None = None
    grad_recurrent_norm: np.ndarray | None = None

    @property
    def lag_map(self) -> lagmap.LagMap | None:
        """The lag map's four arrays together, or None when the trace was not asked for one."""
        if self.output_steps is None:
            return None
        return lagmap.LagMap(self.output_steps, self.grad_h_by_output, self.grad_x_by_output, self.lag_curve)


def trace_batch(cfg: Config, dtype: torch.dtype = torch.float32) -> Batch:
    """The batch every trace of ``cfg`` uses: the first of the seed's data stream."""
    return make_batch(cfg.task, cfg.arch, cfg.seq_len, cfg.batch_size, data_generator(cfg.seed), dtype=dtype,
                      lag=cfg.lag)


def prepare(cfg: Config, dtype: torch.dtype = torch.float32):
    """The model and one batch for ``cfg``; bit-identical for the same config."""
    task = get_task(cfg.task)
    return build_model(cfg, task.input_size, task.output_size, dtype), trace_batch(cfg, dtype)


# Weight figures cost an eigen-decomposition per gate block; they depend only on the keys that decide the
# initial weights, so moving seq_len or clip_at does not recompute them.
_figures_cache: OrderedDict[tuple, dict] = OrderedDict()


def _cached_weight_figures(model, cfg: Config) -> dict:
    key = tuple(getattr(cfg, k) for k in WEIGHT_KEYS)
    if key not in _figures_cache:
        _figures_cache[key] = weight_figures(model.rnn, cfg.cell, cfg.nonlinearity)
        while len(_figures_cache) > 64:
            _figures_cache.popitem(last=False)
    return copy.deepcopy(_figures_cache[key])


def trace_config(cfg: Config, dtype: torch.dtype = torch.float32, lag_rows: int = 0) -> Trace:
    """The trace of ``cfg``'s model on its batch; ``lag_rows`` = S > 0 adds the lag map of at most S output steps."""
    model, batch = prepare(cfg, dtype)
    return trace_model(model, batch, cfg, figures=_cached_weight_figures(model, cfg), lag_rows=lag_rows)


def trace_trained(model, cfg: Config, lag_rows: int = 0) -> Trace:
    """Trace a trained model on the batch :func:`trace_config` uses, so before and after compare directly."""
    return trace_model(model, trace_batch(cfg), cfg, lag_rows=lag_rows)


def trace_model(model, batch: Batch, cfg: Config, figures: dict | None = None, lag_rows: int = 0) -> Trace:
    """Trace ``model`` (an engine.models.network.RecurrentModel) on ``batch``: used for fresh and trained models alike.

    ``figures``: precomputed ``weight_figures`` of this model's weights, if known.  ``lag_rows``: see
    :func:`trace_config`.  Computed with denormal numbers flushed to zero (engine/tracing/_subnormal.py): a
    gradient that has vanished under float32's smallest normal value, 1.2e-38, is 0, and a long vanishing trace
    is not slowed several times over by the processor's denormal arithmetic.
    """
    with denormals_flushed():
        return _trace_model(model, batch, cfg, figures, lag_rows)


def _trace_model(model, batch: Batch, cfg: Config, figures: dict | None, lag_rows: int) -> Trace:
    preds: list[torch.Tensor] = []

    def loss(out: torch.Tensor) -> torch.Tensor:
        preds.append(model.head(out))  # (T, N, O)
        return task_loss(preds[-1], batch)

    model.zero_grad(set_to_none=True)
    if cfg.arch == "encoder-decoder":
        return _trace_encoder_decoder(model, batch, cfg, figures, lag_rows)
    mt = trace_module(model.rnn, batch.x, loss, tbptt=cfg.tbptt, lag_rows=lag_rows)
    return _assemble(
        model,
        cfg,
        figures,
        lambda name: mt.gates[name] if name in mt.gates else getattr(mt, name),
        gate_product=gate_products(mt.gates, cfg.cell),
        outputs=preds[-1][:, 0].detach().numpy(),
        input_steps=input_steps(cfg.arch, cfg.seq_len),
        scored_steps=scored_steps(cfg.arch, cfg.seq_len),
        loss=mt.loss,
        lag=mt,
    )


def trace_uploaded(cfg: Config, ckpt, lag_rows: int = 0) -> Trace:
    """Trace an uploaded model (an engine.data.checkpoint.Checkpoint) under ``cfg`` from ``checkpoint.configure``.

    The task's batch when the file's input size is the task's, else N(0, 1) inputs of the file's width
    (drawn from their own stream of the seed).  Weight figures are computed from the file's weights,
    never taken from the per-config cache.
    """
    model = build_uploaded(cfg, ckpt, get_task(cfg.task).output_size)
    return trace_model(model, uploaded_batch(cfg, ckpt.input_size), cfg, lag_rows=lag_rows)


def uploaded_batch(cfg: Config, input_size: int) -> Batch:
    """The batch an uploaded model of ``input_size`` inputs is traced on (see :func:`trace_uploaded`)."""
    inputs = torch.Generator().manual_seed(cfg.seed + 2 * DATA_STREAM)
    return fit_inputs(trace_batch(cfg), input_size, cfg.arch, inputs)


def series_trace_starts(cfg: Config, series) -> torch.Tensor:
    """The window starts (N,) of the batch every trace of ``cfg`` on an uploaded series uses."""
    return window_starts(series, cfg.seq_len, cfg.batch_size, data_generator(cfg.seed))


def series_trace_batch(cfg: Config, series) -> Batch:
    """The batch every trace of ``cfg`` on an uploaded series uses: the first windows of the seed's data stream."""
    return windows_batch(series, cfg.arch, cfg.seq_len, series_trace_starts(cfg, series))


def trace_on_series(model, cfg: Config, series, lag_rows: int = 0) -> Trace:
    """Trace ``model`` on the series batch of ``cfg``; the Trace says which windows that batch cut."""
    starts = series_trace_starts(cfg, series)
    trace = trace_model(model, windows_batch(series, cfg.arch, cfg.seq_len, starts), cfg, lag_rows=lag_rows)
    return replace(trace, windows=tuple(int(p) for p in starts))


def trace_series(cfg: Config, series) -> Trace:
    """Trace the configured model (one input, one output) on windows of an engine.data.series.Series."""
    return trace_on_series(build_model(cfg, 1, 1), cfg, series)


def trace_own(cfg: Config, ckpt=None, series=None, lag_rows: int = 0) -> Trace:
    """Trace a user's own model (a Checkpoint), own data (a Series), or both; see trace_uploaded/trace_series.

    With a series the model has one input and one output; a checkpoint must then take one input.
    ``lag_rows``: as :func:`trace_config`.
    """
    if series is None:
        return trace_uploaded(cfg, ckpt, lag_rows) if ckpt is not None else trace_config(cfg, lag_rows=lag_rows)
    model = build_model(cfg, 1, 1) if ckpt is None else build_uploaded(cfg, ckpt, 1)
    return trace_on_series(model, cfg, series, lag_rows)


def trace_own_trained(model, cfg: Config, ckpt=None, series=None, lag_rows: int = 0) -> Trace:
    """Trace a model trained on a user's own model and/or data on the batch :func:`trace_own` uses; ``lag_rows``: as
    :func:`trace_config`."""
    if series is not None:
        return trace_on_series(model, cfg, series, lag_rows)
    return trace_model(model, own_batch(cfg, ckpt, series), cfg, lag_rows=lag_rows)


def own_model(cfg: Config, ckpt=None, series=None):
    """The model a training of a user's own model and/or data starts from (None: the config's own)."""
    if ckpt is None:
        return None
    return build_uploaded(cfg, ckpt, 1 if series is not None else get_task(cfg.task).output_size)


def own_batch(cfg: Config, ckpt=None, series=None) -> Batch:
    """The batch :func:`trace_own` traces on, for tracing a trained model the same way."""
    if series is not None:
        return series_trace_batch(cfg, series)
    return uploaded_batch(cfg, ckpt.input_size) if ckpt is not None else trace_batch(cfg)


def _trace_encoder_decoder(model, batch: Batch, cfg: Config, figures: dict | None, lag_rows: int) -> Trace:
    """The encoder-decoder's Trace: both halves joined on one 2T-step axis (see engine/tracing/seq2seq.py).

    The weight figures are the encoder's; the geometric bound (one W_hh along the whole axis) does not apply.
    Outputs at the encoder's steps, where the model writes nothing, are 0.
    """
    ht = trace_encoder_decoder(model, batch, lag_rows)
    T = cfg.seq_len  # the handoff: the decoder's first step on the span's 2·T steps
    logits = ht.logits[:, 0].numpy()  # (T, O)
    trace = _assemble(
        model,
        cfg,
        figures,
        ht.joined,
        gate_product=gate_products({k: ht.joined(k) for k in GATES[cfg.cell]}, cfg.cell),  # the whole batch's
        outputs=np.concatenate([np.zeros_like(logits), logits]),
        input_steps=tuple(range(cfg.span)),
        scored_steps=tuple(range(T, cfg.span)),
        loss=ht.loss,
        handoff=T,
        handoff_grad_norm=ht.handoff_grad_norm,
        lag=ht,
    )
    if ht.alignment is None:
        return trace
    return replace(trace, alignment=ht.alignment[:, 0], grad_attention_norm=_split_norm(ht.grad_h_attention),
                   grad_recurrent_norm=_split_norm(ht.grad_h_recurrent))


def _split_norm(part: np.ndarray) -> np.ndarray:
    """(D, T, N, H) -> (D, T): the norm over batch and units, in float64."""
    return np.sqrt(np.square(part, dtype=np.float64).sum(axis=(2, 3)))


def _assemble(
    model,
    cfg: Config,
    figures: dict | None,
    traced: Callable[[str], np.ndarray | None],
    *,
    gate_product: np.ndarray | None,
    outputs: np.ndarray,
    input_steps: tuple[int, ...],
    scored_steps: tuple[int, ...],
    loss: float,
    handoff: int | None = None,
    handoff_grad_norm: float | None = None,
    lag=None,
) -> Trace:
    """The Trace of ``model`` right after its backward pass: the one place a Trace is put together.

    ``traced(name)`` is a traced array by ModuleTrace field or gate name: per-unit arrays (L, D, T, N, H), of
    which the Trace keeps batch sample 0, or norms (L, D, T).  Reads every parameter's gradient norm, then
    clips the gradients, then completes the weight figures (``figures``, or computed from ``model.rnn``) with
    the geometric bound (vanilla RNN, one module: not across an encoder-decoder's handoff) and ``gate_product``.
    ``lag`` holds the lag map's arrays (``output_steps``, ``grad_h_by_output``, ``grad_x_by_output``), all None
    when none was asked for.
    """
    modules = (("", model.rnn), ("decoder.", getattr(model, "decoder", None)), ("head.", model.head),
               ("attention.", getattr(model, "attention", None)))
    grad_norms = {k: v for prefix, m in modules if m is not None for k, v in parameter_grad_norms(m, prefix).items()}
    clip = clip_gradients(list(model.parameters()), cfg.clip, cfg.clip_at)
    theory = figures if figures is not None else weight_figures(model.rnn, cfg.cell, cfg.nonlinearity)
    theory["bound"] = None
    if cfg.cell == "rnn" and handoff is None:  # the bound follows one W_hh along the whole axis
        theory["bound"] = geometric_bound(traced("grad_out_norm"), theory["contraction"], cfg.tbptt)
    theory["gate_product"] = gate_product
    mapped = None if lag is None else lagmap.LagMap.of(lag)
    theory["lag_bound"] = None
    if mapped is not None:
        if cfg.cell == "rnn" and handoff is None:  # the top layer's rows: one injection each, then W_hh alone
            T = mapped.grad_h_by_output.shape[-1]
            with np.errstate(over="ignore"):
                theory["lag_bound"] = np.power(np.asarray(theory["contraction"][-1])[:, None], np.arange(T))

    def sample0(name: str) -> np.ndarray | None:
        a = traced(name)
        return None if a is None else a[:, :, :, 0]

    return Trace(
        config=cfg,
        gate_names=GATES[cfg.cell],
        hidden=sample0("hidden"),
        cell_state=sample0("cell_state"),
        gates={k: sample0(k) for k in GATES[cfg.cell]},
        grad_h=sample0("grad_h"),
        grad_h_norm=traced("grad_h_norm"),
        grad_c_norm=traced("grad_c_norm"),
        grad_out_norm=traced("grad_out_norm"),
        outputs=outputs,
        input_steps=input_steps,
        scored_steps=scored_steps,
        loss=loss,
        param_grad_norms=grad_norms,
        total_norm=clip.total_norm,
        total_norm_clipped=clip.total_norm_clipped,
        clip_coef=clip.clip_coef,
        clipped_fraction=clip.clipped_fraction,
        param_count=parameter_count(model),
        theory=theory,
        handoff=handoff,
        handoff_grad_norm=handoff_grad_norm,
        output_steps=None if mapped is None else mapped.output_steps,
        grad_h_by_output=None if mapped is None else mapped.grad_h_by_output,
        grad_x_by_output=None if mapped is None else mapped.grad_x_by_output,
        lag_curve=None if mapped is None else mapped.lag_curve,
    )
