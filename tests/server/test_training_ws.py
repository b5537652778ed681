"""Training over /ws: the frame sequence, the same numbers as the engine, divergence, stop, cancel, disconnect."""

from __future__ import annotations

import math

import pytest

from engine import Config
from engine.lab import Trainer
from server.wire.encoding import from_wire
from tests.server.ws_helpers import SMALL, read_run, receive_frame, run_config, strict_loads, wait_until

TRAIN = {
    "task": "adding",
    "seq_len": 8,
    "hidden_size": 4,
    "batch_size": 4,
    "steps": 120,
    "clip": "norm",
    "clip_at": 0.5,
    "cell": "lstm",
}


def read_training(ws, number: int, maps: dict | None = None):
    """Frames of one training run: train_start, train_step..., train_done, then the trained model's trace.

    ``maps``, for a training asked with the lag map, receives each step's lag frame and its binary data by step; each
    must come right after its step's train_step, which carries a profile.
    """
    start, _ = receive_frame(ws)
    assert start["type"] == "train_start" and start["run"] == number, start
    steps = []
    while True:
        frame, payload = receive_frame(ws)
        assert frame["run"] == number
        if frame["type"] == "lag" and maps is not None:
            assert steps and steps[-1]["step"] == frame["step"] and "profile" in steps[-1], frame
            maps[frame["step"]] = (frame, payload)
            continue
        if frame["type"] != "train_step":
            break
        steps.append(frame)
    assert frame["type"] == "train_done", frame
    return start, steps, frame, read_run(ws, number)


def test_training_stream_matches_the_engine(client):
    with client.websocket_connect("/ws") as ws:
        ws.send_json({"type": "train", "config": TRAIN})
        start, steps, done, trace = read_training(ws, 1)
    assert start["baseline"]["loss"] == pytest.approx(1 / 6) and start["steps"] == 120
    assert [s["step"] for s in steps] == list(range(1, 121))
    assert done["steps_done"] == 120 and done["diverged_at"] is None and not done["stopped"]
    profiles = [s for s in steps if "profile" in s]
    assert len(profiles) >= 100
    assert len(profiles[0]["profile"]) == 1 and len(profiles[0]["profile"][0][0]) == 8  # (L, D, T)

    trainer = Trainer(Config.from_dict(TRAIN))
    expected = []
    trainer.add_listener(expected.append)
    trainer.run()
    for got, want in zip(steps, expected):
        assert from_wire(got["loss"]) == pytest.approx(want.loss, rel=1e-6)
        assert from_wire(got["grad_norm"]) == pytest.approx(want.grad_norm, rel=1e-6)
        assert from_wire(got["grad_norm_clipped"]) == pytest.approx(want.grad_norm_clipped, rel=1e-6)
        assert got["clipped"] == want.clipped
    # then the trained model's trace, as an ordinary run's frames
    assert trace.start["config"]["cell"] == "lstm" and trace.end["type"] == "done"
    assert len(trace.forward) == len(trace.backward) == 8


def test_diverging_training_names_the_step(client):
    bad = {
        **SMALL,
        "cell": "rnn",
        "nonlinearity": "relu",
        "init": "orthogonal",
        "gain": 4.0,
        "seq_len": 120,
        "steps": 50,
    }
    with client.websocket_connect("/ws") as ws:
        ws.send_json({"type": "train", "config": bad})
        _, steps, done, trace = read_training(ws, 1)
        assert done["diverged_at"] == steps[-1]["step"]
        assert f"diverged at step {done['diverged_at']}" in done["message"]
        assert not math.isfinite(from_wire(steps[-1]["loss"])) or not math.isfinite(from_wire(steps[-1]["grad_norm"]))
        assert trace.end["type"] == "done"
        assert run_config(ws, SMALL, 2).end["type"] == "done"  # the socket still works


@pytest.mark.parametrize("how", ["stop", "run"])
def test_stop_or_a_new_run_ends_training(client, how):
    hub = client.app.state.hub
    with client.websocket_connect("/ws") as ws:
        ws.send_json({"type": "train", "config": {**TRAIN, "steps": 5000}})
        first, _ = receive_frame(ws)
        assert first["type"] == "train_start"
        for _ in range(3):
            assert receive_frame(ws)[0]["type"] == "train_step"
        if how == "stop":
            ws.send_json({"type": "stop"})
        else:
            ws.send_json({"type": "run", "config": SMALL})
        while True:  # steps already queued may arrive; then the cancellation
            frame, _ = receive_frame(ws)
            if frame["type"] == "cancelled":
                break
            assert frame["type"] == "train_step" and frame["run"] == 1
        assert frame["run"] == 1
        if how == "run":
            assert read_run(ws, 2).end["type"] == "done"
        else:
            assert run_config(ws, SMALL, 2).end["type"] == "done"
    wait_until(lambda: hub.scheduler.running == 0)


def test_disconnect_ends_training(client):
    hub = client.app.state.hub
    with client.websocket_connect("/ws") as ws:
        ws.send_json({"type": "train", "config": {**TRAIN, "steps": 5000}})
        for _ in range(3):
            receive_frame(ws)
    wait_until(lambda: hub.scheduler.running == 0 and hub.activity.sessions == 0)


def test_bad_train_config_gets_one_error(client):
    with client.websocket_connect("/ws") as ws:
        ws.send_json({"type": "train", "config": {"steps": 0}})
        frame = strict_loads(ws.receive_text())
        assert frame["type"] == "error" and frame["field"] == "steps" and "1 to 5000" in frame["message"]
        assert run_config(ws, SMALL, 2).end["type"] == "done"
