"""The lag map over HTTP and the socket: the engine's numbers, asked for, cached under their own key."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from engine import Config
from engine.lab import trace_config
from engine.tracing import rows_for
from engine.tracing.lagmap import MIN_ROWS
from server.sharing.entry import EntryError, check_units
from server.wire import trace_units
from server.wire.encoding import from_wire
from tests.server.ws_helpers import run_config

MANY = {"arch": "many-to-many", "task": "sine", "seq_len": 12, "hidden_size": 5, "batch_size": 3}


def test_a_document_asked_with_lag_holds_the_engines_map(client):
    cfg = Config.from_dict(MANY)
    want = trace_config(cfg, lag_rows=rows_for(cfg.trace_cells))
    plain = client.post("/api/trace", json=MANY).json()
    assert "grad_h_by_output" not in plain["backward"]
    doc = client.post("/api/trace?lag=1", json=MANY).json()["backward"]
    assert doc["output_steps"] == want.output_steps.tolist() == list(range(12))
    np.testing.assert_array_equal(np.asarray(from_wire(doc["grad_h_by_output"]), float), want.grad_h_by_output)
    np.testing.assert_array_equal(np.asarray(from_wire(doc["grad_x_by_output"]), float), want.grad_x_by_output)
    np.testing.assert_array_equal(np.asarray(from_wire(doc["lag_curve"]), float), want.lag_curve)
    assert np.asarray(from_wire(doc["grad_h"]), float).tolist() == np.asarray(from_wire(plain["backward"]["grad_h"]),
                                                                               float).tolist()


@pytest.mark.parametrize("query, status", [("lag=2", 422), ("lag=yes%20", 422), ("lag=1&lag=1", 400),
                                           ("lags=1", 422)])
def test_a_bad_lag_option_is_refused_by_name(client, query, status):
    r = client.post(f"/api/trace?{query}", json=MANY)
    assert r.status_code == status, r.text
    assert r.json()["field"] in ("lag", "lags")


def test_a_run_asked_with_lag_sends_the_map_after_the_sweep_as_float32(client):
    cfg = Config.from_dict({**MANY, "cell": "lstm", "num_layers": 2, "bidirectional": True})
    want = trace_config(cfg, lag_rows=rows_for(cfg.trace_cells))
    with client.websocket_connect("/ws") as ws:
        plain = run_config(ws, cfg.to_dict(), 1)
        assert plain.lag is None and plain.end["type"] == "done"
        run = run_config(ws, cfg.to_dict(), 2, lag=True)
    frame, data = run.lag
    L, D, S, T = want.grad_h_by_output.shape
    assert frame["output_steps"] == want.output_steps.tolist() and frame["rows"] == S
    values = np.frombuffer(data, "<f4")
    np.testing.assert_array_equal(values[: L * D * S * T].reshape(L, D, S, T),
                                  want.grad_h_by_output.astype(np.float32))
    np.testing.assert_array_equal(values[L * D * S * T :].reshape(S, T), want.grad_x_by_output.astype(np.float32))
    assert run.end["type"] == "done"


def test_a_lag_map_is_shared_and_cached_under_its_own_key(client):
    hub = client.app.state.hub
    cfg = {**MANY, "seed": 7}
    with client.websocket_connect("/ws") as ws:
        first = run_config(ws, cfg, 1, lag=True)
        hits = hub.sharing.stats.hits
        again = run_config(ws, cfg, 2, lag=True)
        assert hub.sharing.stats.hits == hits + 1  # the same map, from the cache
        assert again.lag[1] == first.lag[1]
        plain = run_config(ws, cfg, 3)
        assert plain.lag is None  # a run without the map is another result


def test_a_large_setting_itemises_fewer_rows_evenly_spaced_with_the_last():
    big = Config.from_dict({"arch": "many-to-many", "task": "sine", "seq_len": 400, "hidden_size": 64,
                            "batch_size": 16})
    rows = rows_for(big.trace_cells)
    assert MIN_ROWS <= rows < 64
    small = Config.from_dict(MANY)
    assert rows_for(small.trace_cells) == 64


def test_a_recorded_lag_map_is_checked_like_every_other_frame():
    cfg = Config.from_dict(MANY)
    units = trace_units(trace_config(cfg, lag_rows=64), 0.0)
    check_units("run+lag", cfg, units)
    with pytest.raises(EntryError, match="lag"):
        check_units("run+lag", cfg, [u for u in units if not (u.text or "").startswith('{"type":"lag"')])
    cut = list(units)
    lag = next(i for i, u in enumerate(cut) if (u.text or "").startswith('{"type":"lag"'))
    cut[lag] = type(cut[lag])(cut[lag].text, cut[lag].data[:-4])
    with pytest.raises(EntryError, match="lag frame"):
        check_units("run+lag", cfg, cut)


# A linear recurrence with W_hh = 10·I: the float64 rows pass float32's largest value within a few dozen steps.
EXPLODING = {"arch": "many-to-many", "nonlinearity": "relu", "init": "identity", "gain": 10.0, "seq_len": 60,
             "hidden_size": 4, "batch_size": 2}


def test_a_lag_map_past_float32s_range_travels_as_inf_and_the_document_keeps_its_float64(client):
    cfg = Config.from_dict(EXPLODING)
    want = trace_config(cfg, lag_rows=rows_for(cfg.trace_cells))
    rows = np.concatenate([want.grad_h_by_output.ravel(), want.grad_x_by_output.ravel()])
    past = rows > np.finfo(np.float32).max
    # Past float32's range and finite in float64 (NaN where the float32 forward itself overflowed, at late outputs).
    assert past.any() and not np.isinf(rows).any()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "overflow encountered in cast": inf is what the wire means here
        units = trace_units(want, 0.0)
    data = next(u.data for u in units if (u.text or "").startswith('{"type":"lag"'))
    sent = np.frombuffer(data, "<f4")
    assert np.isposinf(sent[past]).all()
    np.testing.assert_array_equal(sent[~past], rows[~past].astype(np.float32))
    doc = client.post("/api/trace?lag=1", json=EXPLODING).json()["backward"]
    np.testing.assert_array_equal(np.asarray(from_wire(doc["grad_h_by_output"]), float), want.grad_h_by_output)
