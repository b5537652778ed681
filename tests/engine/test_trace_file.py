"""save_traces / load_traces: every kind of trace round-trips; hostile files are refused by name, fuzzed."""

import json
import struct

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from torch import nn
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence

from engine import ModuleTrace, TraceFileError, TraceFileLimits, load_traces, mark_state, save_traces, trace_submodules
from engine.tracing.trace_file import MAGIC, encode_traces

f64 = torch.float64


def _kinds() -> dict:
    """One of each: a packed bidirectional LSTM, unchained and chained GRU calls, an LSTMCell loop, a float32 custom
    char-RNN-like module, a marked state, an unbatched RNN; lag maps on most."""
    torch.manual_seed(0)
    out: dict = {}
    lstm = nn.LSTM(3, 4, num_layers=2, bidirectional=True, dtype=f64)
    packed = pack_padded_sequence(torch.randn(5, 3, 3, dtype=f64), torch.tensor([5, 2, 4]), enforce_sorted=False)
    out["lstm"] = trace_submodules(lstm, lambda: lstm(packed)[0].data.square().sum(), lag_rows=3)[""]
    gru = nn.GRU(2, 3, dtype=f64)
    x = torch.randn(4, 2, 2, dtype=f64)

    def two_sentences():
        return gru(x)[0].sum() + gru(x.flip(0))[0].square().sum()

    out["gru"] = trace_submodules(gru, two_sentences)[""]  # two unrelated calls: a list

    def stepped():
        h, total = None, 0
        for t in range(4):
            o, h = gru(x[t : t + 1], h)
            total = total + o.square().sum()
        return total

    out["decoder"] = trace_submodules(gru, stepped, lag_rows=2)[""]
    cell = nn.LSTMCell(2, 3, dtype=f64)

    def cell_loop():
        state, total = None, 0
        for t in range(4):
            state = cell(x[t], state)
            total = total + state[0].sum()
        return total

    out["cell"] = trace_submodules(cell, cell_loop, lag_rows=4)[""]
    i2h = nn.Linear(5, 3)

    class Step(nn.Module):
        def __init__(self):
            super().__init__()
            self.i2h = i2h

        def forward(self, x, h):
            return torch.tanh(self.i2h(torch.cat([x, h], 1))), h.sum()

    step = Step()

    def custom():
        h = torch.zeros(2, 3)
        for t in range(4):
            h, _ = step(x[t].float(), h)
        return h.square().sum()

    out["custom"] = trace_submodules(step, custom, lag_rows=2)[""]
    w = nn.Parameter(torch.randn(3, 3, dtype=f64))

    def marked():
        h = torch.ones(2, 3, dtype=f64)
        for _ in range(3):
            h = mark_state(torch.tanh(h @ w), "h")
        return h.sum()

    holder = nn.Module()
    holder.w = w
    out["h"] = trace_submodules(holder, marked)["h"]
    rnn = nn.RNN(2, 3, dtype=f64)
    out["unbatched"] = trace_submodules(rnn, lambda: rnn(x[:, 0])[0].sum(), lag_rows=1)[""]
    return out


@pytest.fixture(scope="module")
def kinds():
    return _kinds()


@pytest.fixture(scope="module")
def small() -> bytes:
    """A small valid file for the hostile-file tests and the fuzz."""
    torch.manual_seed(1)
    cell = nn.GRUCell(2, 2, dtype=f64)
    x = torch.randn(3, 1, 2, dtype=f64)

    def loop():
        h, total = None, 0
        for t in range(3):
            h = cell(x[t], h)
            total = total + h.sum()
        return total

    return encode_traces(trace_submodules(cell, loop, lag_rows=2))


def _same(a: ModuleTrace, b: ModuleTrace):
    assert (a.kind, a.cell, a.loss) == (b.kind, b.cell, b.loss)
    for name in ("hidden", "cell_state", "grad_h", "grad_c", "grad_h_norm", "grad_c_norm", "grad_out_norm", "grad_h0",
                 "grad_c0", "lengths", "output_steps", "grad_h_by_output", "grad_x_by_output"):
        x, y = getattr(a, name), getattr(b, name)
        assert (x is None) == (y is None), name
        if x is not None:
            assert x.dtype == y.dtype, name
            np.testing.assert_array_equal(x, y, err_msg=name)
    assert sorted(a.gates) == sorted(b.gates)
    for g in a.gates:
        np.testing.assert_array_equal(a.gates[g], b.gates[g])
    if isinstance(a.output, PackedSequence):
        assert isinstance(b.output, PackedSequence)
        for x, y in zip(a.output, b.output):
            assert torch.equal(x, y)
    else:
        assert torch.equal(a.output, b.output)


