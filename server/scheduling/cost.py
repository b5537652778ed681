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

Attention (engine/models/attention.py) is traced by its own path (engine/tracing/attention.py: the recorder over the
model's calls, the additive decoder a call per word), so it has its own fit, on the same request (the trace, its
figures and frames; one torch thread)::

    seconds ≈ a0 + a_elem·E + a_mac·E·H + a_dot·A (dot) or a_add·A + a_call·T·L (additive) + a_gru·E·H + a_scan·S (GRU)

with A = T·T·N·H the scores of every decoder step against every encoder step, T·L the additive decoder's one-step
calls, and for the GRU the products its reading of ∂L/∂h_t repeats (the reset and update gates, and the n gate's
term through W_hn) and its scan over the steps.  Its lag map is no sweep over recorded Jacobians but, for each of its
min(rows, T) rows, a backward pass through the whole recorded graph and a reading of its norms: the same terms with
their own constants (r_*).  Fitted on 20 settings from T=8, H=16 to T=128, H=256 (cells RNN, GRU, LSTM; two layers
both ways among them; the trace on four runs, the map on two, at load average 8 to 15): within 0.79 to 1.17 of the
runs' mean for the trace and 0.71 to 1.28 with its map, where two runs of one setting differed by up to 1.6×.  (The
general fit put these at 0.8 to 3.4 times.)  ``bench/attention.py --cost`` measures them again.
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
# Attention's (a0, a_elem, a_mac, a_dot, a_add, a_call, a_gru, a_scan) for the trace, r_* for each row of its lag map.
ATTENTION_TRACE = (7.2e-3, 1.8e-8, 7.6e-11, 6.7e-10, 8.0e-9, 4.3e-4, 2.6e-10, 1.0e-4)
ATTENTION_ROW = (1.1e-3, 8.6e-9, 0.0, 3.6e-10, 2.2e-9, 1.9e-4, 9.8e-11, 6.6e-5)


def _steps_and_elements(cfg: Config) -> tuple[int, int]:
    """S = span·L·D and E = S·N·G·H of the module docstring."""
    steps = cfg.span * cfg.num_layers * cfg.num_directions
    return steps, steps * cfg.batch_size * max(1, len(GATES[cfg.cell])) * cfg.hidden_size


def lag_seconds(cfg: Config) -> float:
    """Estimated seconds the lag map adds to a trace of ``cfg`` (its rows: engine.tracing.rows_for); with attention,
    a backward pass per decoder step it itemises."""
    rows = rows_for(cfg.trace_cells)
    if cfg.attention != "none":
        return min(rows, cfg.seq_len) * _priced(ATTENTION_ROW, _attention_work(cfg))
    steps, elems = _steps_and_elements(cfg)
    return C_LAG_STEP * steps + C_LAG_MAC * elems * rows * cfg.hidden_size * (1 + cfg.num_directions)


def _attention_work(cfg: Config) -> tuple[float, ...]:
    """(1, E, E·H, A of the dot score, A of the additive score, T·L the additive decoder's calls, E·H and S of the GRU)
    of the module docstring, for a model with attention."""
    steps, elems = _steps_and_elements(cfg)
    T, H = cfg.seq_len, cfg.hidden_size
    additive, gru = cfg.attention == "additive", cfg.cell == "gru"
    scores = T * T * cfg.batch_size * H
    return (1.0, elems, elems * H, 0 if additive else scores, scores if additive else 0,
            T * cfg.num_layers if additive else 0, elems * H if gru else 0, steps if gru else 0)


def _priced(constants: tuple[float, ...], work: tuple[float, ...]) -> float:
    return sum(c * w for c, w in zip(constants, work, strict=True))


def _trace_seconds(cfg: Config) -> float:
    if cfg.attention != "none":
        return _priced(ATTENTION_TRACE, _attention_work(cfg))
    steps, elems = _steps_and_elements(cfg)
    windows = -(-cfg.seq_len // cfg.tbptt) - 1 if cfg.tbptt else 0  # beyond the first, per layer and direction
    extra = C_WINDOW * windows * cfg.num_layers * cfg.num_directions
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
