"""Lessons on the cliff page: the claims they make about the two descents and the numbers their prose quotes.

A lesson whose page is :data:`CLIFF_PAGE` (``"view": "cliff"``, see :mod:`engine.lessons`) has a link and tries
made of :data:`engine.lab.cliff.CLIFF_FIELDS` keys; its claims are of the kinds in :data:`CLIFF_CLAIM_KINDS` and its
placeholders name :data:`CLIFF_MEASURES`, all measured on the two descents of :func:`engine.lab.cliff.descend`.

A path's "largest step" is the longest move ‖Δ(w, b)‖ it makes; its "final loss" is the loss where it ends.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import Any

from engine.lab import CLIFF_FIELD_BY_NAME, CliffConfig, Path, descend
from engine.lessons.pages import LessonPage

__all__ = ["CLIFF_PAGE"]

# kind -> (required parameters, optional parameters, what the setting needs), as engine.lessons.pages.LessonPage says.
CLIFF_CLAIM_KINDS: dict[str, tuple[dict[str, Any], dict[str, Any], None]] = {
    # the plain descent's largest step over the clipped descent's largest step
    "thrown": ({"step_ratio_above": float}, {}, None),
    "not_thrown": ({"step_ratio_below": float}, {}, None),
    # the clipped descent's final loss over the plain descent's
    "clipped_ends_lower": ({"loss_ratio_below": float}, {}, None),
    # clipping never acted: every gradient norm on the way was at most clip_at, so both paths are one
    "same_path": ({}, {}, None),
}


@functools.lru_cache(maxsize=32)
def _paths(cfg: CliffConfig) -> dict[str, Path]:
    return descend(cfg)


def _largest_step(path: Path) -> float:
    return max(path.step) if path.step else 0.0


# measure -> its value on a setting
CLIFF_MEASURES: dict[str, Callable[[CliffConfig], float]] = {
    "plain_max_step": lambda c: _largest_step(_paths(c)["plain"]),
    "clipped_max_step": lambda c: _largest_step(_paths(c)["clipped"]),
    "plain_max_norm": lambda c: max(_paths(c)["plain"].grad_norm),
    "plain_final_loss": lambda c: _paths(c)["plain"].loss[-1],
    "clipped_final_loss": lambda c: _paths(c)["clipped"].loss[-1],
}


def check_cliff_claim(cfg: CliffConfig, kind: str, params: Mapping[str, Any]) -> tuple[bool, str]:
    """Measure a cliff claim on ``cfg``: (holds, what was measured)."""
    paths = _paths(cfg)
    plain, clipped = paths["plain"], paths["clipped"]
    if plain.stopped_at is not None or clipped.stopped_at is not None:
        return (
            False,
            f"a descent left the finite numbers (plain at {plain.stopped_at}, clipped at {clipped.stopped_at})",
        )
    steps = _largest_step(plain), _largest_step(clipped)
    said = f"largest step: plain {steps[0]:.4g}, clipped {steps[1]:.4g}"
    if kind in ("thrown", "not_thrown"):
        ratio = steps[0] / steps[1]
        ok = ratio > params["step_ratio_above"] if kind == "thrown" else ratio < params["step_ratio_below"]
        return ok, f"{said}: ratio {ratio:.4g}"
    if kind == "clipped_ends_lower":
        ratio = clipped.loss[-1] / plain.loss[-1]
        return ratio < params["loss_ratio_below"], f"final loss: plain {plain.loss[-1]:.4g}, clipped " \
            f"{clipped.loss[-1]:.4g}: ratio {ratio:.4g}"  # fmt: skip
    if kind == "same_path":
        ok = plain.w == clipped.w and plain.b == clipped.b
        return ok, f"largest gradient norm {max(plain.grad_norm):.4g} against clip_at {cfg.clip_at:g}; {said}"
    raise ValueError(f"unknown cliff claim kind {kind!r}")


CLIFF_PAGE = LessonPage("cliff", "/cliff", CliffConfig.from_dict, CLIFF_FIELD_BY_NAME, CLIFF_CLAIM_KINDS,
                        dict.fromkeys(CLIFF_MEASURES), check_cliff_claim)  # fmt: skip