def test_every_kind_of_trace_round_trips(kinds, tmp_path):
    path = tmp_path / "traces.gfl"
    save_traces(kinds, path)
    back = load_traces(path.read_bytes())
    assert list(back) == list(kinds)
    assert isinstance(back["gru"], list) and len(back["gru"]) == 2
    for key, value in kinds.items():
        pairs = zip(value, back[key]) if isinstance(value, list) else [(value, back[key])]
        for a, b in pairs:
            _same(a, b)
    assert back["custom"].hidden.dtype == np.float32 and np.isnan(back["custom"].grad_h0).all()
    assert back["cell"].kind == "cell" and back["h"].kind == "marked" and back["decoder"].grad_h.shape[2] == 4


def _header(data: bytes) -> tuple[dict, bytes]:
    (size,) = struct.unpack("<I", data[8:12])
    return json.loads(data[12 : 12 + size]), data[12 + size :]


def _with(header: dict, body: bytes) -> bytes:
    raw = json.dumps(header).encode()
    return MAGIC + struct.pack("<I", len(raw)) + raw + body


def _edit(data: bytes, change) -> bytes:
    header, body = _header(data)
    change(header)
    return _with(header, body)


def _first(h):
    return h["traces"][0]


def _shape(name, shape):
    return lambda h: _first(h)["arrays"][name].__setitem__("shape", shape)


HOSTILE = {
    "bad magic": (lambda d: b"NOTATRACE" + d[9:], r"^file: does not start with GFLTRACE"),
    "header past the end": (lambda d: d[:8] + struct.pack("<I", len(d)) + d[12:], r"^header: declares \d+ bytes"),
    "header over its cap": (lambda d: d[:8] + struct.pack("<I", 2**31) + d[12:], r"^header: 2147483648 bytes; at "
                                                                                  r"most"),
    "nested deep": (lambda d: _with({"format": "x", "a": json.loads("[" * 50 + "]" * 50)}, b""), r"nested deeper"),
    "not json": (lambda d: d[:8] + struct.pack("<I", 3) + b"\xff\xfe{", r"^header: not UTF-8 JSON"),
    "NaN in header": (lambda d: _with({"format": float("nan")}, b""), r"^header: NaN is not JSON"),
    "duplicate key": (lambda d: d[:8] + struct.pack("<I", 16) + b'{"a": 1, "a": 2}', r"a key appears twice"),
    "other format": (lambda d: _edit(d, lambda h: h.__setitem__("format", "zip")), r"^header\.format"),
    "newer version": (lambda d: _edit(d, lambda h: h.__setitem__("version", 2)), r"^header\.version"),
    "trailing bytes": (lambda d: d + b"\0" * 8, r"^header\.data_bytes: must be the"),
    "huge shape": (lambda d: _edit(d, _shape("hidden", [2**20, 2**20])), r"hidden: \d+ bytes at offset \d+ run past"),
    "too many dims": (lambda d: _edit(d, _shape("hidden", [1] * 9)), r"hidden\.shape: must be a list of at most 6"),
    "negative size": (lambda d: _edit(d, _shape("hidden", [-1, 1])), r"hidden\.shape: sizes must be integers"),
    "overlap": (lambda d: _edit(d, lambda h: _first(h)["arrays"]["grad_h"].__setitem__(
        "offset", _first(h)["arrays"]["hidden"]["offset"])), r"two arrays overlap"),
    "odd offset": (lambda d: _edit(d, lambda h: _first(h)["arrays"]["grad_h"].__setitem__("offset", 3)),
                   r"grad_h\.offset: must be an integer ≥ 0, a multiple of 8"),
    "unknown array": (lambda d: _edit(d, lambda h: _first(h)["arrays"].__setitem__(
        "weights", _first(h)["arrays"].pop("hidden"))), r"arrays\.weights: not an array a trace has"),
    "float lengths": (lambda d: _edit(d, lambda h: _first(h)["arrays"]["lengths"].__setitem__("dtype", "<f8")),
                      r"lengths\.dtype: <i8"),
    "object dtype": (lambda d: _edit(d, lambda h: _first(h)["arrays"]["hidden"].__setitem__("dtype", "|O")),
                     r"hidden\.dtype: must be one of"),
    "too many traces": (lambda d: _edit(d, lambda h: h.__setitem__("traces", h["traces"] * 300)),
                        r"^header\.traces: must be a list of 1 to 256"),
    "unknown kind": (lambda d: _edit(d, lambda h: _first(h).__setitem__("kind", "transformer")), r"kind: must be one"),
    "kind and cell disagree": (lambda d: _edit(d, lambda h: _first(h).__setitem__("cell", "custom")),
                               r"cell: is 'custom' exactly for"),
    "lstm gates on a gru": (lambda d: _edit(d, lambda h: _first(h).__setitem__("cell", "lstm")),
                            r"an lstm trace has cell_state"),
    "calls out of order": (lambda d: _edit(d, lambda h: _first(h).__setitem__("call", 3)),
                           r"calls 0, 1, 2, … in order"),
    "grad_h unlike hidden": (lambda d: _edit(d, _shape("grad_h", [1, 1, 3, 1, 1])), r"grad_h: must be shaped like"),
    "missing array": (lambda d: _edit(d, lambda h: _first(h)["arrays"].pop("grad_h0")), r"has no grad_h0"),
}


