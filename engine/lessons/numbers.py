"""Measured numbers in a lesson's text: placeholders filled from the trace of the lesson's own link.

A lesson's text may hold ``{measure}`` (measured on the lesson's link) or ``{measure@i}`` (on the link after try
``i``), with ``measure`` one of its page's measures (:data:`engine.lessons.lab.MEASURES`,
:data:`engine.lessons.cliff.CLIFF_MEASURES`).  :func:`render_lesson` replaces each placeholder
by the value :func:`measure` computes with ``trace_config`` for that exact config, so the prose can never drift
from what the page shows for the same link.

Ratios are those of :mod:`engine.lessons.lab`: ‖∂L/∂h_0‖ / ‖∂L/∂h_{T-1}‖ of layer 0, forward direction.
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np

from engine.config import Config
from engine.data import get_task
from engine.lessons.catalogue import PLACEHOLDER, Lesson, lesson_config, try_config
from engine.lessons.cliff import CLIFF_MEASURES
from engine.lessons.lab import (
    alignment_share,
    copy_band,
    lag_at,
    lag_trace,
    ratio,
    reach,
    source_reach,
    spread,
    trace,
    trained_trace,
)
from engine.lessons.sweep import SWEEP_MEASURES
from engine.models import build_model

__all__ = ["render_lesson"]

_SUPERSCRIPT = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")


def magnitude(x: float) -> str:
    """A positive quantity as people say it: 2 significant figures from 0.001 to 10,000, else a power of ten.

    ``4812.3 -> "4,800"``, ``0.1389 -> "0.14"``, ``0.0199 -> "0.02"``, ``2.3e-27 -> "10⁻²⁷"`` (the nearest power
    on a log scale).  0 is "0": a gradient that vanished under float32's smallest normal value is exactly 0 in the
    numbers the lab computes (engine/tracing/_subnormal.py).
    """
    if not math.isfinite(x) or x < 0:
        raise ValueError(f"a magnitude must be positive and finite; got {x!r}")
    if x == 0:
        return "0"
    if 1e-3 <= x < 1e4:
        v = float(f"{x:.2g}")
        text = f"{v:,.{max(0, 1 - math.floor(math.log10(v)))}f}"
        return text.rstrip("0").rstrip(".") if "." in text else text
    return "10" + str(round(math.log10(x))).translate(_SUPERSCRIPT)


def two_decimals(x: float) -> str:
    return f"{x:.2f}"


def percent(x: float) -> str:
    """A share from 0 to 1 as a whole percentage: ``0.934 -> "93%"``."""
    return f"{100 * x:.0f}%"


def _edges(cfg: Config) -> tuple[float, float]:
    # Each direction's far quarter over its near end, as the both_ends claim measures it.
    g = trace(cfg).grad_h_norm.astype(np.float64)
    q = max(1, cfg.seq_len // 4)
    return float(g[0, 0, :q].mean() / g[0, 0, -1]), float(g[0, 1, -q:].mean() / g[0, 1, 0])


def _reach(cfg: Config) -> int:
    k = reach(lag_trace(cfg))
    if k is None:
        raise ValueError(f"the lag curve of {cfg.non_default()} never falls below 10⁻³: no lag_reach to quote")
    return k


def _rnn_params(cfg: Config) -> int:
    task = get_task(cfg.task)
    return sum(p.numel() for p in build_model(cfg, task.input_size, task.output_size).rnn.parameters())


# measure -> (value of a config, how the text writes it)
_MEASURES = {
    "ratio": (lambda c: ratio(trace(c).grad_h_norm), magnitude),
    "sigma_max": (lambda c: trace(c).theory["sigma_max"][0][0], two_decimals),
    "spectral_radius": (lambda c: trace(c).theory["spectral_radius"][0][0], two_decimals),
    "gate_product": (lambda c: float(trace(c).theory["gate_product"][0, 0, 0]), magnitude),
    # the bottom layer's gradient over the top layer's, at the last step
    "layer_fraction": (lambda c: float(trace(c).grad_h_norm[0, 0, -1] / trace(c).grad_h_norm[-1, 0, -1]),
                       magnitude),  # fmt: skip
    "edge_forward": (lambda c: _edges(c)[0], magnitude),
    "edge_reverse": (lambda c: _edges(c)[1], magnitude),
    "rnn_params": (_rnn_params, lambda n: f"{n:,}"),  # the recurrent layers' parameters, without the read-out
    # the total curve's max over its min; the lag map's (engine/lessons/lab.py): where the lag curve first falls
    # below 10⁻³, its value halfway back (lag ⌊T/2⌋), the RNN's contraction γ·σ_max (its bound's factor per step),
    # and the copy task's band before training
    "total_spread": (lambda c: spread(trace(c).grad_h_norm), magnitude),
    "lag_reach": (_reach, str),
    "lag_middle": (lambda c: lag_at(lag_trace(c), c.seq_len // 2), magnitude),
    "contraction": (lambda c: lag_trace(c).theory["contraction"][-1][0], two_decimals),
    "copy_band": (lambda c: copy_band(lag_trace(c), c), magnitude),
    # an encoder-decoder's gradient at the first source step over that at the last (engine/lessons/lab.py)
    "source_reach": (lambda c: source_reach(trace(c)), magnitude),
    # the share of the alignment's weight on a diagonal, before and after training (engine/lessons/lab.py)
    "antidiagonal_share": (lambda c: alignment_share(trace(c), "anti"), magnitude),
    "trained_antidiagonal_share": (lambda c: alignment_share(trained_trace(c), "anti"), magnitude),
    "trained_diagonal_share": (lambda c: alignment_share(trained_trace(c), "main"), magnitude),
    # the cliff page's lessons: lengths of steps, gradient norms and losses of its two descents
    **{name: (value, magnitude) for name, value in CLIFF_MEASURES.items()},
    # the sweep page's: a curve's fall over the sweep, the RNN's fitted slope on its log axis, accuracies in percent
    **{name: (value, two_decimals if name.endswith("_per_ten") else percent if name.startswith("accuracy_")
              else magnitude) for name, (value, _) in SWEEP_MEASURES.items()},
}


def measured_config(lesson: Lesson, on_try: int | None) -> Config:
    return lesson_config(lesson) if on_try is None else try_config(lesson, on_try)


def measure(lesson: Lesson, name: str, on_try: int | None = None) -> float:
    """The value of measure ``name`` on the lesson's link, or on its link after try ``on_try``."""
    if name not in _MEASURES:
        raise KeyError(f"unknown measure {name!r}; known: {', '.join(_MEASURES)}")
    return _MEASURES[name][0](measured_config(lesson, on_try))


def render_text(lesson: Lesson, text: str) -> str:
    """``text`` with every placeholder replaced by its measured, formatted value."""

    def fill(m) -> str:
        name, on_try = m.group(1), None if m.group(2) is None else int(m.group(2))
        return _MEASURES[name][1](measure(lesson, name, on_try))

    return PLACEHOLDER.sub(fill, text)


def render_lesson(lesson: Lesson) -> Lesson:
    """The lesson with its numbers measured: every text field and every try's ``look_for`` rendered."""
    text = {name: render_text(lesson, getattr(lesson, name)) for name in ("summary", "question", "answer",
            "analogy", "equation", "equation_says")}  # fmt: skip
    return replace(
        lesson,
        explanation=tuple(render_text(lesson, p) for p in lesson.explanation),
        tries=tuple(replace(t, look_for=render_text(lesson, t.look_for)) for t in lesson.tries),
        **text,
    )
