"""A :class:`engine.Trace` becomes wire data: the websocket frame sequence and the JSON document.

Frame order for one run (see docs/protocol.md), each text frame a message of several steps:

1. text ``start``;
2. forward messages for t = 0..T-1 in chunks of n steps: text ``forward`` with ``t`` (the first
   step), ``steps`` = n and n outputs, then one binary frame, float32 little-endian, with the
   arrays of ``layout.forward`` for steps t..t+n-1: (n, K, L, D, H);
3. backward messages for t = T-1..0, likewise: text ``backward`` with n tables per series, then
   one binary frame with grad_h for the n steps t, t-1, ..., t-n+1 in that order: (n, L, D, H);
4. with the lag map only (a run asked with ``lag``): text ``lag`` with its rows' output steps and the lag
   curve, then one binary frame, float32 little-endian, grad_h_by_output (L, D, S, T) then
   grad_x_by_output (S, T);
5. text ``done``.

Browsers and servers pay per websocket message, and a class of sockets multiplies that cost,
so a message carries as many steps as fit in ``CHUNK_BYTES`` of binary data: a small model's
whole sweep is one text and one binary frame.

Everything here is pure encoding; it runs in a worker thread, never on the event loop.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import numpy as np

from engine import Config
from engine.data import get_task
from engine.models import GATES
from server.wire.encoding import dumps, encode, to_jsonable
from server.wire.recording import Unit

__all__ = [
    "json_value_count", "lag_unit", "overflow_step", "run_units", "trace_document", "trace_units", "underflow_step",
]  # fmt: skip

if TYPE_CHECKING:
    from engine import Trace
    from engine.tracing.lagmap import LagMap


def layout(trace: Trace) -> dict[str, list[str]]:
    """Names of the arrays packed, in order, into each binary frame."""
    cell = ["cell_state"] if trace.cell_state is not None else []
    return {"forward": ["hidden", *cell, *trace.gate_names], "backward": ["grad_h"]}


def forward_arrays(trace: Trace) -> list[np.ndarray]:
    """The per-unit forward arrays in layout order, each (L, D, T, H)."""
    cell = [trace.cell_state] if trace.cell_state is not None else []
    return [trace.hidden, *cell, *(trace.gates[g] for g in trace.gate_names)]


def shapes(trace: Trace) -> dict[str, int]:
    L, D, T, H = trace.hidden.shape
    return {"T": T, "L": L, "D": D, "H": H, "N": trace.config.batch_size, "O": trace.outputs.shape[1]}


def per_step_theory(trace: Trace) -> dict[str, np.ndarray | None]:
    """Theory arrays with one value per (layer, direction, step): sent with each backward step, not up front.

    Today ``bound`` (RNN only) and ``gate_product`` (LSTM/GRU only); either may be None.
    """
    L, D, T, _ = trace.hidden.shape
    return {
        k: (None if v is None else np.asarray(v))
        for k, v in trace.theory.items()
        if k in ("bound", "gate_product") or (isinstance(v, np.ndarray) and v.shape == (L, D, T))
    }


def start_fields(trace: Trace) -> dict[str, Any]:
    """What a client needs before the first step: shapes, names and the per-model theory."""
    per_step = per_step_theory(trace)
    return {
        "config": trace.config.to_dict(),
        "shapes": shapes(trace),
        "gates": list(trace.gate_names),
        "has_cell_state": trace.cell_state is not None,
        "input_steps": list(trace.input_steps),
        "scored_steps": list(trace.scored_steps),
        "theory": {k: v for k, v in trace.theory.items() if k not in per_step},
        "param_count": trace.param_count,
        "layout": layout(trace),
        "handoff": trace.handoff,  # encoder-decoder: the first decoder step of the 2T-step axis; else None
        # An uploaded series: the windows this trace's batch cut from it (docs/protocol.md, "Your own model").
        **({"windows": {"starts": list(trace.windows), "seq_len": trace.config.seq_len}}
           if trace.windows is not None else {}),
    }


def overflow_step(trace: Trace) -> int | None:
    """First t, in backward (stream) order T-1..0, where any gradient norm is inf or NaN."""
    bad = ~np.isfinite(trace.grad_h_norm).all(axis=(0, 1))  # (T,)
    if trace.grad_c_norm is not None:
        bad |= ~np.isfinite(trace.grad_c_norm).all(axis=(0, 1))
    steps = np.flatnonzero(bad)
    return int(steps.max()) if steps.size else None


def underflow_step(trace: Trace) -> int | None:
    """First t, in backward (stream) order, where a gradient that was flowing becomes exactly 0.

    For each layer and direction the state gradient (dL/dh, with dL/dc for the LSTM) is
    followed in the order backpropagation visits it: t descending for the forward direction,
    ascending for the reverse one.  A step counts when its norm is exactly 0 and the step
    visited just before it had a finite, non-zero norm.  Zeros before the loss has entered
    (e.g. the reverse direction of a many-to-one model) are structural, not underflow, and so are
    zeros across a truncated-BPTT window's start (``tbptt``: the state was detached there).
    """
    norm = trace.grad_h_norm  # (L, D, T)
    if trace.grad_c_norm is not None:
        norm = np.hypot(norm, trace.grad_c_norm)
    before = np.zeros_like(norm)  # norm at the step backprop visited just before t
    before[:, 0, :-1] = norm[:, 0, 1:]
    if norm.shape[1] == 2:
        before[:, 1, 1:] = norm[:, 1, :-1]
    with np.errstate(invalid="ignore"):
        falls = (norm == 0) & np.isfinite(before) & (before > 0)
    k, T = trace.config.tbptt, norm.shape[2]
    if k:  # a fall across a truncation window's start is the detach, not underflow
        t = np.arange(T)
        falls[:, 0, (t + 1) % k == 0] = False
        if norm.shape[1] == 2:
            falls[:, 1, (T - t) % k == 0] = False
    steps = np.flatnonzero(falls.any(axis=(0, 1)))
    return int(steps.max()) if steps.size else None


def done_fields(trace: Trace) -> dict[str, Any]:
    return {
        "loss": trace.loss,
        "param_grad_norms": dict(trace.param_grad_norms),
        "total_norm": trace.total_norm,
        "total_norm_clipped": trace.total_norm_clipped,
        "clip_coef": trace.clip_coef,
        "clipped_fraction": trace.clipped_fraction,
        "overflow_t": overflow_step(trace),
        "underflow_t": underflow_step(trace),
        "handoff_grad_norm": trace.handoff_grad_norm,
        "attention": attention_fields(trace),
    }


def attention_fields(trace: Trace) -> dict[str, Any] | None:
    """``done.attention`` (docs/protocol.md): the alignment of sample 0, (T, T) decoder step × encoder step, each
    row summing to 1, and the encoder's top-layer ‖∂L/∂h_j‖ split into its attention and recurrent parts, (D, T)
    each, over batch and units; None for a model without attention."""
    if trace.alignment is None:
        return None
    return {"kind": trace.config.attention, "alignment": trace.alignment,
            "grad_attention_norm": trace.grad_attention_norm, "grad_recurrent_norm": trace.grad_recurrent_norm}


# Largest binary frame: a whole sweep of a small model travels in one; never under one step per frame.
CHUNK_BYTES = 256 * 1024


def chunk_steps(trace: Trace) -> int:
    """Timesteps per forward/backward message pair."""
    L, D, _, H = trace.hidden.shape
    step_bytes = len(layout(trace)["forward"]) * L * D * H * 4
    return max(1, CHUNK_BYTES // step_bytes)


def lag_fields(lag: LagMap) -> dict[str, Any]:
    """The ``lag`` frame's text fields: which output steps the map's rows are, and the lag curve (L, D, T)."""
    return {"output_steps": lag.output_steps.tolist(), "rows": len(lag.output_steps),
            "lag_curve": to_jsonable(lag.lag_curve)}


def lag_unit(lag: LagMap, **extra: Any) -> Unit:
    """The ``lag`` frame and its binary data: grad_h_by_output (L, D, S, T) then grad_x_by_output (S, T), float32.

    A run's and a trained model's trace send it as it is; a training step's adds ``extra`` (its ``step``).  The rows
    are norms computed in float64, so an exploding setting's can pass float32's largest value (3.4e38): such a norm
    travels as inf, as a float32 gradient that overflowed does (docs/protocol.md, "Numbers in JSON"); the JSON
    document keeps its float64 value.
    """
    with np.errstate(over="ignore"):  # past float32's range is inf by design, not a mishap to warn about
        data = np.concatenate([lag.grad_h_by_output.ravel(), lag.grad_x_by_output.ravel()]).astype("<f4")
    return Unit(encode({"type": "lag", **extra, **lag_fields(lag)}), data.tobytes())


def trace_units(trace: Trace, started: float) -> list[Unit]:
    """Encode ``trace`` as a run's frames, without run numbers (see :mod:`server.wire.recording`).

    ``started`` is the time.perf_counter() the work began, for ``done.elapsed_ms``.  A trace with a lag map
    (``trace.output_steps`` not None) sends its ``lag`` frame before ``done``.
    """
    series = {
        "grad_h_norm": trace.grad_h_norm,
        "grad_c_norm": trace.grad_c_norm,
        "grad_out_norm": trace.grad_out_norm,
        **per_step_theory(trace),
    }
    units = run_units(start_fields(trace), forward_arrays(trace), trace.outputs, series, trace.grad_h,
                      done_fields(trace), started)  # fmt: skip
    if trace.lag_map is not None:
        units.insert(-1, lag_unit(trace.lag_map))
    return units


def run_units(start: dict[str, Any], arrays: list[np.ndarray], outputs, series: dict[str, np.ndarray | None],
              grad_h: np.ndarray, done: dict[str, Any], started: float) -> list[Unit]:  # fmt: skip
    """A run's frames from its parts: what :func:`trace_units` sends for a Trace, and the notebook for a module's.

    ``start`` and ``done`` are the fields of those frames; ``arrays`` the per-unit forward arrays in
    ``start["layout"]["forward"]`` order and ``grad_h``, each (L, D, T, H); ``outputs`` (T, O), or T empty
    lists; ``series`` the per-step (L, D, T) arrays sent with the backward frames (None where a series is).
    """
    L, D, T, H = grad_h.shape
    units = [Unit(dumps({"type": "start", **start}))]
    outputs = to_jsonable(outputs)  # T lists of O, converted once
    chunk = max(1, CHUNK_BYTES // (len(arrays) * L * D * H * 4))
    forward_data = np.empty((T, len(arrays), L, D, H), dtype="<f4")  # one copy, in send order
    for k, a in enumerate(arrays):
        forward_data[:, k] = a.transpose(2, 0, 1, 3)  # (T, L, D, H)
    for t in range(0, T, chunk):
        n = min(chunk, T - t)
        text = encode({"type": "forward", "t": t, "steps": n, "output": outputs[t : t + n]})
        units.append(Unit(text, forward_data[t : t + n].tobytes()))
    # Per-step (L, D, T) series in send order (t = T-1..0) as (T, L, D), so [i:i+n] is one message's.
    by_step = {k: None if v is None else to_jsonable(v.transpose(2, 0, 1)[::-1]) for k, v in series.items()}
    backward_data = np.ascontiguousarray(grad_h.transpose(2, 0, 1, 3)[::-1], dtype="<f4")  # (T, L, D, H)
    for i in range(0, T, chunk):
        n = min(chunk, T - i)
        fields = {k: None if v is None else v[i : i + n] for k, v in by_step.items()}
        text = encode({"type": "backward", "t": T - 1 - i, "steps": n, **fields})
        units.append(Unit(text, backward_data[i : i + n].tobytes()))
    done = {"type": "done", **done}
    done["elapsed_ms"] = round((time.perf_counter() - started) * 1000, 3)
    units.append(Unit(dumps(done)))
    return units


def json_value_count(cfg: Config) -> int:
    """Per-unit and per-step values a JSON document of ``cfg``'s trace holds, known before computing it.

    Equals :func:`value_count` of the trace: K forward arrays and grad_h, each (L, D, span, H), the (span, O)
    outputs (``Config.span``: T, or 2·T for the encoder-decoder), and with attention T·(T + 2·D).
    """
    K = 1 + (cfg.cell == "lstm") + len(GATES[cfg.cell])
    attention = cfg.seq_len * (cfg.seq_len + 2 * cfg.num_directions) if cfg.attention != "none" else 0
    return (K + 1) * cfg.cells_per_sequence + cfg.span * get_task(cfg.task).output_size + attention


def value_count(trace: Trace) -> int:
    """Per-unit and per-step values a JSON document of ``trace`` would hold (with attention: the (T, T) alignment and
    the two (D, T) parts)."""
    split = (trace.alignment, trace.grad_attention_norm, trace.grad_recurrent_norm)
    return (sum(a.size for a in forward_arrays(trace)) + trace.grad_h.size + trace.outputs.size
            + sum(a.size for a in split if a is not None))


def trace_document(trace: Trace, started: float) -> dict[str, Any]:
    """The whole trace as one JSON-able document (``POST /api/trace``); same numbers as the frames.

    ``forward`` maps each name of ``layout.forward`` to its (L, D, T, H) array, ``backward``
    holds ``grad_h`` (L, D, T, H) and the per-step (L, D, T) series, ``output`` is (T, O).  With the lag map,
    ``backward`` also holds ``output_steps`` (S), ``grad_h_by_output`` [L][D][S][T], ``grad_x_by_output`` [S][T]
    and ``lag_curve`` [L][D][T].
    Arrays are nested lists indexed [l][d][t][h], t by input position.
    """
    doc: dict[str, Any] = {"type": "trace", **start_fields(trace)}
    # Each array in its own precision: float32 values in the shortest digits that read back to them (encoding.py).
    doc["precision"] = str(trace.hidden.dtype)
    names = layout(trace)["forward"]
    doc["output"] = trace.outputs  # (T, O); not under "forward", where the LSTM has an "output" gate
    doc["forward"] = dict(zip(names, forward_arrays(trace), strict=True))
    doc["backward"] = {
        "grad_h": trace.grad_h,
        "grad_h_norm": trace.grad_h_norm,
        "grad_c_norm": trace.grad_c_norm,
        "grad_out_norm": trace.grad_out_norm,
        **per_step_theory(trace),
    }
    if trace.output_steps is not None:  # the lag map, asked for with ?lag=1
        doc["backward"].update(output_steps=trace.output_steps, grad_h_by_output=trace.grad_h_by_output,
                               grad_x_by_output=trace.grad_x_by_output, lag_curve=trace.lag_curve)
    doc["done"] = done_fields(trace)
    doc["done"]["elapsed_ms"] = round((time.perf_counter() - started) * 1000, 3)
    return doc
