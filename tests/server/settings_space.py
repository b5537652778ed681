"""Settings for sweeps over a table of fields: every field's edges, seeded random settings, and link text.

Used by tests/server/test_every_input.py (every route that reads a setting) and tests/server/test_openapi.py.
"""

from __future__ import annotations

import math
import random
from typing import Any

from engine.config import Field


def edges(f: Field) -> list[tuple[Any, bool]]:
    """``f``'s values at its edges, each with whether it is allowed: every choice, both bounds, and just past them."""
    if f.kind == "choice":
        return [(c, True) for c in f.choices] + [(f.choices[0] + "x", False), ("", False)]
    if f.kind == "bool":
        return [(True, True), (False, True), ("maybe", False)]
    if f.kind == "int":
        low, high = int(f.low), int(f.high)
        return [(low, True), (high, True), (low - 1, False), (high + 1, False)]
    values = [(f.low, not f.low_open), (f.high, True), (math.nextafter(f.high, math.inf), False)]
    if f.low_open:
        return [*values, (math.nextafter(f.low, math.inf), True)]
    return [*values, (math.nextafter(f.low, -math.inf), False)]


def random_value(f: Field, rng: random.Random) -> Any:
    """A value ``f`` allows; numbers near either bound as often as in between."""
    if f.kind == "choice":
        return rng.choice(f.choices)
    if f.kind == "bool":
        return rng.random() < 0.5
    low = f.low if not f.low_open else math.nextafter(f.low, math.inf)
    where = rng.choice(("low", "high", "between"))
    if f.kind == "int":
        low, high = int(math.ceil(low)), int(f.high)
        return {"low": low, "high": high}.get(where, rng.randint(low, high))
    return {"low": low, "high": f.high}.get(where, rng.uniform(low, f.high))


def random_setting(table: tuple[Field, ...], rng: random.Random, keep: float = 0.5) -> dict[str, Any]:
    """Values each of its own field allows, for a random subset of the table's keys (together they may break a
    rule that ties keys, which is the point)."""
    return {f.name: random_value(f, rng) for f in table if rng.random() < keep}


def link_text(f: Field, value: Any) -> str:
    """How a link writes ``value`` of ``f`` (``Field.format``), or its plain text for a value ``f`` does not take."""
    try:
        return f.format(f.check(value))
    except ValueError:
        return value if isinstance(value, str) else repr(value)
