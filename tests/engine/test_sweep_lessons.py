"""Sweep lessons: every claim on a trace-sweep lesson's own sweep holds by a naive step-by-step autograd of each
point, every number the prose fills in is that reference's, and the checker says no to claims that do not hold."""

from types import MappingProxyType

import numpy as np
import pytest
import torch

from engine.data import input_steps, task_loss
from engine.lab import prepare
from engine.lessons import LESSONS, lesson_config
from engine.lessons.catalogue import Claim, check_claim, get_lesson
from engine.lessons.numbers import measure
from engine.lessons.sweep import curves
from tests.engine.reference import reference_trace

# Trace sweeps: a training sweep's claims are measured on its runs by tests/engine/test_lessons.py, each run exactly
# the Trainer's (tests/engine/test_sweep.py).
SWEEPS = [lesson for lesson in LESSONS if lesson.view == "sweep" and lesson_config(lesson).kind == "trace"]
ON_LINK = [(lesson, claim) for lesson in SWEEPS for claim in lesson.claims if claim.on_try is None]


def reference_bound(model, cfg, grad_last: float) -> float:
    """A vanilla RNN's bound on ‖∂L/∂h_0‖ when the loss enters at the last step only: ‖∂L/∂h_{T−1}‖ · η^(T−1),
    η = γ·σ_max(W_hh) with γ = 1 (tanh and ReLU), σ_max by PyTorch's matrix 2-norm in float64; NaN for gated cells."""
    if cfg.cell != "rnn":
        return np.nan
    assert cfg.arch == "many-to-one" and cfg.tbptt == 0  # what this closed form covers
    eta = float(torch.linalg.matrix_norm(model.rnn.weight_hh_l0.detach().double(), ord=2))
    return grad_last * eta ** (cfg.seq_len - 1)


def reference_curves(sweep) -> dict[str, dict[str, np.ndarray]]:
    """Each curve's grad_first, grad_last, ratio and bound_first from PyTorch's cell modules one step at a time
    (layer 0, forward), the mean over the seeds: tests/engine/reference.py, never the engine's tracer."""
    rows: dict[tuple, list] = {}
    for point in sweep.points():
        cfg = point.config
        model, batch = prepare(cfg)
        # In the lab's arithmetic: PyTorch's own flush of denormals to zero, as the lab's traces compute
        # (engine/tracing/_subnormal.py); a norm near 1e-36 whose units are partly denormal depends on it.
        torch.set_flush_denormal(True)
        try:
            ref = reference_trace(model.rnn, batch.x, lambda out, m=model, b=batch: task_loss(m.head(out), b))
        finally:
            torch.set_flush_denormal(False)
        norms = ref["grad_h"][0, 0].double().flatten(1).norm(dim=1)  # (T,)
        first, last = float(norms[input_steps(cfg.arch, cfg.seq_len)[0]]), float(norms[-1])
        name = str(next(iter(sweep.series[point.series].values()))) if sweep.over_key else "all"
        rows.setdefault((name, point.value), []).append((first, last, first / last if last else np.inf,
                                                          reference_bound(model, cfg, last)))  # fmt: skip
    out: dict[str, dict[str, np.ndarray]] = {}
    for (name, _), seeds in rows.items():  # in the sweep's order of values
        curve = out.setdefault(name, {"grad_first": [], "grad_last": [], "ratio": [], "bound_first": []})
        for k, metric in enumerate(("grad_first", "grad_last", "ratio", "bound_first")):
            curve[metric].append(np.mean([s[k] for s in seeds]))
    return {name: {m: np.array(v) for m, v in c.items()} for name, c in out.items()}


_REFERENCE: dict[str, dict] = {}


def _reference(lesson):
    if lesson.id not in _REFERENCE:
        _REFERENCE[lesson.id] = reference_curves(lesson_config(lesson))
    return _REFERENCE[lesson.id]