@pytest.mark.parametrize("case", list(HOSTILE))
def test_a_hostile_file_is_refused_naming_what_is_wrong(small, case):
    make, message = HOSTILE[case]
    with pytest.raises(TraceFileError, match=message):
        load_traces(make(small))


def test_values_out_of_range_and_caps_are_refused(small):
    header, body = _header(small)
    lengths = header["traces"][0]["arrays"]["lengths"]
    corrupt = bytearray(body)
    corrupt[lengths["offset"] : lengths["offset"] + 8] = struct.pack("<q", 99)
    with pytest.raises(TraceFileError, match=r"lengths: must be \(1,\) integers in \[0, 3\]"):
        load_traces(_with(header, bytes(corrupt)))
    steps = header["traces"][0]["arrays"]["output_steps"]
    corrupt = bytearray(body)
    corrupt[steps["offset"] : steps["offset"] + 16] = struct.pack("<qq", 2, 1)
    with pytest.raises(TraceFileError, match=r"output_steps: must be increasing steps in \[0, 3\)"):
        load_traces(_with(header, bytes(corrupt)))
    with pytest.raises(TraceFileError, match=r"^file: \d+ bytes; at most 100"):
        load_traces(small, TraceFileLimits(max_bytes=100))
    with pytest.raises(TraceFileError, match=r"arrays: \d+ arrays; at most 3"):
        load_traces(small, TraceFileLimits(max_arrays=3))
    with pytest.raises(TraceFileError, match=r"^file: must be bytes"):
        load_traces("GFLTRACE")  # type: ignore[arg-type]


_json = st.recursive(st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats(allow_nan=False)
                     | st.text(max_size=8), lambda inner: st.lists(inner, max_size=4)
                     | st.dictionaries(st.text(max_size=8), inner, max_size=4), max_leaves=12)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.data())
def test_mutated_files_raise_nothing_but_the_readers_error(small, data):
    """Bytes flipped, cut or inserted, and header values replaced by any JSON: a trace or TraceFileError."""
    how = data.draw(st.sampled_from(["bytes", "header"]))
    if how == "bytes":
        mutated = bytearray(small)
        for _ in range(data.draw(st.integers(1, 6))):
            op = data.draw(st.sampled_from(["flip", "cut", "insert"]))
            at = data.draw(st.integers(0, max(0, len(mutated) - 1)))
            if op == "flip" and mutated:
                mutated[at] ^= data.draw(st.integers(1, 255))
            elif op == "cut":
                del mutated[at : at + data.draw(st.integers(1, 16))]
            else:
                mutated[at:at] = data.draw(st.binary(min_size=1, max_size=16))
        mutated = bytes(mutated)
    else:
        header, body = _header(small)
        entry = header["traces"][0]
        target = data.draw(st.sampled_from([header, entry, entry["arrays"], *entry["arrays"].values()]))
        target[data.draw(st.sampled_from(sorted(target)))] = data.draw(_json)
        mutated = _with(header, body)
    try:
        result = load_traces(mutated)
    except TraceFileError:
        return
    assert isinstance(result, dict) and result
