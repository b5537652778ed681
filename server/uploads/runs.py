"""Runs on an upload: a socket's (or a request's) own model and series, computed for it alone, never shared.

A socket keeps its parsed model and series (server/uploads/socket.py) until it clears them or closes;
every ``run``/``train`` meanwhile traces or trains on them.  Those results are computed for this socket
alone on the shared scheduler (the same queue, slots and per-client fairness as everything else) and
bypass single flight and both caches: no key ever names them.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Sequence

from engine import Config
from engine.data import CheckpointError, Series, check_fits, configure, find_recurrent, get_task
from engine.lab import Trainer, own_model, trace_own, trace_own_trained
from server.scheduling import Scheduler, cost
from server.sharing import base_kind, error_unit, lag_rows_for, stream_training, with_lag
from server.wire import Unit, trace_units

__all__ = ["serve_private", "shape_own"]


def shape_own(cfg: Config, model, series: Series | None):
    """(config shaped by the file, checkpoint or None) for a run on an uploaded model (an OwnModel) and/or series.

    Raises CheckpointError, ConfigError (an arch that cannot read a series) or SeriesError (a seq_len too long
    for the series).
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


async def serve_private(scheduler: Scheduler, kind: str, config: Config, ckpt, series,
                        deliver: Callable[[Sequence[Unit]], Awaitable[None]], owner: object,
                        computing: Callable[[float], Awaitable[None]] | None = None) -> None:
    """Deliver the frames of a ``run`` or ``train`` (``+lag``: with the lag map) of an uploaded model, as a shared
    request would (``computing``: told the estimated seconds first, as by server.sharing's ``serve``).

    Raises :class:`server.scheduling.scheduler.Busy` when the queue is full.
    """
    lag = with_lag(kind)
    trace_s = cost.trace_seconds(config, lag=lag)
    scheduler.admit(trace_s)

    async def compute(fn, *args, cost_s: float):
        return await scheduler.run(fn, *args, cost=cost_s, owner=owner)

    async def emit(units: Sequence[Unit]) -> None:
        for unit in units:
            await deliver((unit,))

    if computing is not None:
        await computing(trace_s)
    try:
        if base_kind(kind) == "run":
            rows = lag_rows_for(config) if lag else 0
            await emit(await compute(lambda: trace_units(trace_own(config, ckpt, series, rows), time.perf_counter()),
                                     cost_s=trace_s))
            return
        await stream_training(compute, emit, config, lag,
                              lambda rows: Trainer(config, own_model(config, ckpt, series), series, lag_rows=rows),
                              lambda model, rows: trace_own_trained(model, config, ckpt, series, rows))
    except Exception as e:  # the engine failed on a validated file: reported to this socket, not a crash
        verb = "training" if base_kind(kind) == "train" else "the trace"
        await deliver((error_unit(f"{verb} failed: {type(e).__name__}: {e}"),))
