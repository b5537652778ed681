"""The /ws frame sequence, checked frame by frame against the engine's own trace."""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest

from engine import Config, trace_config
from server.wire import frames, underflow_step
from server.wire.encoding import from_wire
from tests.server.ws_helpers import SMALL, run_config, strict_loads

CASES = [
    {"cell": "rnn"},
    {"cell": "lstm"},
    {"cell": "gru"},
    {"cell": "rnn", "bidirectional": True, "num_layers": 2},
    {"cell": "lstm", "bidirectional": True, "num_layers": 2},
    {"cell": "gru", "bidirectional": True, "num_layers": 2},
    {"cell": "rnn", "arch": "one-to-one"},
    {"cell": "lstm", "arch": "one-to-many"},
    {"cell": "gru", "arch": "many-to-many", "task": "sine"},
    {"cell": "rnn", "arch": "many-to-one", "task": "adding", "clip": "value", "clip_at": 0.01},
]


def _close(wire_value, expected) -> bool:
    return np.allclose(
        np.asarray(from_wire(wire_value), dtype=float),
        np.asarray(expected, dtype=float),
        rtol=0,
        atol=0,
        equal_nan=True,
    )


@pytest.mark.parametrize("overrides", CASES, ids=lambda c: "-".join(str(v) for v in c.values()))
def test_frames_carry_the_trace(client, overrides):
    config = {**SMALL, **overrides}
    expected = trace_config(Config.from_dict(config))
    L, D, T, H = expected.hidden.shape
    arrays = [
        expected.hidden,
        *([expected.cell_state] if expected.cell_state is not None else []),
        *(expected.gates[g] for g in expected.gate_names),
    ]

    with client.websocket_connect("/ws") as ws:
        run = run_config(ws, config, 1)

    start = run.start
    assert start["config"] == Config.from_dict(config).to_dict()
    assert start["shapes"] == {
        "T": T,
        "L": L,
        "D": D,
        "H": H,
        "N": config["batch_size"],
        "O": expected.outputs.shape[1],
    }
    assert start["gates"] == list(expected.gate_names)
    assert start["has_cell_state"] is (expected.cell_state is not None)
    assert start["layout"]["forward"] == [
        "hidden",
        *(["cell_state"] if expected.cell_state is not None else []),
        *expected.gate_names,
    ]
    assert start["layout"]["backward"] == ["grad_h"]
    assert start["input_steps"] == list(expected.input_steps)
    assert start["scored_steps"] == list(expected.scored_steps)
    assert start["param_count"] == expected.param_count
    assert "bound" not in start["theory"] and "gate_product" not in start["theory"]

    assert [f["t"] for f, _ in run.forward] == list(range(T))
    for frame, payload in run.forward:
        t = frame["t"]
        assert _close(frame["output"], expected.outputs[t])
        got = np.frombuffer(payload, dtype="<f4").reshape(len(arrays), L, D, H)
        for k, a in enumerate(arrays):
            np.testing.assert_array_equal(got[k], a[:, :, t, :])

    assert [f["t"] for f, _ in run.backward] == list(range(T - 1, -1, -1))
    for frame, payload in run.backward:
        t = frame["t"]
        np.testing.assert_array_equal(np.frombuffer(payload, dtype="<f4").reshape(L, D, H), expected.grad_h[:, :, t])
        assert _close(frame["grad_h_norm"], expected.grad_h_norm[:, :, t])
        assert _close(frame["grad_out_norm"], expected.grad_out_norm[:, :, t])
        if expected.grad_c_norm is None:
            assert frame["grad_c_norm"] is None
        else:
            assert _close(frame["grad_c_norm"], expected.grad_c_norm[:, :, t])
        bound = expected.theory.get("bound")
        assert frame["bound"] is None if bound is None else _close(frame["bound"], bound[:, :, t])

    done = run.end
    assert done["type"] == "done"
    assert from_wire(done["loss"]) == pytest.approx(expected.loss, abs=0, nan_ok=True)
    assert set(done["param_grad_norms"]) == set(expected.param_grad_norms)
    assert done["clip_coef"] == expected.clip_coef
    assert done["elapsed_ms"] > 0
    if overrides.get("clip") == "value":
        assert done["clip_coef"] is None


