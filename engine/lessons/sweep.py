"""Lessons on the sweep page: the claims they make about a sweep's curves, each measured on the sweep itself.

A lesson whose page is :data:`SWEEP_PAGE` (``"view": "sweep"``, see :mod:`engine.lessons`) has a link made of
config keys and a sweep's own keys (``key``, ``values``, ``over``, ``seeds``, ``kind``: :class:`engine.lab.Sweep`);
its tries move one config key of the sweep's setting, and its link's ``view`` names the metric the page opens on
(:data:`SWEEP_VIEWS`).  A claim names one curve (``over``: its name, :attr:`engine.lab.Sweep.curve_names`: the other
key's value, a named setting's name, or ``"all"`` for one curve) and one metric of its points; a curve's value at a
swept value is the mean over the seeds.  Sweeps are deterministic, so each is computed once (:func:`curves`).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

import numpy as np

from engine.config import FIELD_BY_NAME, ConfigError
from engine.lab import Sweep, run_sweep
from engine.lab.sweep import SWEEP_KEYS
from engine.lessons.pages import LessonPage

__all__ = ["SWEEP_PAGE"]

# bound_first: a vanilla RNN's geometric bound at the first input step (engine.lab.trace_point); NaN for a gated cell.
TRACE_METRICS = ("grad_first", "grad_last", "ratio", "loss", "total_norm", "total_norm_clipped", "bound_first")
# accuracy: a classifying task's, at the last step (engine.lab.train_point); NaN for a regression task.
TRAIN_METRICS = ("final_loss", "accuracy", "learned", "diverged")
# What a lesson's link may open the page on (its "view"): the metric drawn first, one the page draws.
SWEEP_VIEWS = tuple(m for m in TRACE_METRICS if m != "bound_first") + TRAIN_METRICS
_CURVE = {"over": str, "metric": TRACE_METRICS + TRAIN_METRICS}
# kind -> (required parameters, optional parameters, what the sweep needs), as engine.lessons.pages.LessonPage says.
SWEEP_CLAIM_KINDS: dict[str, tuple[dict[str, Any], dict[str, Any], tuple | None]] = {
    # log10 of the curve is a straight falling line in the swept value: R² of the least-squares fit above r2_above
    "straight_on_log": ({**_CURVE, "r2_above": float}, {}, None),
    # the curve's first value over its last is above factor_above (it falls that much) ...
    "falls_by": ({**_CURVE, "factor_above": float}, {}, None),
    # ... or within factor_below of its last either way (it holds)
    "holds_within": ({**_CURVE, "factor_below": float}, {}, None),
    # the curve is below `below` at every swept value under `until`, or above `above` at every swept value over `from`
    "below_until": ({**_CURVE, "below": float, "until": float}, {}, None),
    "above_from": ({**_CURVE, "above": float, "from": float}, {}, None),
    # ... and the other way round: above at every value under `until`, below at every value over `from`
    "above_until": ({**_CURVE, "above": float, "until": float}, {}, None),
    "below_from": ({**_CURVE, "below": float, "from": float}, {}, None),
}


def make_sweep(link: Mapping[str, Any]) -> Sweep:
    """A lesson's link (config keys and the sweep's own, as JSON values) as a validated sweep."""
    config = {k: v for k, v in link.items() if k not in SWEEP_KEYS}
    return Sweep.from_dict({"config": config, **{k: v for k, v in link.items() if k in SWEEP_KEYS}})


@functools.lru_cache(maxsize=16)
def curves(sweep: Sweep) -> dict[str, dict[str, np.ndarray]]:
    """Each curve's metrics over the swept values, the mean over the seeds (non-finite seeds make it non-finite):
    ``{over alternative (text) or "all": {metric: (V,)}}``."""
    answer = run_sweep(sweep)
    out = {}
    for name, series in zip(sweep.curve_names, answer["series"], strict=True):
        metrics = {}
        for metric in TRACE_METRICS if sweep.kind == "trace" else TRAIN_METRICS:
            rows = [[np.nan if p[metric] is None else float(p[metric]) for p in series["points"] if p["value"] == v]
                    for v in sweep.values]  # fmt: skip
            metrics[metric] = np.array([np.mean(r) for r in rows], dtype=np.float64)
        out[name] = metrics
    return out


def _curve(sweep: Sweep, p: Mapping[str, Any]) -> np.ndarray:
    named = curves(sweep)
    if p["over"] not in named:
        raise ConfigError("over", f"this sweep has no curve {p['over']!r}; its curves: {', '.join(named)}")
    if p["metric"] not in named[p["over"]]:
        raise ConfigError("metric", f"a {sweep.kind} sweep has no metric {p['metric']!r}")
    return named[p["over"]][p["metric"]]


def log_fit(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """The least-squares line through (x, log10 y): its slope (decades per unit of x) and R²."""
    ly = np.log10(y)
    slope, intercept = np.polyfit(x, ly, 1)
    residual = ly - (slope * x + intercept)
    total = ly - ly.mean()
    return float(slope), float(1 - residual @ residual / (total @ total))


def check_sweep_claim(sweep: Sweep, kind: str, p: Mapping[str, Any]) -> tuple[bool, str]:
    """Measure a sweep claim on ``sweep``: (holds, what was measured)."""
    y = _curve(sweep, p)
    x = np.asarray(sweep.values, dtype=np.float64)
    shown = ", ".join(f"{v:g}: {m:.3g}" for v, m in zip(sweep.values, y, strict=True))
    said = f"{p['metric']} of {p['over']} at {sweep.key} = {shown}"
    finite = bool(np.isfinite(y).all())
    if kind == "straight_on_log":
        if not finite or (y <= 0).any():
            return False, f"{said}: not all positive and finite"
        slope, r2 = log_fit(x, y)
        return slope < 0 and r2 > p["r2_above"], f"{said}: {slope:.3g} decades per unit, R² {r2:.4f}"
    if kind in ("falls_by", "holds_within"):
        with np.errstate(divide="ignore", invalid="ignore"):
            factor = float(y[0] / y[-1])
        if kind == "falls_by":
            return factor > p["factor_above"], f"{said}: first over last {factor:.3g}"
        within = finite and max(factor, 1 / factor) < p["factor_below"]  # no more than that factor either way
        return bool(within), f"{said}: first over last {factor:.3g}"
    if kind in ("below_until", "above_until", "below_from", "above_from"):
        part = y[x < p["until"]] if kind.endswith("_until") else y[x > p["from"]]
        ok = (part < p["below"]).all() if kind.startswith("below") else (part > p["above"]).all()
        return bool(part.size and ok), said
    raise ValueError(f"unknown sweep claim kind {kind!r}")


def _drop(curve: str, metric: str):
    """Measure: one curve's metric at the sweep's last value over at its first."""
    def value(sweep: Sweep) -> float:
        y = curves(sweep)[curve][metric]
        return float(y[-1] / y[0])
    return value


def _at(curve: str, metric: str, index: int):
    """Measure: one curve's metric at one swept value (by index: 0 the first, -1 the last)."""
    return lambda s: float(curves(s)[curve][metric][index])


