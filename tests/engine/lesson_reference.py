"""Lesson tests' reference for lag-map measures: rows and curve from tests/engine/reference.py, never the engine."""

import functools
import statistics

import torch

from engine.data import copy_length, task_loss
from engine.lab import prepare
from engine.lessons.lab import lag_trace
from tests.engine.reference import reference_lag_curve, reference_lag_rows

LAG_MEASURES = ("lag_reach", "lag_middle", "contraction", "copy_band")


@functools.lru_cache(maxsize=8)
def reference_lag(cfg):
    """The lag map's rows (top layer, forward) and lag curve from tests/engine/reference.py, at the engine's rows."""
    model, batch = prepare(cfg)
    steps = lag_trace(cfg).output_steps  # which rows the page shows is the engine's choice; their values are not
    rows = reference_lag_rows(model.rnn, batch.x, lambda out: task_loss(model.head(out), batch), steps)
    return model, steps, rows[-1, 0], reference_lag_curve(rows, steps)[-1, 0]


def reference_lag_measure(cfg, name):
    model, steps, rows, curve = reference_lag(cfg)
    if name == "lag_reach":
        return next(k for k, v in enumerate(curve) if v < 1e-3)
    if name == "lag_middle":
        return float(curve[cfg.seq_len // 2])
    if name == "contraction":  # tanh's steepest slope is 1
        top = getattr(model.rnn, f"weight_hh_l{cfg.num_layers - 1}").detach().double()
        return float(torch.linalg.matrix_norm(top, ord=2))
    K = copy_length(cfg.seq_len)  # copy_band: the recall rows at the copy's lag T − K, over their own step
    shares = [float(rows[i, s - (cfg.seq_len - K)] / rows[i, s]) for i, s in enumerate(steps) if s >= cfg.seq_len - K]
    return statistics.median(shares)