def test_exploding_run_is_strict_json(client):
    config = {"cell": "rnn", "nonlinearity": "relu", "init": "orthogonal", "gain": 3, "seq_len": 400}
    texts, non_finite_binaries = [], 0
    with client.websocket_connect("/ws") as ws:
        ws.send_json({"type": "run", "config": config})
        while True:
            message = ws.receive()
            if message.get("bytes") is not None:
                non_finite_binaries += not np.isfinite(np.frombuffer(message["bytes"], dtype="<f4")).all()
                continue
            texts.append(message["text"])
            frame = strict_loads(message["text"])  # raises on NaN/Infinity tokens
            if frame["type"] == "done":
                break
    assert len(texts) == 4, "a small model's whole sweep travels as start, forward, backward, done"
    assert any('"inf"' in t or '"nan"' in t for t in texts), "the config was meant to explode"
    assert non_finite_binaries > 0
    done = strict_loads(texts[-1])
    assert done["overflow_t"] is not None and 0 <= done["overflow_t"] < 400
    assert math.isnan(from_wire(done["total_norm"])) or math.isinf(from_wire(done["total_norm"]))


def test_two_runs_on_one_socket_are_numbered(client):
    with client.websocket_connect("/ws") as ws:
        first = run_config(ws, SMALL, 1)
        second = run_config(ws, {**SMALL, "cell": "gru"}, 2)
    assert first.end["type"] == second.end["type"] == "done"
    assert second.start["gates"] == ["reset", "update", "new"]


def _norms(h, tbptt=0):
    return SimpleNamespace(grad_h_norm=np.asarray(h, dtype=float), grad_c_norm=None,
                           config=SimpleNamespace(tbptt=tbptt))


def test_underflow_ignores_structural_zeros():
    # (L=1, D=2, T=4): the forward direction falls to 0 at t=1; the reverse direction of a
    # many-to-one model is 0 before the loss enters at t=3 and is not underflow.
    trace = _norms([[[0.0, 0.0, 1e-30, 1.0], [0.0, 0.0, 0.0, 2.0]]])
    assert underflow_step(trace) == 1
    assert underflow_step(_norms([[[0.0, 0.0, 0.0, 2.0]]])) == 2
    assert underflow_step(_norms([[[1.0, 1.0, 1.0]]])) is None


def test_underflow_ignores_the_cut_of_truncated_bptt():
    # T=5, k=2: forward windows start at t = 2, 4, so the fall from t=2 to t=1 is the detach; reverse windows
    # start at t = 4, 2, 0, so the fall from t=2 to t=3 is too.  Inside a window a fall is still underflow.
    cut = [[[0.0, 0.0, 1.0, 1.0, 1.0], [1.0, 1.0, 1.0, 0.0, 0.0]]]
    assert underflow_step(_norms(cut)) == 3
    assert underflow_step(_norms(cut, tbptt=2)) is None
    assert underflow_step(_norms([[[1.0, 1.0, 0.0, 1.0, 1.0]]], tbptt=2)) == 2
    real = trace_config(Config.from_dict({"cell": "lstm", "task": "adding", "seq_len": 30, "tbptt": 3}))
    assert np.all(real.grad_h_norm[0, 0, :27] == 0) and underflow_step(real) is None


def test_binary_frames_carry_chunks_of_steps(client, monkeypatch):
    """Messages carry several steps; each step's slice of the binary frame is its own data."""
    config = {**SMALL, "cell": "lstm", "bidirectional": True, "num_layers": 2, "seq_len": 10}
    expected = trace_config(Config.from_dict(config))
    L, D, T, H = expected.hidden.shape
    K = 2 + len(expected.gate_names)  # hidden, cell state, gates
    monkeypatch.setattr(frames, "CHUNK_BYTES", 4 * K * L * D * H * 4 + 3)  # 4 steps per binary frame

    with client.websocket_connect("/ws") as ws:
        run = run_config(ws, config, 1)

    assert run.messages == [4, 4, 2, 4, 4, 2]  # forward t = 0, 4, 8; backward t = 9, 5, 1
    assert [f["t"] for f, _ in run.forward] == list(range(T))
    assert [f["t"] for f, _ in run.backward] == list(range(T - 1, -1, -1))
    for frame, payload in run.forward:
        got = np.frombuffer(payload, dtype="<f4").reshape(K, L, D, H)
        np.testing.assert_array_equal(got[0], expected.hidden[:, :, frame["t"]])
        np.testing.assert_array_equal(got[1], expected.cell_state[:, :, frame["t"]])
        for k, g in enumerate(expected.gate_names):
            np.testing.assert_array_equal(got[2 + k], expected.gates[g][:, :, frame["t"]])
    for frame, payload in run.backward:
        got = np.frombuffer(payload, dtype="<f4").reshape(L, D, H)
        np.testing.assert_array_equal(got, expected.grad_h[:, :, frame["t"]])
