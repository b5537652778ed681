"""The strict JSON encoder: non-finite numbers become strings, and nothing it writes is invalid JSON."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from server.wire import encoding as wire


def test_non_finite_numbers_become_strings():
    value = {
        "a": [1.5, math.inf, -math.inf, math.nan],
        "b": np.array([[1.0, np.inf], [np.nan, -np.inf]], dtype=np.float32),
        "c": np.float64("nan"),
        "d": (np.int64(3), np.bool_(True)),
        "e": None,
    }
    text = wire.dumps(value)
    assert "NaN" not in text and "Infinity" not in text
    assert json.loads(text) == {
        "a": [1.5, "inf", "-inf", "nan"],
        "b": [[1.0, "inf"], ["nan", "-inf"]],
        "c": "nan",
        "d": [3, True],
        "e": None,
    }
    back = wire.from_wire(json.loads(text))
    assert math.isinf(back["b"][0][1]) and math.isnan(back["b"][1][0])


def test_float32_values_survive_exactly():
    a = np.array([0.1, 1 / 3, 1e-38, 3.4e38], dtype=np.float32)
    assert np.array_equal(np.array(json.loads(wire.dumps(a)), dtype=np.float32), a)


def every_kind_of_float32(count: int = 200_000) -> np.ndarray:
    """Random bit patterns (normal, subnormal, both signs, inf, NaN) and the edge values, as float32."""
    bits = np.random.default_rng(27).integers(0, 2**32, size=count, dtype=np.uint64).astype(np.uint32)
    edges = np.array([0.0, -0.0, 0.1, 1 / 3, 1e-45, -1e-45, 1.1754942e-38, 1.1754944e-38, 3.4028235e38,
                      -3.4028235e38, np.inf, -np.inf, np.nan], dtype=np.float32)  # fmt: skip
    return np.concatenate([edges, bits.view(np.float32)])


def read_as_float32(value) -> np.ndarray:
    """A JSON reader's view of a document's array: each number parsed as float64, then rounded to float32 (what
    Math.fround and a Float32Array do in a page)."""
    return np.asarray(wire.from_wire(value), dtype=np.float64).astype(np.float32)


def test_a_document_writes_float32_digits_that_read_back_to_the_same_bits():
    a = every_kind_of_float32()[: 13 * 15_000]  # the edge values first
    doc = json.loads(wire.document_bytes({"grad_h": a.reshape(-1, 13), "also": a[::-1].reshape(13, -1).T}))
    for key, want in (("grad_h", a.reshape(-1, 13)), ("also", a[::-1].reshape(13, -1).T)):
        got = read_as_float32(doc[key])
        finite = np.isfinite(want)
        assert np.array_equal(got[finite].view(np.uint32), want[finite].view(np.uint32)), key  # -0.0 kept too
        assert np.array_equal(np.isnan(got), np.isnan(want)) and np.array_equal(np.isinf(got), np.isinf(want))
        assert np.array_equal(got[np.isinf(want)], want[np.isinf(want)])


def test_a_document_is_strict_json_and_keeps_float64_values_as_they_are():
    text = wire.document_bytes({"f32": np.array([0.1, np.nan], dtype=np.float32), "f64": np.array([0.1, np.inf]),
                                "loss": 0.1, "steps": np.arange(3)})  # fmt: skip
    assert json.loads(text, parse_constant=lambda name: pytest.fail(f"{name} in a document")) == {
        "f32": [0.1, "nan"], "f64": [0.1, "inf"], "loss": 0.1, "steps": [0, 1, 2]}


def test_float32_digits_are_shorter_than_float64_digits():
    a = every_kind_of_float32()
    a = a[np.isfinite(a)]
    assert len(wire.document_bytes(a)) < 0.7 * len(wire.dumps_bytes(a))


def test_bytes_and_text_encodings_are_the_same_json():
    value = {"grad": np.array([1.0, np.nan, -np.inf], dtype=np.float32), "name": "forget gate é", "t": np.int64(7)}
    assert wire.dumps_bytes(value) == wire.dumps(value).encode("utf-8")
    assert json.loads(wire.dumps_bytes(value)) == {"grad": [1.0, "nan", "-inf"], "name": "forget gate é", "t": 7}


def test_a_non_finite_float_that_skipped_the_conversion_is_still_valid_json():
    # orjson writes it as null: the value is lost (the conversion in front is what keeps it), the JSON is not broken.
    text = wire.encode({"x": [1.0, math.inf, math.nan]})
    assert "Infinity" not in text and "NaN" not in text
    assert json.loads(text) == {"x": [1.0, None, None]}


def test_a_value_that_is_not_json_is_refused():
    with pytest.raises(TypeError):
        wire.encode({"x": object()})
    with pytest.raises(TypeError):
        wire.dumps({"x": object()})


def test_strict_parser_refuses_non_standard_tokens():
    for text in ('{"x": NaN}', "[Infinity]", "-Infinity"):
        with pytest.raises(ValueError):
            wire.loads_strict(text)
    assert wire.loads_strict('{"x": "nan"}') == {"x": "nan"}


def test_nesting_depth():
    assert wire.nesting_too_deep({"a": [1]}, 2) is None
    assert wire.nesting_too_deep({"a": [[1]]}, 2) == ("a", "0")
    assert wire.nesting_too_deep({"config": {"seq_len": [[[]]]}}, 3) == ("config", "seq_len", "0")


@given(st.recursive(st.none() | st.booleans() | st.floats(allow_nan=False, allow_infinity=False)
                    | st.integers(-(2**63), 2**63 - 1) | st.text(),
                    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
                    max_leaves=20))  # fmt: skip
def test_orjson_text_reads_back_as_exactly_what_the_standard_encoder_writes(value):
    assert json.loads(wire.encode(value)) == json.loads(json.dumps(value))


def test_float32_arrays_read_back_as_the_same_float64_values_as_before():
    # float32 values travel as the float64 number they are (0.10000000149011612, not 0.1): exactly what autograd gave
    a = np.random.default_rng(0).standard_normal(1000).astype(np.float32) * np.float32(1e-30)
    assert json.loads(wire.dumps(a)) == a.astype(np.float64).tolist()


def test_a_cached_run_sends_exactly_the_frames_of_a_fresh_encoding():
    from fastapi.testclient import TestClient

    from engine import Config, trace_config
    from server.app import create_app
    from server.settings import Settings
    from server.wire import trace_units

    config = {"cell": "lstm", "seq_len": 30, "hidden_size": 5, "gain": 3.5, "init": "orthogonal"}
    fresh = trace_units(trace_config(Config.from_dict(config)), 0.0)
    with TestClient(create_app(Settings(max_concurrent=1))) as client:
        for _ in range(2):  # computed, then from the cache
            with client.websocket_connect("/ws") as ws:
                ws.send_json({"type": "run", "config": config})
                for unit in fresh:
                    text = ws.receive_text()
                    if unit is fresh[-1]:  # done: all but the time it took
                        sent, want = json.loads(text), json.loads(unit.text_for(1))
                        assert sent.pop("elapsed_ms") >= 0 and want.pop("elapsed_ms") >= 0
                        assert sent == want
                    else:
                        assert text == unit.text_for(1)
                    if unit.data is not None:
                        assert ws.receive_bytes() == unit.data
