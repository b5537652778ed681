"""One key of a settings table: its type, bounds, link text and description.

A :class:`Field` checks a value (:meth:`Field.check`), reads and writes it in a link
(:meth:`Field.parse`, :meth:`Field.format`) and describes itself to the page and the API
(:meth:`Field.describe`: label, choice labels, when it applies and why not, what it affects).
The model's table is :data:`engine.config.space.FIELDS`; the cliff page has its own (engine/lab/cliff.py).

Every reader of link text (the page's link, ``/api/script``, ``/api/cliff``, the cliff page) goes through
:func:`read_link` and :meth:`Field.parse`, so they accept and refuse exactly the same text.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["NUMBER_SYNTAX", "Field", "RepeatedKey", "check_against", "quote", "read_link"]

# How a link writes a number: ASCII digits, an optional minus, fraction and exponent, as JSON and JavaScript's
# String(x) write numbers.  Nothing else: no spaces around it, no '_' between digits, no other script's digits,
# no 'inf' or 'nan' (Python's int() and float() accept all of these).
NUMBER_SYNTAX = r"-?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?"
_NUMBER = re.compile(NUMBER_SYNTAX)
_INTEGER = re.compile(r"-?[0-9]+")
MAX_NUMBER_CHARS = 32  # longer text is no number any field takes (and int() of thousands of digits is slow)
TRUE_WORDS = ("1", "true", "yes", "on")  # how a link may say true or false (static/js/schema.js reads the same)
FALSE_WORDS = ("0", "false", "no", "off")
_QUOTED_CHARS = 40  # a field name taken from a client's key is cut to this
QUOTE_CHARS = 200  # client text quoted in a message: enough to recognise it, never a megabyte echoed back


class ConfigError(ValueError):
    """A configuration value is not allowed; ``field`` names the key."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field
        self.message = message


class RepeatedKey(ConfigError):
    """A key given more than once (in a link's query or a JSON object): which one is meant cannot be known."""

    def __init__(self, key: str, count: int | None = None):
        times = f"{count} times" if count else "more than once"
        super().__init__(key[:_QUOTED_CHARS], f"key {quote(key)} is given {times}; give each key once")


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
    # Where the key does not apply, Config.normalised() sets it to this value (None: it keeps the value given).
    pinned: Any = None
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
        # The message is written only for a bad value: every request checks every key, a room's hundreds at once.
        def bad() -> ConfigError:
            return ConfigError(self.name, f"{self.name} must be {self.allowed()}; got {quote(value)}")

        if self.kind == "choice":
            if not isinstance(value, str) or value not in self.choices:
                raise bad()
            return value
        if self.kind == "bool":
            if not isinstance(value, bool):
                raise bad()
            return value
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise bad()
        if self.kind == "int":
            if isinstance(value, float):
                if not value.is_integer():
                    raise bad()
                value = int(value)
        else:
            value = float(value)
            if not math.isfinite(value):
                raise bad()
        if value < self.low or value > self.high or (self.low_open and value == self.low):
            raise bad()
        return value

    def parse(self, text: str) -> Any:
        """Read this field from link text: ``'lstm'``, ``'0.5'``, ``'1e-3'``, ``'true'`` (or 1/yes/on, 0/false/no/off).

        Numbers must match :data:`NUMBER_SYNTAX` exactly; anything else raises :class:`ConfigError` naming the field.
        """
        if self.kind == "bool":
            word = text.lower()
            if word in TRUE_WORDS:
                return True
            if word in FALSE_WORDS:
                return False
        elif self.kind in ("int", "float") and len(text) <= MAX_NUMBER_CHARS and _NUMBER.fullmatch(text):
            try:
                return self.check(int(text) if _INTEGER.fullmatch(text) else float(text))
            except ConfigError:
                pass  # out of range: the message below quotes the link's text
        return self.check(text)  # a choice, or text that is not this field's: check() says what is allowed

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
        if self.pinned is not None:
            d["pinned"] = self.pinned
        d["affects"] = list(self.affects)
        if self.choice_labels:
            d["choice_labels"] = dict(self.choice_labels)
        d["self_named"] = self.self_named
        return d


def quote(text: Any, limit: int | None = None) -> str:
    """``repr(text)`` for a message, cut to about ``limit`` characters (:data:`QUOTE_CHARS`) saying how long it was.

    The one way a message quotes what a client sent (a cell, a key, a value, a header, a column name): a
    50-million-character header is quoted as its first ``limit`` characters and its length.
    """
    limit = QUOTE_CHARS if limit is None else limit
    if text is None or isinstance(text, (bool, int, float)):
        return repr(text) if not isinstance(text, int) or text.bit_length() <= 64 else "a very large integer"
    if not isinstance(text, str):  # never repr() a client's object: a deeply nested one recurses
        return f"a {type(text).__name__}"
    shown = repr(text[:limit])  # a character may take four to show (\x00): the shown text is cut, not the text
    if len(text) <= limit and len(shown) <= limit + 2:
        return shown
    return f"{shown[:limit]}… ({len(text):,} characters)"


def read_link(
    items: Iterable[tuple[str, str]] | Mapping[str, str], by_name: Mapping[str, Field], ignored: Iterable[str] = ()
) -> tuple[dict[str, Any], list[ConfigError]]:
    """A link's query read key by key with :meth:`Field.parse`: ``(values, problems)``.

    ``items`` are the query's ``(key, text)`` pairs in order, repeats included (Starlette's
    ``QueryParams.multi_items()``).  An unknown key, a key given more than once and a bad value each give one
    :class:`ConfigError` naming the key, in the order met, and no value; keys in ``ignored`` (the page's own) are
    skipped.  Strict readers raise the first problem; the pages fall back to defaults with a notice for each.
    """
    pairs = list(items.items() if isinstance(items, Mapping) else items)
    skip = frozenset(ignored)
    counts = Counter(key for key, _ in pairs)
    values: dict[str, Any] = {}
    problems: list[ConfigError] = []
    seen: set[str] = set()
    for key, text in pairs:
        if key in skip or key in seen:
            continue
        seen.add(key)
        f = by_name.get(key)
        if f is None:
            problems.append(ConfigError(key[:_QUOTED_CHARS], f"unknown key {quote(key)}"))
        elif counts[key] > 1:
            problems.append(RepeatedKey(key, counts[key]))
        else:
            try:
                values[key] = f.parse(text)
            except ConfigError as e:
                problems.append(e)
    return values, problems


_TYPES = {"choice": "str", "int": "int", "float": "float", "bool": "bool"}


def check_against(cls: type, table: tuple[Field, ...]) -> None:
    """Raise ``TypeError`` unless dataclass ``cls`` has exactly ``table``'s keys, in its order, each with the
    field's type and default: a settings class is written out (readable, typed) but cannot drift from its table."""
    have = [(f.name, getattr(f.type, "__name__", f.type), f.default) for f in dataclasses.fields(cls)]
    want = [(f.name, _TYPES[f.kind], f.default) for f in table]
    if have != want:
        first = next((h, w) for h, w in zip([*have, None], [*want, None]) if h != w)
        raise TypeError(f"{cls.__name__} disagrees with its table: has {first[0]}, the table says {first[1]}")


def _fmt(x: float | None) -> str:
    if x is None:
        return "?"
    if float(x).is_integer() and abs(x) < 1e15:
        return f"{int(x):,}".replace(",", "")
    return f"{x:g}"