def _decades_per_ten(curve: str, metric: str):
    """Measure: a fitted slope, as decades per 10 steps of the swept key: how fast one curve falls."""
    return lambda s: -10 * log_fit(np.asarray(s.values, dtype=np.float64), curves(s)[curve][metric])[0]


def _has(key: str, alternative: str) -> tuple:
    return (lambda s: alternative in s.curve_names, f"a sweep with a curve {alternative!r} (over {key})")


# measure -> (its value on a sweep, what the sweep needs).  The gradient reaching the first step, per cell; an
# encoder-decoder's ratio (its first source step's gradient over its decoder's last step's), per attention.
SWEEP_MEASURES = {f"first_drop_{c}": (_drop(c, "grad_first"), _has("cell", c)) for c in FIELD_BY_NAME["cell"].choices}
SWEEP_MEASURES["rnn_decades_per_ten"] = (_decades_per_ten("rnn", "grad_first"), _has("cell", "rnn"))
SWEEP_MEASURES |= {f"source_drop_{a}": (_drop(a, "ratio"), _has("attention", a))
                   for a in FIELD_BY_NAME["attention"].choices}  # fmt: skip
SWEEP_MEASURES["source_decades_per_ten"] = (_decades_per_ten("none", "ratio"), _has("attention", "none"))
# A training sweep over attention: the accuracy at the end of training at the shortest and the longest length.
SWEEP_MEASURES |= {f"accuracy_{end}_{a}": (_at(a, "accuracy", i), _has("attention", a))
                   for a in FIELD_BY_NAME["attention"].choices for end, i in (("shortest", 0), ("longest", -1))}

# How many times the RNN's geometric bound at the first step grows over the sweep: its last value over its first.
SWEEP_MEASURES["rnn_bound_growth"] = (_drop("rnn", "bound_first"), _has("cell", "rnn"))

SWEEP_FIELDS = dict(FIELD_BY_NAME)  # a try moves one key of the sweep's setting
SWEEP_PAGE = LessonPage("sweep", "/sweep", make_sweep, SWEEP_FIELDS, SWEEP_CLAIM_KINDS,
                        {name: needs for name, (_, needs) in SWEEP_MEASURES.items()}, check_sweep_claim,
                        SWEEP_VIEWS)  # fmt: skip
