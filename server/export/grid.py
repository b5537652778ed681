"""A thin grid of values of a lesson's main slider, recorded so that dragging it works in the static copy.

A lesson's main control is the one numeric key its first "now try" that changes a single slider key moves
(``seq_len`` 100 → 20, ``gain`` 1.2 → 1.0, ``forget_bias`` 3 → 0): the question the lesson asks is what happens
between the two.  The grid is :data:`POINTS` evenly spaced values from one to the other, ends included; the copy's
slider moves in the grid's steps, and each value is a recording of exactly what the socket sends for it.  A lesson
about training has no grid: a drag there would have to train at each value.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from engine import Config
from engine.config import FIELDS
from engine.lessons import Lesson, lesson_config, try_config

POINTS = 5  # values on a grid, both ends included
SLIDERS = {f.name: f for f in FIELDS if f.kind in ("int", "float") and f.name != "seed"}


@dataclass(frozen=True)
class SliderGrid:
    field: str
    low: float  # the grid's first value
    step: float  # between neighbours
    values: tuple[float, ...]

    def to_dict(self) -> dict:
        """What the page's script reads (window.GFL_STATIC.slider)."""
        return {"field": self.field, "min": self.low, "max": self.values[-1], "step": self.step}


def slider_grid(lesson: Lesson) -> SliderGrid | None:
    """The grid of ``lesson``'s main control, or None (a training lesson, or no try moves one slider key)."""
    if lesson.trains:
        return None
    base = lesson_config(lesson).to_dict()
    for i in range(len(lesson.tries)):
        changed = {k: v for k, v in try_config(lesson, i).to_dict().items() if base[k] != v}
        if len(changed) != 1 or next(iter(changed)) not in SLIDERS:
            continue
        ((field, target),) = changed.items()
        low, high = sorted((base[field], target))
        step = (high - low) / (POINTS - 1)
        if SLIDERS[field].kind == "int":
            step = max(1, round(step))
        values = tuple(_exact(low + k * step, SLIDERS[field].kind) for k in range(POINTS) if low + k * step <= high)
        return SliderGrid(field, values[0], _exact(step, SLIDERS[field].kind), values)
    return None


def grid_configs(lesson: Lesson, grid: SliderGrid) -> list[Config]:
    """The lesson's setting at each value of its grid."""
    base = lesson_config(lesson)
    return [replace(base, **{grid.field: value}) for value in grid.values]


def _exact(value: float, kind: str) -> float | int:
    """The value as the page's slider writes it: an integer, or a float of at most 6 decimals."""
    return int(round(value)) if kind == "int" else round(value, 6)
