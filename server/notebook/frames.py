"""Any trace as the frames the lab's socket sends (docs/protocol.md), so the page's own views can paint it.

The app's :class:`engine.Trace` is encoded exactly as the socket does (:func:`server.wire.frames.trace_units`).
A :class:`engine.ModuleTrace` (the user's own ``nn.RNN``/``LSTM``/``GRU``) has no
:class:`engine.Config`, so its start frame's fields are read from its arrays: cell, layers, directions, units,
steps, batch and gate names; traced with ``lag_rows`` it sends its lag map too, its lag curve computed here as the
app's is.  Per-unit arrays are one batch sample's (``sample``, 0 as the app shows); the
norms are over the whole batch, as :func:`engine.trace_module` took them.  Positions past a packed
sequence's length are NaN: they travel in the binary frames as IEEE NaN, and every JSON field goes through
:mod:`server.wire`, which writes a non-finite number as the string ``"nan"``.
"""

from __future__ import annotations

import time
import warnings
from types import SimpleNamespace
from typing import Any

import numpy as np

from engine.lab import Sweep, Trace, gate_products
from engine.lab.sweep import point_result
from engine.tracing import ModuleTrace, lag_curve
from server.notebook.handoff import join_handoff
from server.wire import Unit, lag_unit, overflow_step, run_units, trace_units, underflow_step


def _nonlinearity(mt: ModuleTrace) -> str:
    """tanh keeps every h_t in [-1, 1]; a state beyond that came from a ReLU RNN (shown on a signed log scale).

    Within [-1, 1] both readings paint the same colours, so the guess can only be wrong where it does not matter.
    """
    if mt.cell != "rnn":
        return "tanh"
    h = mt.hidden[np.isfinite(mt.hidden)]
    return "relu" if h.size and float(np.abs(h).max()) > 1 else "tanh"


def _per_unit(a: np.ndarray, sample: int) -> np.ndarray:
    """(L, D, T, H) of one batch sample; unbatched arrays are that already."""
    return a[:, :, :, sample] if a.ndim == 5 else a


def _memory_path(mt: ModuleTrace) -> np.ndarray | None:
    """engine.lab.theory.gate_products over the steps each sequence really has (a packed batch's padding is NaN)."""
    if mt.cell == "rnn":
        return None
    L, D, T = mt.grad_h_norm.shape
    with warnings.catch_warnings():  # a step no sequence reaches stays NaN, without "mean of empty slice"
        warnings.simplefilter("ignore", RuntimeWarning)
        means = {k: np.nanmean(np.asarray(g, dtype=np.float64).reshape(L, D, T, -1), axis=-1)[..., None]
                 for k, g in mt.gates.items()}  # fmt: skip
    return gate_products(means, mt.cell)


def module_units(mt: ModuleTrace, sample: int = 0, tbptt: int = 0,
                 handoff: tuple[int, float] | None = None) -> list[Unit]:
    """``mt`` as a run's frames, without run numbers (the recorded form :mod:`server.wire.recording` describes).

    ``sample`` picks the batch sample the per-unit views show; ``tbptt`` is the window length the trace was
    taken with (``trace_module(..., tbptt=k)``; a ModuleTrace does not record it), for the views' window lines.
    Raises ``ValueError`` naming the argument for a sample outside the batch, a negative ``tbptt`` or an LSTM
    with ``proj_size`` (its h_t is narrower than its gates, and the views take one width for both).
    ``handoff``: (the first decoder step, the handoff gradient) of an encoder and decoder joined by
    :func:`server.notebook.handoff.join_handoff`, marked as the app's encoder–decoder marks them.
    """
    if not isinstance(mt, ModuleTrace):
        raise TypeError(f"module_units takes an engine.ModuleTrace; got {type(mt).__name__}")
    L, D, T = mt.grad_h_norm.shape
    batched = mt.hidden.ndim == 5
    N = mt.hidden.shape[3] if batched else 1
    if isinstance(sample, bool) or not isinstance(sample, int | np.integer) or not 0 <= sample < N:
        raise ValueError(f"sample must be a batch index in 0..{N - 1}; got {sample!r}")
    if isinstance(tbptt, bool) or not isinstance(tbptt, int | np.integer) or tbptt < 0:
        raise ValueError(f"tbptt must be an integer ≥ 0 (0 is full backpropagation through time); got {tbptt!r}")
    H = mt.hidden.shape[-1]
    widths = {a.shape[-1] for a in (mt.cell_state, *mt.gates.values()) if a is not None}
    if widths - {H}:
        raise ValueError(f"an LSTM with proj_size={H} has h_t {H} wide and gates {widths.pop()} wide; the views need "
                         "one width: trace the module without proj_size to see it here")  # fmt: skip
    gates = list(mt.gates)
    cell = ["cell_state"] if mt.cell_state is not None else []
    arrays = [_per_unit(mt.hidden, sample), *(_per_unit(mt.cell_state, sample) for _ in cell),
              *(_per_unit(mt.gates[g], sample) for g in gates)]  # fmt: skip
    start: dict[str, Any] = {
        # The config keys the views read; nothing else is known about the module's setting.
        "config": {"cell": mt.cell, "num_layers": L, "bidirectional": D == 2, "hidden_size": H, "seq_len": T,
                   "batch_size": N, "nonlinearity": _nonlinearity(mt), "tbptt": int(tbptt), "clip": "none"},
        "shapes": {"T": T, "L": L, "D": D, "H": H, "N": N, "O": 0},
        "gates": gates,
        "has_cell_state": mt.cell_state is not None,
        "input_steps": list(range(T)),
        "scored_steps": [],  # where the user's loss reads the output is not recorded in a ModuleTrace
        "theory": {},
        "param_count": None,
        "layout": {"forward": ["hidden", *cell, *gates], "backward": ["grad_h"]},
        "handoff": handoff[0] if handoff else None,
        "lengths": np.asarray(mt.lengths).tolist(),
        "sample": int(sample),
    }
    series = {"grad_h_norm": mt.grad_h_norm, "grad_c_norm": mt.grad_c_norm, "grad_out_norm": mt.grad_out_norm,
              "bound": None, "gate_product": _memory_path(mt)}  # fmt: skip
    norms = SimpleNamespace(grad_h_norm=mt.grad_h_norm, grad_c_norm=mt.grad_c_norm, config=SimpleNamespace(tbptt=tbptt))
    done = {"loss": mt.loss, "param_grad_norms": {}, "total_norm": None, "total_norm_clipped": None, "clip_coef": None,
            "clipped_fraction": None, "overflow_t": overflow_step(norms), "underflow_t": underflow_step(norms),
            "handoff_grad_norm": handoff[1] if handoff else None, "attention": None}  # fmt: skip
    outputs = [[] for _ in range(T)]  # a bare module has no head: nothing to predict at each step
    units = run_units(start, arrays, outputs, series, _per_unit(mt.grad_h, sample), done, time.perf_counter())
    if mt.output_steps is not None:  # the lag map (over the whole batch), before `done` as a run sends it
        curve = lag_curve(mt.grad_h_by_output, mt.output_steps)
        by_x = mt.grad_x_by_output
        if by_x is None:  # a custom module or a mark: no input x_t is known, so that map is NaN (nothing to show)
            by_x = np.full((len(mt.output_steps), T), np.nan)
        units.insert(-1, lag_unit(SimpleNamespace(output_steps=mt.output_steps, grad_h_by_output=mt.grad_h_by_output,
                                                  grad_x_by_output=by_x, lag_curve=curve)))  # fmt: skip
    return units


