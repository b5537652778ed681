"""A socket's own model: loaded from one binary frame, used by its runs and trainings, never shared or cached.

A client announces ``{"type": "model", "bytes": n}`` and sends the file as the next binary frame
(docs/protocol.md).  The socket keeps the parsed state_dict until ``clear_model`` or until it
closes; every ``run``/``train`` meanwhile traces or trains that model.  Those results are computed
for this socket alone on the shared scheduler (the same queue, slots and per-client fairness as
everything else) and bypass single flight and both caches: no key ever names them.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

import torch

from engine import Config
from engine.checkpoint import CheckpointError, configure, find_recurrent, read_state_dict
from engine.experiment import own_model, trace_own, trace_own_trained
from engine.series import Series, check_fits, read_series
from engine.tasks import get_task
from engine.training import Trainer
from server import cost, training
from server.frames import trace_units
from server.recording import Unit
from server.scheduler import Scheduler
from server.sharing import error_unit


@dataclass(frozen=True)
class OwnModel:
    state: dict[str, torch.Tensor]  # the file's tensors, validated as one recurrent module
    sha256: str
    nonlinearity: str | None  # a vanilla RNN's, as the client said



def shape_own(cfg: Config, model: OwnModel | None, series: Series | None):
    """(config shaped by the file, checkpoint or None) for a run on a socket's own model and/or series.

    Raises CheckpointError, ConfigError or SeriesError (a seq_len too long for the series).
    """
    ckpt = None
    if model is not None:
        ckpt = find_recurrent(model.state, 1 if series is not None else get_task(cfg.task).output_size)
        if series is not None and ckpt.input_size != 1:
            raise CheckpointError(None, f"a series feeds the model one input; the uploaded model takes "
                                        f"{ckpt.input_size}: clear the model or the series")
        cfg, _ = configure(cfg, ckpt, model.nonlinearity)
    if series is not None:
        check_fits(series, cfg)
    return cfg, ckpt


def load_own_series(data: bytes, column: str | int | None) -> tuple[Series, dict]:
    """Read the CSV; returns the series and the ``series_loaded`` frame's fields but ``values``.  Raises SeriesError.

    The values (the largest part) are added when a frame is sent (:func:`loaded_frame`), so that an upload kept
    for a reconnect holds them once, as the array.
    """
    series = read_series(data, column)
    fields = {"type": "series_loaded", "sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data),
              "name": series.name, "length": len(series.values), "mean": series.mean, "std": series.std}
    return series, fields


def loaded_frame(fields: dict, value, **extra) -> dict:
    """The ``model_loaded`` / ``series_loaded`` frame: ``fields``, a series' raw values to plot, and ``extra``."""
    if isinstance(value, Series):
        fields = {**fields, "values": value.values.tolist()}
    return {**fields, "run": None, **extra}


def held_bytes(value, data: bytes) -> int:
    """What keeping an upload costs, for the upload store's budget: the file or what was parsed, the larger."""
    parsed = (value.values.nbytes if isinstance(value, Series)
              else sum(t.numel() * t.element_size() for t in value.state.values()))
    return max(len(data), parsed)


def load_own_model(data: bytes, max_bytes: int, nonlinearity: str | None) -> tuple[OwnModel, dict]:
    """Validate the file; returns the model and the ``model_loaded`` frame's fields.  Raises CheckpointError."""
    state = read_state_dict(data, max_bytes)
    ckpt = find_recurrent(state, 0)  # the read-out is matched per task, at each run
    model = OwnModel(state, hashlib.sha256(data).hexdigest(), nonlinearity)
    if ckpt.cell == "rnn":
        configure(Config(), ckpt, nonlinearity)  # raises when the RNN's nonlinearity was not given
    fields = {"type": "model_loaded", "sha256": model.sha256, "bytes": len(data), "prefix": ckpt.prefix.rstrip("."),
              "cell": ckpt.cell, "hidden_size": ckpt.hidden_size, "num_layers": ckpt.num_layers,
              "bidirectional": ckpt.bidirectional, "input_size": ckpt.input_size}
    return model, fields


async def serve_private(scheduler: Scheduler, kind: str, config: Config, ckpt, series,
                        deliver: Callable[[Sequence[Unit]], Awaitable[None]], owner: object) -> None:
    """Deliver the frames of a ``run`` or ``train`` of an uploaded model, as a shared request would.

    Raises :class:`server.scheduler.Busy` when the queue is full.
    """
    trace_s = cost.trace_seconds(config)
    scheduler.admit(trace_s)
    try:
        if kind == "run":
            units = await scheduler.run(lambda: trace_units(trace_own(config, ckpt, series), time.perf_counter()),
                                        cost=trace_s, owner=owner)
            for unit in units:
                await deliver((unit,))
            return
        step_s = cost.train_step_seconds(config)
        trainer = await scheduler.run(lambda: Trainer(config, own_model(config, ckpt, series), series),
                                      cost=step_s, owner=owner)
        await deliver((Unit(training.start_frame(trainer)),))
        steps = trainer.steps()
        while (report := await scheduler.run(next, steps, None, cost=step_s, owner=owner)) is not None:
            await deliver((Unit(training.step_frame(report, config.steps)),))
        await deliver((Unit(training.done_frame(trainer.result)),))

        def trained() -> list[Unit]:
            started = time.perf_counter()
            return trace_units(trace_own_trained(trainer.model, config, ckpt, series), started)

        for unit in await scheduler.run(trained, cost=trace_s, owner=owner):
            await deliver((unit,))
    except Exception as e:  # the engine failed on a validated file: reported to this socket, not a crash
        verb = "training" if kind == "train" else "the trace"
        await deliver((error_unit(f"{verb} failed: {type(e).__name__}: {e}"),))
