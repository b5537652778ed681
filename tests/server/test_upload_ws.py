"""The socket's own model: announced, sent as one binary frame, used by runs and trainings until cleared."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from fastapi.testclient import TestClient
from torch import nn

from engine import Config
from engine.data import get_task
from engine.models import build_model
from server.app import create_app
from server.settings import Settings
from tests.server.test_training_ws import read_training
from tests.server.ws_helpers import receive_frame, run_config

CONFIG = {"task": "sine", "cell": "gru", "seq_len": 8, "hidden_size": 4, "batch_size": 2, "seed": 1}


def saved(state) -> bytes:
    buf = io.BytesIO()
    torch.save(state, buf)
    return buf.getvalue()


def send_model(ws, data: bytes, **extra) -> dict:
    ws.send_json({"type": "model", "bytes": len(data), **extra})
    ws.send_bytes(data)
    frame, _ = receive_frame(ws)
    return frame


@pytest.fixture
def fresh():
    with TestClient(create_app(Settings(max_concurrent=1))) as c:
        yield c


def norms(run) -> np.ndarray:
    return np.array([f["grad_h_norm"] for f, _ in run.backward])


def test_the_apps_own_weights_run_as_the_config_does_and_nothing_is_cached(fresh):
    cfg = Config.from_dict(CONFIG)
    task = get_task(cfg.task)
    own = saved(build_model(cfg, task.input_size, task.output_size).state_dict())
    hub = fresh.app.state.hub
    with fresh.websocket_connect("/ws") as ws:
        loaded = send_model(ws, own)
        assert loaded["type"] == "model_loaded" and loaded["run"] is None
        assert (loaded["cell"], loaded["hidden_size"], loaded["input_size"]) == ("gru", 4, 1)
        # The run's config need not say the shape: the file does.
        up = run_config(ws, {"task": "sine", "seq_len": 8, "batch_size": 2, "seed": 1}, 1)
        assert up.end["type"] == "done", up.end
        assert up.start["config"]["cell"] == "gru" and up.start["config"]["hidden_size"] == 4
        # What the file fixes, as the page is told it, is exactly what the run took from it.
        shape = ("cell", "hidden_size", "num_layers", "bidirectional")
        assert loaded["fixes"] == {k: up.start["config"][k] for k in shape}
        assert len(hub.sharing.memory) == 0 and hub.sharing.stats.misses == 0
        ws.send_json({"type": "clear_model"})
        assert receive_frame(ws)[0]["type"] == "model_cleared"
        plain = run_config(ws, CONFIG, 2)
    assert up.end["loss"] == plain.end["loss"]
    np.testing.assert_array_equal(norms(up), norms(plain))
    assert len(hub.sharing.memory) == 1  # only the config-alone run


def test_another_model_answers_with_its_own_numbers(fresh):
    torch.manual_seed(3)
    other = nn.GRU(1, 4)
    with fresh.websocket_connect("/ws") as ws:
        send_model(ws, saved(other.state_dict()))
        up = run_config(ws, CONFIG, 1)
    with fresh.websocket_connect("/ws") as ws:
        plain = run_config(ws, CONFIG, 1)  # another socket: the upload is not its answer
    assert up.end["loss"] != plain.end["loss"]


def test_training_starts_from_the_uploaded_model(fresh):
    torch.manual_seed(4)
    rnn = nn.LSTM(1, 5)
    with fresh.websocket_connect("/ws") as ws:
        send_model(ws, saved(rnn.state_dict()))
        ws.send_json({"type": "train", "config": {**CONFIG, "steps": 3}})
        start, steps, done, trace = read_training(ws, 1)
    assert start["config"]["cell"] == "lstm" and start["config"]["hidden_size"] == 5
    assert len(steps) == 3 and done["steps_done"] == 3 and trace.end["type"] == "done"


def test_a_training_of_an_uploaded_model_asked_with_lag_sends_the_maps_of_that_model(fresh):
    from engine.data import find_recurrent
    from engine.lab import Trainer, own_model, trace_own_trained
    from engine.tracing import rows_for
    from tests.server.test_lag_training import assert_map

    torch.manual_seed(5)
    rnn = nn.GRU(1, 3, num_layers=2)
    settings = {**CONFIG, "arch": "many-to-many", "steps": 3}
    with fresh.websocket_connect("/ws") as ws:
        send_model(ws, saved(rnn.state_dict()))
        ws.send_json({"type": "train", "config": settings, "lag": True})
        maps: dict = {}
        start, steps, done, trace = read_training(ws, 1, maps)
    cfg = Config.from_dict(start["config"])
    assert (cfg.num_layers, cfg.hidden_size) == (2, 3)
    ckpt = find_recurrent(rnn.state_dict(), 1)
    rows = rows_for(cfg.trace_cells)
    trainer = Trainer(cfg, own_model(cfg, ckpt), lag_rows=rows)
    expected = []
    trainer.add_listener(expected.append)
    trainer.run()
    assert sorted(maps) == [1, 2, 3]
    for report in expected:
        assert_map(*maps[report.step], report.lag)
    assert_map(*trace.lag, trace_own_trained(trainer.model, cfg, ckpt, lag_rows=rows).lag_map)
    assert len(fresh.app.state.hub.sharing.memory) == 0  # never cached


def test_bad_files_and_frames_get_one_clear_error_each(fresh):
    with fresh.websocket_connect("/ws") as ws:
        bad = send_model(ws, b"not a model")
        assert bad["type"] == "error" and bad["field"] == "model" and "torch.save" in bad["message"]
        rnn = send_model(ws, saved(nn.RNN(1, 3).state_dict()))
        assert rnn["field"] == "nonlinearity"
        ok = send_model(ws, saved(nn.RNN(1, 3).state_dict()), nonlinearity="relu")
        assert ok["type"] == "model_loaded" and ok["cell"] == "rnn" and ok["fixes"]["nonlinearity"] == "relu"
        ws.send_json({"type": "model", "bytes": 10})
        ws.send_bytes(b"12345")
        short, _ = receive_frame(ws)
        assert short["field"] == "bytes" and "announced 10" in short["message"]
        ws.send_json({"type": "model", "bytes": 10**9})
        over, _ = receive_frame(ws)
        assert over["field"] == "bytes" and "at most" in over["message"]
        ws.send_bytes(b"x" * 10)  # the refused announcement's frame is read and dropped
        run = run_config(ws, {**CONFIG, "cell": "lstm"}, 1)  # still the relu RNN loaded above
    assert run.end["type"] == "done" and run.start["config"]["cell"] == "rnn"
    assert run.start["config"]["nonlinearity"] == "relu"


PRICES = ("price\n" + "".join(f"{20 + 3 * np.sin(k / 3.7):.4f}\n" for k in range(80))).encode()


def send_series(ws, data: bytes, **extra) -> dict:
    ws.send_json({"type": "series", "bytes": len(data), **extra})
    ws.send_bytes(data)
    return receive_frame(ws)[0]


def test_a_series_runs_and_trains_as_the_engine_does(fresh):
    from engine.data import series_baseline
    from engine.lab.experiment import trace_series
    from server.uploads import read_series

    cfg = {"cell": "gru", "seq_len": 10, "hidden_size": 4, "batch_size": 2, "arch": "many-to-many"}
    with fresh.websocket_connect("/ws") as ws:
        loaded = send_series(ws, PRICES)
        assert loaded["type"] == "series_loaded" and loaded["name"] == "price" and loaded["length"] == 80
        assert len(loaded["values"]) == 80
        run = run_config(ws, cfg, 1)
        ws.send_json({"type": "train", "config": {**cfg, "steps": 4}})
        start, steps, done, trace = read_training(ws, 2)
        too_long = run_config(ws, {**cfg, "seq_len": 80}, 3)
    series = read_series(PRICES)
    want = trace_series(Config.from_dict(cfg), series)
    assert run.end["loss"] == pytest.approx(want.loss, rel=1e-6)
    assert start["baseline"]["loss"] == pytest.approx(series_baseline(series, "many-to-many", 10)["loss"])
    assert not start["classification"] and len(steps) == 4 and trace.end["type"] == "done"
    assert too_long.end["type"] == "error" and too_long.end["field"] == "seq_len"
    assert len(fresh.app.state.hub.sharing.memory) == 0


def test_a_bad_csv_over_the_socket(fresh):
    with fresh.websocket_connect("/ws") as ws:
        bad = send_series(ws, b"price\n1\n2\nlots\n4\n")
        assert bad["type"] == "error" and bad["field"] == "series"
        assert "row 4, column 'price'" in bad["message"]
        two = send_series(ws, b"a,b\n1,2\n3,4\n5,7\n", column="b")
        assert two["type"] == "series_loaded" and two["name"] == "b"
        ws.send_json({"type": "clear_series"})
        assert receive_frame(ws)[0]["type"] == "series_cleared"