def holds(kind, x, y, p) -> bool:
    """The claim kinds of engine/lessons/sweep.py, written out again from their descriptions."""
    if kind == "straight_on_log":
        fit = np.polynomial.Polynomial.fit(x, np.log10(y), 1).convert()
        residual = np.log10(y) - fit(x)
        r2 = 1 - (residual**2).sum() / ((np.log10(y) - np.log10(y).mean()) ** 2).sum()
        return fit.coef[1] < 0 and r2 > p["r2_above"]
    if kind == "falls_by":
        return y[0] / y[-1] > p["factor_above"]
    if kind == "holds_within":
        return 1 / p["factor_below"] < y[0] / y[-1] < p["factor_below"]
    if kind == "below_until":
        return bool((y[x < p["until"]] < p["below"]).all())
    if kind == "above_until":
        return bool((y[x < p["until"]] > p["above"]).all())
    if kind == "below_from":
        return bool((y[x > p["from"]] < p["below"]).all())
    return bool((y[x > p["from"]] > p["above"]).all())  # above_from


@pytest.mark.parametrize("lesson,claim", ON_LINK, ids=[f"{le.id}/{k}-{c.kind}" for k, (le, c) in enumerate(ON_LINK)])
def test_each_claim_on_a_sweep_lesson_holds_by_a_naive_autograd_of_every_point(lesson, claim):
    sweep, p = lesson_config(lesson), claim.params
    ref = _reference(lesson)[p["over"]][p["metric"]]
    assert holds(claim.kind, np.asarray(sweep.values, dtype=np.float64), ref, p), (claim.says, ref)
    engine = curves(sweep)[p["over"]][p["metric"]]
    # float32 traces against float32 cells.  Under 1e-30 a norm's units come near the denormals flushed to zero, and
    # which of them are flushed depends on the order of the sums: there the two agree to within 5 %.
    deep = ref < 1e-30
    assert np.allclose(engine[~deep], ref[~deep], rtol=2e-3, atol=0), (engine, ref)
    assert np.allclose(engine[deep], ref[deep], rtol=5e-2, atol=0), (engine, ref)


@pytest.mark.parametrize("name,cell", [("first_drop_rnn", "rnn"), ("first_drop_lstm", "lstm"),
                                       ("first_drop_gru", "gru"), ("rnn_decades_per_ten", "rnn"),
                                       ("rnn_bound_growth", "rnn")])  # fmt: skip
def test_each_number_the_sweep_lesson_fills_in_is_the_references(name, cell):
    lesson = get_lesson("gradient-against-length")
    y = _reference(lesson)[cell]["bound_first" if name == "rnn_bound_growth" else "grad_first"]
    if name == "rnn_decades_per_ten":
        x = np.asarray(lesson_config(lesson).values, dtype=np.float64)
        want = -10 * np.polynomial.Polynomial.fit(x, np.log10(y), 1).convert().coef[1]
    else:
        want = y[-1] / y[0]
    assert measure(lesson, name) == pytest.approx(want, rel=1e-2)


def test_the_rnns_bound_drawn_beside_its_curve_is_the_references_and_above_every_point():
    sweep = get_lesson("gradient-against-length")
    ref = _reference(sweep)["rnn"]
    engine = curves(lesson_config(sweep))
    assert np.allclose(engine["rnn"]["bound_first"], ref["bound_first"], rtol=1e-3, atol=0)
    assert (ref["grad_first"] <= ref["bound_first"]).all()  # a bound: no point above it
    assert all(np.isnan(engine[cell]["bound_first"]).all() for cell in ("lstm", "gru"))  # no bound for gates


def _claim(kind, **params):
    return Claim(kind, "a claim that should not hold", MappingProxyType(params), None)


@pytest.mark.parametrize("lesson_id,claim", [
    ("gradient-against-length", _claim("holds_within", over="rnn", metric="grad_first", factor_below=10.0)),
    ("gradient-against-length", _claim("straight_on_log", over="lstm", metric="grad_first", r2_above=0.9)),
    ("gradient-against-length", _claim("falls_by", over="lstm", metric="grad_first", factor_above=10.0)),
    ("gain-against-explosion", _claim("above_from", over="tanh", metric="ratio", above=1.0, **{"from": 1.05})),
    ("gain-against-explosion", _claim("below_until", over="relu", metric="ratio", below=1.0, until=1.2)),
    ("clipping-threshold-against-divergence", _claim("above_from", over="all", metric="diverged", above=0.5,
                                                     **{"from": 50.0})),
], ids=lambda v: v if isinstance(v, str) else f"{v.kind}-{v.params['over']}")  # fmt: skip
def test_the_checker_says_no_to_sweep_claims_that_do_not_hold(lesson_id, claim):
    ok, measured = check_claim(get_lesson(lesson_id), claim)
    assert not ok, measured
