"""One key of a settings table: its type, bounds, link text and description.

A :class:`Field` checks a value (:meth:`Field.check`), reads and writes it in a link
(:meth:`Field.parse`, :meth:`Field.format`) and describes itself to the page and the API
(:meth:`Field.describe`: label, choice labels, when it applies and why not, what it affects).
The model's table is :data:`engine.config.FIELDS`; the cliff page has its own (engine/cliff.py).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any


class ConfigError(ValueError):
    """A configuration value is not allowed; ``field`` names the key."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field
        self.message = message


@dataclass(frozen=True)
class Field:
    name: str
    kind: str  # 'choice' | 'int' | 'float' | 'bool'
    default: Any
    description: str
    group: str
    choices: tuple[str, ...] = ()
    low: float | None = None
    high: float | None = None
    low_open: bool = False  # True when the lower bound itself is excluded
    unit: str = ""
    label: str = ""  # the control's label on the page, in the field's own words
    # When the key applies: {other key: values under which it does}; {} means always.  A key that does not
    # apply keeps its value but changes nothing (normalised() or the model ignores it).
    applies: tuple[tuple[str, tuple[Any, ...]], ...] = ()
    not_applies: tuple[tuple[str, tuple[Any, ...]], ...] = ()  # {other key: values under which it does not}
    why_not: str = ""  # why it does not apply, for the page ('LSTM only')
    # What a change of this key changes: 'weights' (the initial model), 'data' (the batch), 'trace' (the
    # forward/backward pass of that model on that batch), 'training' (only what Train does).
    affects: tuple[str, ...] = ("trace",)
    choice_labels: tuple[tuple[str, str], ...] = ()  # display names of choices, e.g. ('rnn', 'vanilla RNN')
    self_named: bool = False  # a value names itself in a legend ('lstm'); else written 'clip norm'

    def applies_to(self, values: dict[str, Any]) -> bool:
        """Whether this key matters for a model with these ``values`` (a dict of every key)."""
        return all(values[k] in vs for k, vs in self.applies) and not any(
            values[k] in vs for k, vs in self.not_applies
        )

    def allowed(self) -> str:
        if self.kind == "choice":
            return "one of " + ", ".join(repr(c) for c in self.choices)
        if self.kind == "bool":
            return "true or false"
        lo = "greater than" if self.low_open else "from"
        word = "an integer" if self.kind == "int" else "a number"
        return f"{word} {lo} {_fmt(self.low)} to {_fmt(self.high)}"

    def check(self, value: Any) -> Any:
        """Return ``value`` normalised to this field's type, or raise ConfigError."""
        bad = ConfigError(self.name, f"{self.name} must be {self.allowed()}; got {value!r}")
        if self.kind == "choice":
            if not isinstance(value, str) or value not in self.choices:
                raise bad
            return value
        if self.kind == "bool":
            if not isinstance(value, bool):
                raise bad
            return value
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise bad
        if self.kind == "int":
            if isinstance(value, float):
                if not value.is_integer():
                    raise bad
                value = int(value)
        else:
            value = float(value)
            if not math.isfinite(value):
                raise bad
        if value < self.low or value > self.high or (self.low_open and value == self.low):
            raise bad
        return value

    def parse(self, text: str) -> Any:
        """Read this field from URL text (``'true'``, ``'0.5'``, ``'lstm'``)."""
        if self.kind == "bool":
            low = text.strip().lower()
            if low in ("1", "true", "yes", "on"):
                return True
            if low in ("0", "false", "no", "off"):
                return False
            return self.check(text)
        if self.kind == "int":
            try:
                return self.check(int(text))
            except ValueError:
                pass
            try:
                return self.check(float(text))
            except ValueError:
                return self.check(text)
        if self.kind == "float":
            try:
                return self.check(float(text))
            except ValueError:
                return self.check(text)
        return self.check(text)

    def format(self, value: Any) -> str:
        """Write this field for a URL; ``parse(format(v)) == v``."""
        if self.kind == "bool":
            return "1" if value else "0"
        if self.kind == "float":
            return repr(float(value))
        return str(value)

    def describe(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "name": self.name,
            "type": self.kind,
            "default": self.default,
            "description": self.description,
            "group": self.group,
        }
        if self.kind == "choice":
            d["choices"] = list(self.choices)
        if self.kind in ("int", "float"):
            d["min"] = self.low
            d["max"] = self.high
            d["min_exclusive"] = self.low_open
        if self.unit:
            d["unit"] = self.unit
        d["label"] = self.label or self.name.replace("_", " ")
        d["applies"] = {k: list(vs) for k, vs in self.applies}
        d["not_applies"] = {k: list(vs) for k, vs in self.not_applies}
        d["why_not"] = self.why_not
        d["affects"] = list(self.affects)
        if self.choice_labels:
            d["choice_labels"] = dict(self.choice_labels)
        d["self_named"] = self.self_named
        return d


def _fmt(x: float | None) -> str:
    if x is None:
        return "?"
    if float(x).is_integer() and abs(x) < 1e15:
        return f"{int(x):,}".replace(",", "")
    return f"{x:g}"
