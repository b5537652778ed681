"""Training the configured model on its task, announcing every step to listeners.

The trainer knows the config, not the page: a listener (the server, a test, a notebook) receives a
:class:`TrainStep` after every optimizer step.  Every ``profile_every`` steps the backward pass goes
through :func:`engine.trace_module`, which leaves the same gradients as a plain backward and
also measures ‖∂L/∂h_t‖ at every timestep, so the profile costs no extra pass.  With ``tbptt`` every
step's backward is the truncated one (:func:`engine.tracing.fused.start_trace`'s windows).  Asked with
``lag_rows``, a profiled step also itemises its gradient by output step (the lag map,
:mod:`engine.tracing.lagmap`): the tracer's sweep over the backward it already holds, before the update.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace

import numpy as np
import torch

from engine.config import Config
from engine.data import (
    Series,
    baseline,
    fit_inputs,
    get_task,
    make_batch,
    metric,
    series_baseline,
    series_batch,
    task_loss,
)
from engine.lab.clipping import clip_gradients
from engine.models import DATA_STREAM, EncoderDecoderModel, RecurrentModel, build_model, data_generator
from engine.tracing import encoder_decoder_loss, start_trace, trace_encoder_decoder, trace_module
from engine.tracing.attention import profile_attention
from engine.tracing.lagmap import LagMap

__all__ = ["OPTIMIZERS", "TrainResult", "TrainStep", "Trainer", "profile_count", "profile_every", "profiled"]

# At least this many ‖∂L/∂h_t‖ profiles over a run (fewer only when there are fewer steps).
MIN_PROFILES = 100

OPTIMIZERS: dict[str, Callable[..., torch.optim.Optimizer]] = {
    "sgd": torch.optim.SGD,
    "adam": torch.optim.Adam,
    "rmsprop": torch.optim.RMSprop,
}


@dataclass(frozen=True)
class TrainStep:
    step: int  # 1-based optimizer step
    loss: float  # the batch loss before this step's update
    grad_norm: float  # total gradient norm before clipping (what clip_grad_norm_ returns)
    grad_norm_clipped: float  # after clipping
    clip_coef: float | None  # norm clipping's coefficient (1.0 when not clipping, None for value clipping)
    clipped: bool  # clipping changed the gradient at this step
    metric: float | None  # accuracy for classification tasks
    profile: np.ndarray | None  # (L, D, T) ‖∂L/∂h_t‖ on profile steps, else None; (L, D, 2T) encoder-decoder
    elapsed: float  # seconds since training started
    lag: LagMap | None = None  # profile steps of a Trainer asked with lag_rows: the lag map, before the update
    alignment: np.ndarray | None = None  # profile steps of a model with attention: α of batch sample 0, (T, T)


@dataclass(frozen=True)
class TrainResult:
    steps_done: int
    stopped: bool  # stopped early on request
    diverged_at: int | None  # step whose loss or gradient was not finite
    message: str
    final_loss: float | None
    model: RecurrentModel | EncoderDecoderModel


def profile_every(steps: int) -> int:
    return max(1, steps // MIN_PROFILES)


def profiled(k: int, steps: int) -> bool:
    """Whether step ``k`` (1-based) of a ``steps``-step run measures its profile: every :func:`profile_every` steps
    from the first, and the last."""
    return (k - 1) % profile_every(steps) == 0 or k == steps


def profile_count(steps: int) -> int:
    """How many of a ``steps``-step run's steps are :func:`profiled`."""
    every = profile_every(steps)
    return -(-steps // every) + ((steps - 1) % every != 0)


class Trainer:
    """Train ``build_model(cfg)`` for ``cfg.steps`` steps on fresh batches of ``cfg.task``."""

    def __init__(self, cfg: Config, model: RecurrentModel | None = None, series: Series | None = None,
                 lag_rows: int = 0):  # fmt: skip
        """``model``: start from these weights (an uploaded model) instead of ``build_model(cfg)``.

        A model whose input size is not the task's trains on N(0, 1) inputs of its width, with the task's
        targets (engine.data.checkpoint.fit_inputs).  ``series``: train on windows of this series instead of
        ``cfg.task`` (engine.data.series), one input and one output.  ``lag_rows`` = S > 0: every profiled step
        also reports its lag map of at most S output steps (:attr:`TrainStep.lag`), as ``trace_module(...,
        lag_rows=S)`` of the model and batch of that step measures it.
        """
        if isinstance(lag_rows, bool) or not isinstance(lag_rows, int) or lag_rows < 0:
            raise ValueError(f"lag_rows must be an integer ≥ 0 (0 computes no lag map); got {lag_rows!r}")
        self.cfg = cfg
        self.series = series
        self.lag_rows = lag_rows
        task = get_task(cfg.task)
        sizes = (1, 1) if series is not None else (task.input_size, task.output_size)
        self.model = build_model(cfg, *sizes) if model is None else model
        self.input_size = self.model.rnn.input_size
        self.inputs = torch.Generator().manual_seed(cfg.seed + 2 * DATA_STREAM)  # used only for other widths
        self.optimizer = OPTIMIZERS[cfg.optimizer](self.model.parameters(), lr=cfg.lr)
        self.data = data_generator(cfg.seed)
        if series is not None:
            self.baseline = series_baseline(series, cfg.arch, cfg.seq_len)
        else:
            self.baseline = baseline(cfg.task, cfg.arch, cfg.seq_len, cfg.lag)  # the trivial predictor's loss
        self.classification = task.classification and series is None
        self.listeners: list[Callable[[TrainStep], None]] = []
        self.last: TrainStep | None = None  # the latest step's report
        self.result: TrainResult | None = None  # set when steps() ends

    def add_listener(self, fn: Callable[[TrainStep], None]) -> None:
        self.listeners.append(fn)

    def step(self, k: int, with_profile: bool) -> tuple[TrainStep, bool]:
        """One optimizer step; returns the step's report and whether it stayed finite."""
        cfg = self.cfg
        if self.series is not None:
            batch = series_batch(self.series, cfg.arch, cfg.seq_len, cfg.batch_size, self.data)
        else:
            batch = make_batch(cfg.task, cfg.arch, cfg.seq_len, cfg.batch_size, self.data, lag=cfg.lag)
        batch = fit_inputs(batch, self.input_size, cfg.arch, self.inputs)
        self.optimizer.zero_grad(set_to_none=True)
        preds: list[torch.Tensor] = []

        def loss_fn(out: torch.Tensor) -> torch.Tensor:
            preds.append(self.model.head(out))  # (T, N, O)
            return task_loss(preds[-1], batch)

        profile = lag = alignment = None
        if cfg.arch == "encoder-decoder":  # the profile spans encoder then decoder steps (engine/tracing/seq2seq.py)
            if with_profile and self.model.attention is not None and not self.lag_rows:
                loss, profile, att, logits = profile_attention(self.model, batch)
                alignment = att[:, 0]
                preds.append(logits)
            elif with_profile:
                ht = trace_encoder_decoder(self.model, batch, self.lag_rows)
                loss, profile, lag = ht.loss, ht.joined("grad_h_norm"), LagMap.of(ht)
                alignment = None if ht.alignment is None else ht.alignment[:, 0]
                preds.append(ht.logits)
            else:
                value, logits = encoder_decoder_loss(self.model, batch)
                value.backward()
                loss = float(value.detach())
                preds.append(logits)
        elif with_profile:
            mt = trace_module(self.model.rnn, batch.x, loss_fn, tbptt=cfg.tbptt, lag_rows=self.lag_rows)
            loss, profile, lag = mt.loss, mt.grad_h_norm, LagMap.of(mt)
        else:
            # Truncated BPTT runs the tracer's own windowed forward, so the gradient the optimizer uses is the
            # one the trace shows; full BPTT is the plain fused module.
            out = start_trace(self.model.rnn, batch.x, tbptt=cfg.tbptt)[1] if cfg.tbptt else self.model.rnn(batch.x)[0]
            value = loss_fn(out)
            value.backward()
            loss = float(value.detach())
        clip = clip_gradients(list(self.model.parameters()), cfg.clip, cfg.clip_at)
        finite = math.isfinite(loss) and math.isfinite(clip.total_norm)
        if finite:
            self.optimizer.step()
        report = TrainStep(
            step=k,
            loss=loss,
            grad_norm=clip.total_norm,
            grad_norm_clipped=clip.total_norm_clipped,
            clip_coef=clip.clip_coef,
            clipped=clip.clipped_fraction > 0,
            metric=metric(preds[-1].detach(), batch),
            profile=profile,
            elapsed=0.0,
            lag=lag,
            alignment=alignment,
        )
        return report, finite

    def steps(self) -> Iterator[TrainStep]:
        """Yield each step's report as it happens; when the generator ends, :attr:`result` says why.

        A caller that stops iterating early (the server between two steps) simply drops the generator.
        """
        start = time.perf_counter()
        for k in range(1, self.cfg.steps + 1):
            report, finite = self.step(k, with_profile=profiled(k, self.cfg.steps))
            report = replace(report, elapsed=time.perf_counter() - start)
            self.last = report
            yield report
            if not finite:
                what = "loss" if not math.isfinite(report.loss) else "gradient norm"
                value = report.loss if what == "loss" else report.grad_norm
                self.result = self._result(
                    k, False, k,
                    f"training diverged at step {k}: the {what} became {value} "
                    "(try clipping, a smaller learning rate or a smaller gain)",
                )  # fmt: skip
                return
        self.result = self._result(self.cfg.steps, False, None, f"trained {self.cfg.steps} steps")

    def run(self, stop: threading.Event | None = None) -> TrainResult:
        """Train to the end, or until ``stop`` is set (checked after every step), telling every listener."""
        for report in self.steps():
            for fn in self.listeners:
                fn(report)
            if stop is not None and stop.is_set() and report.step < self.cfg.steps:
                return self.stopped()
        return self.result

    def stopped(self) -> TrainResult:
        done = self.last.step if self.last else 0
        return self._result(done, True, None, f"stopped after {done} steps")

    def _result(self, done, stopped, diverged_at, message) -> TrainResult:
        return TrainResult(done, stopped, diverged_at, message, self.last.loss if self.last else None, self.model)
