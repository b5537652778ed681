"""The static copy's grid of a lesson's main slider: which lessons have one, and which values it records."""

from __future__ import annotations

import math

import pytest

from engine import Config
from engine.config import FIELD_BY_NAME
from engine.lessons import lesson_config, try_config
from server.export.grid import POINTS, grid_configs, slider_grid
from server.export.site import EXPORTED

GRIDDED = [le for le in EXPORTED if slider_grid(le) is not None]


def test_lessons_that_train_have_no_grid_and_the_slider_lessons_have_one():
    assert all(slider_grid(le) is None for le in EXPORTED if le.trains)
    assert {"vanishing-gradients", "exploding-gradients", "lstm-cell-state"} <= {le.id for le in GRIDDED}


@pytest.mark.parametrize("lesson", GRIDDED, ids=[le.id for le in GRIDDED])
def test_the_grid_runs_evenly_from_the_lessons_value_to_its_trys(lesson):
    """The grid spans the lesson's value and that of its first try moving the slider alone, in equal steps; each
    of its settings is the lesson's with only the slider moved, and a setting the table accepts."""
    grid = slider_grid(lesson)
    base = lesson_config(lesson).to_dict()
    moved = next(try_config(lesson, i).to_dict()[grid.field] for i, t in enumerate(lesson.tries) if t.key == grid.field)
    assert {grid.values[0], grid.values[-1]} == {base[grid.field], moved}
    assert len(grid.values) == POINTS
    gaps = [b - a for a, b in zip(grid.values, grid.values[1:], strict=False)]
    assert all(math.isclose(g, grid.step) for g in gaps), gaps
    if FIELD_BY_NAME[grid.field].kind == "int":
        assert all(isinstance(v, int) for v in grid.values)
    for value, cfg in zip(grid.values, grid_configs(lesson, grid), strict=True):
        assert {k: v for k, v in cfg.to_dict().items() if v != base[k]} in ({}, {grid.field: value})
        assert Config.from_dict(cfg.to_dict()) == cfg
    assert grid.to_dict() == {"field": grid.field, "min": grid.values[0], "max": grid.values[-1], "step": grid.step}
