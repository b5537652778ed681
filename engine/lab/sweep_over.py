"""A sweep's curves: the alternatives its ``over`` draws, each a setting of one or more config keys.

Two ways to write them, in the API's body and in the sweep's link:

- one key's alternatives, ``{"cell": ["rnn", "lstm", "gru"]}``, link ``over=cell:rnn,lstm,gru``: a curve per value,
  named by the value;
- named settings, ``[{"name": "IRNN", "set": {"cell": "rnn", "nonlinearity": "relu", "init": "identity"}},
  {"name": "LSTM", "set": {"cell": "lstm"}}]``, link
  ``over=IRNN:cell=rnn,nonlinearity=relu,init=identity;LSTM:cell=lstm``: a curve per setting, for a curve that moves
  several keys at once (Le, Jaitly & Hinton's IRNN is a ReLU RNN *and* an identity W_hh).

Every key and value goes through the config table (:data:`engine.config.FIELD_BY_NAME`); an error names ``over``
and, in its message, the alternative and the config key.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from engine.config import FIELD_BY_NAME, FIELDS, ConfigError, quote

MAX_OVER = 4  # alternatives, so curves
# A named alternative's name: short, and free of the link's separators (: ; , =).
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9 _.+()-]{0,23}")
_ORDER = {f.name: i for i, f in enumerate(FIELDS)}
_EXAMPLE = '{"cell": ["rnn", "lstm"]} or [{"name": "IRNN", "set": {"cell": "rnn", "nonlinearity": "relu"}}, ...]'


@dataclass(frozen=True)
class Alternative:
    """One curve of a sweep: its name and the config keys it sets on every point of that curve."""

    name: str  # the value's text for one key's alternatives, the given name for named settings
    settings: tuple[tuple[str, Any], ...]  # (config key, value), in the config table's order

    @property
    def set(self) -> dict[str, Any]:
        return dict(self.settings)


def read_over(raw: Any, key: str) -> tuple[str | None, tuple[Alternative, ...]]:
    """The API's ``over`` as (its one key, or None for named settings or no ``over``; the alternatives)."""
    if raw is None or raw == {} or raw == []:
        return None, ()
    if isinstance(raw, list):
        return None, _named(raw, key)
    if not isinstance(raw, dict) or len(raw) != 1:
        raise ConfigError("over", f"over must be one other key's alternatives or a list of named settings: {_EXAMPLE}")
    (name, values), = raw.items()
    _settable(name, key, "over")
    field = FIELD_BY_NAME[name]
    if not isinstance(values, list) or not 1 <= len(values) <= MAX_OVER:
        got = f"{len(values)} of them" if isinstance(values, list) else quote(values)
        raise ConfigError("over", f"over must be a list of 1 to {MAX_OVER} values of {name}; got {got}")
    checked = _each(values, field.check)
    if len(set(checked)) < len(checked):
        raise ConfigError("over", f"over must not repeat a value; got {', '.join(map(field.format, checked))}")
    return name, tuple(Alternative(str(v), ((name, v),)) for v in checked)


def _settable(name: Any, key: str, where: str) -> None:
    if name not in FIELD_BY_NAME or name in (key, "seed"):
        raise ConfigError("over", f"{where} must name a config key other than {key!r} and 'seed'; got {quote(name)}")


def _named(raw: list, key: str) -> tuple[Alternative, ...]:
    if not 1 <= len(raw) <= MAX_OVER:
        raise ConfigError("over", f"over must be a list of 1 to {MAX_OVER} named settings; got {len(raw)} of them")
    out: list[Alternative] = []
    for i, item in enumerate(raw):
        if not isinstance(item, dict) or set(item) != {"name", "set"}:
            raise ConfigError("over", f'over[{i}] must be {{"name": ..., "set": {{config key: value, ...}}}}, such as '
                              '{"name": "IRNN", "set": {"cell": "rnn", "nonlinearity": "relu", "init": "identity"}}')
        name, settings = item["name"], item["set"]
        if not isinstance(name, str) or not NAME.fullmatch(name):
            raise ConfigError("over", f"over[{i}].name must be 1 to 24 letters, digits, spaces or _ . + ( ) -, "
                              f"starting with a letter or digit; got {quote(name)}")  # fmt: skip
        if any(a.name == name for a in out):
            raise ConfigError("over", f"over[{i}].name {name!r} is given twice; each curve needs its own name")
        if not isinstance(settings, dict) or not settings:
            raise ConfigError("over", f"over[{i}].set ({name}) must be an object of config keys and their values, "
                              f"such as {{\"cell\": \"lstm\"}}; got {quote(settings)}")  # fmt: skip
        pairs = []
        for k, v in settings.items():
            _settable(k, key, f"over[{i}].set ({name})")
            try:
                pairs.append((k, FIELD_BY_NAME[k].check(v)))
            except ConfigError as e:
                raise ConfigError("over", f"over[{i}].set ({name}): {e.message}") from None
        pairs.sort(key=lambda kv: _ORDER[kv[0]])  # one way to write each setting, whatever order it came in
        if any(a.set == dict(pairs) for a in out):
            raise ConfigError("over", f"over[{i}] ({name}) sets the same as another alternative; each curve must "
                              "differ")
        out.append(Alternative(name, tuple(pairs)))
    return tuple(out)


def over_json(over_key: str | None, over: tuple[Alternative, ...]) -> dict | list:
    """The API's ``over`` of these alternatives: :func:`read_over` reads it back to them."""
    if over_key is not None:
        return {over_key: [a.set[over_key] for a in over]}
    return [{"name": a.name, "set": a.set} for a in over]


def over_link(over_key: str | None, over: tuple[Alternative, ...]) -> str:
    """The link's ``over``: ``cell:rnn,lstm`` or ``IRNN:cell=rnn,nonlinearity=relu;LSTM:cell=lstm``."""
    if over_key is not None:
        return f"{over_key}:" + ",".join(FIELD_BY_NAME[over_key].format(a.set[over_key]) for a in over)
    return ";".join(a.name + ":" + ",".join(f"{k}={FIELD_BY_NAME[k].format(v)}" for k, v in a.settings) for a in over)


def parse_over_link(text: str) -> dict | list:
    """The link's ``over`` as the API's (values parsed by their fields; :func:`read_over` names what is wrong)."""
    if "=" not in text:
        over_key, _, alternatives = text.partition(":")
        return {over_key: _parse_values(alternatives.split(",") if alternatives else [], FIELD_BY_NAME.get(over_key))}
    named = []
    for i, part in enumerate(text.split(";")):
        name, _, pairs = part.partition(":")
        settings: dict[str, Any] = {}
        for pair in pairs.split(",") if pairs else []:
            k, _, t = pair.partition("=")
            field = FIELD_BY_NAME.get(k)
            try:
                settings[k] = t if field is None else field.parse(t)
            except ConfigError as e:
                raise ConfigError("over", f"over[{i}].set ({name}): {e.message}") from None
        named.append({"name": name, "set": settings})
    return named


def _parse_values(texts: list[str], field) -> list[Any]:
    if field is None:
        return list(texts)  # read_over names what is wrong with them
    return _each(texts, field.parse)


def _each(items: list, read) -> list[Any]:
    """``read`` of every item; a :class:`ConfigError` names the item's place, ``over[i]``."""
    out = []
    for i, item in enumerate(items):
        try:
            out.append(read(item))
        except ConfigError as e:
            raise ConfigError("over", f"over[{i}]: {e.message}") from None
    return out
