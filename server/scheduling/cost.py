"""Estimated cost of a request, in seconds of one core, from its config alone.

The scheduler orders and caps work by these estimates before anything runs, so they must be
cheap and need no trace.  A trace's time is fitted on this project's fused-kernel tracer
(one torch thread, 2-core CPU) as

    seconds ≈ c0 + c_step·S + c_elem·E + c_mac·E·H,   S = span·L·D,  E = S·N·G·H

with span the trace's steps (``Config.span``: T, or 2·T for the encoder-decoder, which runs its encoder and then
its decoder) and G the gate blocks per cell (RNN 1, GRU 3, LSTM 4): a per-call overhead, a per-step
overhead of the kernels, elementwise work on the gates, and the recurrent matrix products.
The fit is within about 2× of measured times from the default config to the largest one,
which is what ordering and caps need.  A training step costs about one trace of its batch; asked with the lag map,
a profiled step (engine.lab.training.profiled) also costs its map's sweep, as a trace with the map does.
Truncated BPTT (``tbptt`` = k) adds c_window per extra window: L·D·(⌈T/k⌉ − 1) more fused calls forward
and backward (measured 0.5 to 1.2 ms each at T=1000, k = 10 and 1).

Attention (engine/models/attention.py) adds the scores of every decoder step against every encoder step,
A = T·T·N·H, forward and backward: c_dot·A for the dot score, and for the additive score, whose decoder runs a step
at a time, c_add·A plus c_att_step per decoder step (one fused call each way).  Its lag map is no sweep over the
recorded Jacobians but a backward pass per row through the whole graph (engine/tracing/attention.py): min(rows, T)
rows of c_att_row times the trace each.  Fitted on 12 settings from T=16, H=32 to T=128, H=256 (one core), the
trace alone and with its map within 0.6× to 2.2× of measured times (priced as the sweep the map of a model without
attention is, the map came out 7 to 9 times under).
"""

from __future__ import annotations

from dataclasses import replace

from engine import Config
from engine.lab import profile_count
from engine.models import GATES
from engine.tracing import rows_for

C0, C_STEP, C_ELEM, C_MAC = 6e-3, 3e-6, 4.5e-8, 4.6e-10
C_WINDOW = 1e-3
# The lag map's sweep (engine/tracing/lagmap.py): a few small tensor operations per step and layer, and the matrix
# products of every row with W_hh and W_ih, in float64: seconds ≈ C_LAG_STEP·S + C_LAG_MAC·E·rows·(H + D·H), fitted
# like the trace's.
C_LAG_STEP, C_LAG_MAC = 5e-5, 1e-10
C_ATT_DOT, C_ATT_ADD, C_ATT_STEP = 1e-9, 7e-9, 1e-3
C_ATT_ROW = 0.5  # a row's backward pass over the whole trace's time (measured 0.3 to 0.5)


def _steps_and_elements(cfg: Config) -> tuple[int, int]:
    """S = span·L·D and E = S·N·G·H of the module docstring."""
    steps = cfg.span * cfg.num_layers * cfg.num_directions
    return steps, steps * cfg.batch_size * max(1, len(GATES[cfg.cell])) * cfg.hidden_size


def lag_seconds(cfg: Config) -> float:
    """Estimated seconds the lag map adds to a trace of ``cfg`` (its rows: engine.tracing.rows_for); with attention,
    a backward pass per decoder step it itemises."""
    rows = rows_for(cfg.trace_cells)
    if cfg.attention != "none":
        return C_ATT_ROW * min(rows, cfg.seq_len) * _trace_seconds(cfg)
    steps, elems = _steps_and_elements(cfg)
    return C_LAG_STEP * steps + C_LAG_MAC * elems * rows * cfg.hidden_size * (1 + cfg.num_directions)


def attention_seconds(cfg: Config) -> float:
    """Estimated seconds attention adds to a trace or a training step of ``cfg`` (0 without it)."""
    work = cfg.seq_len * cfg.seq_len * cfg.batch_size * cfg.hidden_size  # A = T·T·N·H
    if cfg.attention == "dot":
        return C_ATT_DOT * work
    return C_ATT_STEP * cfg.seq_len + C_ATT_ADD * work if cfg.attention == "additive" else 0.0


def _trace_seconds(cfg: Config) -> float:
    steps, elems = _steps_and_elements(cfg)
    windows = -(-cfg.seq_len // cfg.tbptt) - 1 if cfg.tbptt else 0  # beyond the first, per layer and direction
    extra = C_WINDOW * windows * cfg.num_layers * cfg.num_directions + attention_seconds(cfg)
    return C0 + C_STEP * steps + C_ELEM * elems + C_MAC * elems * cfg.hidden_size + extra


def trace_seconds(cfg: Config, lag: bool = False) -> float:
    """Estimated seconds to trace ``cfg`` once (forward, backward, figures, encoding); ``lag``: with its lag map."""
    return _trace_seconds(cfg) + (lag_seconds(cfg) if lag else 0.0)


def train_step_seconds(cfg: Config, lag: bool = False) -> float:
    """Estimated seconds of one optimizer step of ``cfg`` (forward, backward, clipping, update); ``lag``: a profiled
    step that also measures its lag map."""
    return trace_seconds(cfg, lag)


def train_seconds(cfg: Config, lag: bool = False) -> float:
    """Estimated seconds of a whole training run: its steps (``lag``: the profiled ones with their lag map) and the
    trained model's trace (with its map)."""
    maps = profile_count(cfg.steps) * lag_seconds(cfg) if lag else 0.0
    return train_step_seconds(cfg) * cfg.steps + maps + trace_seconds(cfg, lag)


def max_train_steps(cfg: Config, budget_s: float, lag: bool = False) -> int:
    """The most ``steps`` whose training (``lag``: with the lag map) fits in ``budget_s`` estimated seconds (0 if
    none does)."""
    most = max(0, int((budget_s - trace_seconds(cfg, lag)) // train_step_seconds(cfg)))
    # The maps' share is not linear in steps (profile_every rounds): step down to a count that fits.
    while lag and most > 0 and train_seconds(replace(cfg, steps=most), lag) > budget_s:
        most -= 1
    return most