def sections(obj, sample: int = 0, tbptt: int = 0, handoff: tuple[str, str] | None = None) -> list[dict[str, Any]]:
    """``[{key, title, units}]``: one section per trace in ``obj`` (``key``: its name in ``obj``, else None).

    ``handoff``: (encoder key, decoder key) of a dict ``obj``: those two are one section on one time axis, the
    handoff marked (server/notebook/handoff.py); its key is the decoder's.

    ``obj`` is an :class:`engine.lab.Sweep` (its points computed here, drawn as the sweep page draws them), a
    :class:`ModuleTrace`, an app :class:`Trace`, what :func:`engine.trace_submodules` returns
    (``{qualified name: ModuleTrace or [one per call]}``), any such ``{label: trace}`` dict, or a list of traces.
    """

    def one(title: str, t, key: str | None = None) -> dict[str, Any]:
        if isinstance(t, Trace):
            return {"key": key, "title": title, "units": trace_units(t, time.perf_counter())}
        if isinstance(t, ModuleTrace):
            return {"key": key, "title": title, "units": module_units(t, sample, tbptt)}
        raise TypeError(f"{title}: expected an engine.ModuleTrace or engine.Trace; got "
                        f"{type(t).__name__}")  # fmt: skip

    if isinstance(obj, Trace):
        return [one(f"the lab's trace of {obj.config.to_query() or 'the default setting'}", obj)]
    if isinstance(obj, Sweep):
        return [{"key": None, "title": f"a sweep of {obj.key}", "units": sweep_units(obj)}]
    if isinstance(obj, ModuleTrace):
        return [one(f"{obj.cell.upper()} module", obj)]
    if handoff is not None and (not isinstance(obj, dict) or not isinstance(handoff, tuple | list) or len(handoff) != 2
                                or any(k not in obj for k in handoff)):
        raise ValueError(f"handoff must be (encoder key, decoder key) of the traces shown; got {handoff!r}"
                         + (f" (the keys are {list(obj)[:10]})" if isinstance(obj, dict) else ""))
    if isinstance(obj, dict):
        if not obj:
            raise ValueError("nothing to show: the dict of traces is empty")
        out = []
        for name, t in obj.items():
            if handoff and name == handoff[0]:
                continue  # shown with its decoder
            if handoff and name == handoff[1]:
                joined, step, grad = join_handoff(obj[handoff[0]], t, tuple(handoff))
                title = f"{handoff[0]} → {name}: one time axis, the handoff at step {step}"
                out.append({"key": str(name), "title": title, "units": module_units(joined, sample, tbptt,
                                                                                    (step, grad))})
                continue
            if isinstance(t, list | tuple):
                label = str(name) or "the model"  # "" is the root model's key
                out += [one(f"{label} · call {i + 1} of {len(t)}", c, str(name)) for i, c in enumerate(t)]
            else:
                out.append(one(str(name) or "the model", t, str(name)))
        return out
    if isinstance(obj, list | tuple):
        if not obj:
            raise ValueError("nothing to show: the list of traces is empty")
        return [one(f"trace {i + 1}", t) for i, t in enumerate(obj)]
    raise TypeError(f"cannot show {type(obj).__name__}: pass a trace_module(...) or trace_submodules(...) result, "
                    "or an engine.Trace")  # fmt: skip


def sweep_units(sweep: Sweep) -> list[Unit]:
    """A sweep's frames as the socket streams them (docs/protocol.md, "Sweeps"), every point computed here."""
    from server import sweeps

    started = time.perf_counter()
    units = [sweeps.start_frame(sweep, sweeps.estimate_seconds(sweep))]
    units += [sweeps.point_frame(sweep, p, point_result(sweep, p)) for p in sweep.points()]
    return [*units, sweeps.done_frame(sweep, started)]
