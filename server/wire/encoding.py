"""Strict JSON in both directions.

Outgoing text never contains the non-standard tokens ``NaN``/``Infinity``: a
non-finite number is written as the JSON string ``"nan"``, ``"inf"`` or
``"-inf"`` by :func:`to_jsonable`, which every encoder here runs first.  The text
itself is written by orjson (ten times faster than ``json`` on a large trace
document, the largest cost of a big setting); orjson writes any non-finite float
left over as ``null``, so its output is always valid JSON, but only the
conversion in front of it keeps the value.  Binary frames are float32
little-endian, where IEEE inf/NaN travel natively.

A trace document (:func:`document_bytes`) writes each float32 array's values as the shortest decimal that
reads back to the same float32 (``0.1``, not float64's ``0.10000000149011612``): half the text, and every value
is still exactly the float32 autograd produced, for a reader that rounds each number to float32 (JavaScript's
``Math.fround`` or a ``Float32Array``, numpy's ``float32``).  Reading the decimal as float64 first and then
rounding to float32 gives the same value (tests/server/test_wire.py checks it over random bit patterns).
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Mapping
from typing import Any

import numpy as np
import orjson

from engine.config import RepeatedKey

__all__ = ["document_bytes", "dumps", "dumps_bytes", "loads_strict", "nesting_too_deep", "script_json"]

NON_FINITE = {"nan", "inf", "-inf"}


def _float(x: float) -> float | str:
    if math.isfinite(x):
        return x
    if math.isnan(x):
        return "nan"
    return "inf" if x > 0 else "-inf"


def _array(a: np.ndarray, short32: bool = False) -> Any:
    if short32 and a.dtype == np.float32:
        return _float32_array(a)
    if a.dtype.kind == "f":
        finite = np.isfinite(a)
        if finite.all():
            return a.tolist()
        obj = a.astype(object)  # python floats, exact for float32 and float64
        obj[np.isnan(a)] = "nan"
        obj[np.isposinf(a)] = "inf"
        obj[np.isneginf(a)] = "-inf"
        return obj.tolist()
    if a.dtype.kind in "biu":
        return a.tolist()
    return [to_jsonable(x) for x in a.tolist()]


def _float32_array(a: np.ndarray) -> Any:
    """A float32 array orjson writes with the shortest float32 digits: the array itself when every value is
    finite (orjson reads it natively), else nested lists of the numbers those digits are, non-finite ones as
    strings."""
    finite = np.isfinite(a)
    if finite.all():
        return np.ascontiguousarray(a, dtype=np.float32)  # orjson takes native-order C-contiguous arrays only
    clean = np.ascontiguousarray(np.where(finite, a, np.float32(0)), dtype=np.float32)
    digits = orjson.loads(orjson.dumps(clean, option=orjson.OPT_SERIALIZE_NUMPY))
    obj = np.empty(a.shape, dtype=object)
    obj[...] = digits
    obj[np.isnan(a)] = "nan"
    obj[np.isposinf(a)] = "inf"
    obj[np.isneginf(a)] = "-inf"
    return obj.tolist()


def to_jsonable(obj: Any, short32: bool = False) -> Any:
    """Turn ``obj`` into plain JSON values, encoding non-finite floats as strings.

    numpy arrays and scalars become lists and python numbers; tuples become lists.  ``short32``: float32 arrays
    are left for orjson to write with float32 digits (:func:`_float32_array`; encode with :func:`document_bytes`).
    """
    if obj is None or isinstance(obj, (str, bool, int)):
        return obj
    if isinstance(obj, float):
        return _float(obj)
    if isinstance(obj, np.ndarray):
        return _array(obj, short32)
    if isinstance(obj, np.floating):
        return _float(float(obj))
    if isinstance(obj, (np.integer, np.bool_)):
        return obj.item()
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(x, short32) for x in obj]
    if isinstance(obj, Mapping):
        return {str(k): to_jsonable(v, short32) for k, v in obj.items()}
    raise TypeError(f"cannot encode {type(obj).__name__} as JSON")


def dumps(obj: Any) -> str:
    """Compact strict JSON text of ``obj`` (see the module docstring)."""
    return encode(to_jsonable(obj))


def dumps_bytes(obj: Any) -> bytes:
    """:func:`dumps` as UTF-8 bytes, without a round trip through ``str``: HTTP bodies and documents."""
    return orjson.dumps(to_jsonable(obj))


def document_bytes(obj: Any) -> bytes:
    """:func:`dumps_bytes`, with every float32 array written in the shortest float32 digits (module docstring):
    a trace document, whose per-unit arrays are float32."""
    return orjson.dumps(to_jsonable(obj, short32=True), option=orjson.OPT_SERIALIZE_NUMPY)


def encode(value: Any) -> str:
    """Compact JSON text of ``value``, already made of plain JSON values (:func:`to_jsonable`).

    Skips the conversion walk, for hot paths that converted whole arrays once.  Raises ``TypeError`` for a value
    that is not plain JSON (an integer past 64 bits, an object).
    """
    try:
        return orjson.dumps(value).decode("utf-8")
    except orjson.JSONEncodeError as e:
        raise TypeError(f"cannot encode as JSON: {e}") from e


def from_wire(value: Any) -> Any:
    """Inverse of the non-finite encoding, for clients and tests: ``"inf"`` -> ``math.inf``."""
    if isinstance(value, str) and value in NON_FINITE:
        return float(value)
    if isinstance(value, list):
        return [from_wire(v) for v in value]
    if isinstance(value, dict):
        return {k: from_wire(v) for k, v in value.items()}
    return value


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _each_key_once(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) < len(pairs):
        counts = Counter(k for k, _ in pairs)
        repeated = next(k for k, _ in pairs if counts[k] > 1)
        raise RepeatedKey(repeated, counts[repeated])
    return obj


def loads_strict(text: str | bytes) -> Any:
    """Parse standard JSON only: ``NaN``/``Infinity`` tokens raise ``ValueError``; an object that gives a key
    twice raises :class:`engine.config.fields.RepeatedKey` (a ``ValueError`` naming the key: which value is meant?).

    Deep nesting that exhausts the parser's stack raises ``RecursionError``.
    """
    return json.loads(text, parse_constant=_reject_constant, object_pairs_hook=_each_key_once)


def nesting_too_deep(obj: Any, max_depth: int) -> tuple[str, ...] | None:
    """The key path of the first container nested deeper than ``max_depth``, else None.

    Depth counts containers: ``{"a": 1}`` is 1 deep, ``{"a": [1]}`` 2 deep.
    """
    stack: list[tuple[Any, int, tuple[str, ...]]] = [(obj, 1, ())]
    while stack:
        value, depth, path = stack.pop()
        if isinstance(value, dict):
            items = [(str(k), v) for k, v in value.items()]
        elif isinstance(value, list):
            items = [(str(i), v) for i, v in enumerate(value)]
        else:
            continue
        if depth > max_depth:
            return path
        stack.extend((v, depth + 1, (*path, k)) for k, v in items if isinstance(v, (dict, list)))
    return None


def script_json(value: Any) -> str:
    """Strict JSON text of plain JSON ``value`` that is safe inside a ``<script>`` element (no ``</script>``,
    no ``<!--``): ``<``, ``>`` and ``&`` are written as ``\\u`` escapes."""
    return encode(value).replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


