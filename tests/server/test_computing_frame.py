"""A run that takes a while is announced with the server's estimate before its start frame (docs/protocol.md)."""

from __future__ import annotations

from fastapi.testclient import TestClient

from engine import Config
from server.app import create_app
from server.scheduling import cost
from server.session import COMPUTING_FRAME_S
from server.settings import Settings
from tests.server.ws_helpers import SMALL, GatedTracer, read_run, receive_frame

# Estimated at about 0.2 s by the cost model: over the announcement's threshold, yet quick to compute.
SLOW = {"cell": "gru", "seq_len": 600, "hidden_size": 128, "batch_size": 8}


def frame_types(ws) -> list[str]:
    """The types of one request's frames, up to its end."""
    types = []
    while not types or types[-1] not in ("done", "error", "cancelled"):
        types.append(receive_frame(ws)[0]["type"])
    return types


def test_a_long_run_is_announced_with_its_estimate_and_a_cached_one_is_not(client):
    estimate = cost.trace_seconds(Config(**SLOW))
    assert estimate >= COMPUTING_FRAME_S > cost.trace_seconds(Config(**SMALL))
    with client.websocket_connect("/ws") as ws:
        ws.send_json({"type": "run", "config": {**SLOW, "seed": 7}})
        frame, _ = receive_frame(ws)
        assert frame["type"] == "computing" and frame["run"] == 1
        # The estimate from the moment the computation was started: the cost model's, less a moment.
        assert 0.9 * estimate <= frame["estimate_s"] <= estimate
        assert read_run(ws, 1).end["type"] == "done"
        # The same request again is the cache's: nothing to compute, nothing announced.
        ws.send_json({"type": "run", "config": {**SLOW, "seed": 7}})
        types = frame_types(ws)
        assert types[0] == "start" and types[-1] == "done" and "computing" not in types
        # A quick run starts at once.
        ws.send_json({"type": "run", "config": SMALL})
        types = frame_types(ws)
        assert types[0] == "start" and types[-1] == "done" and "computing" not in types


def test_a_request_that_joins_a_computation_is_told_what_is_left_of_it():
    tracer = GatedTracer()
    with TestClient(create_app(Settings(max_concurrent=2), tracer=tracer)) as client:
        with client.websocket_connect("/ws") as a, client.websocket_connect("/ws") as b:
            a.send_json({"type": "run", "config": SLOW})
            first = receive_frame(a)[0]
            tracer.wait_entered()
            b.send_json({"type": "run", "config": SLOW})
            joined = receive_frame(b)[0]
            assert joined["type"] == "computing" and joined["estimate_s"] <= first["estimate_s"]
            tracer.gate.set()
            assert read_run(a, 1).end["type"] == "done" and read_run(b, 1).end["type"] == "done"
            assert tracer.finished == 1  # one computation answered both


def test_a_training_is_not_announced_its_steps_carry_their_progress(client):
    with client.websocket_connect("/ws") as ws:
        ws.send_json({"type": "train", "config": {**SLOW, "steps": 1, "seed": 3}})
        assert receive_frame(ws)[0]["type"] == "train_start"
        assert "computing" not in frame_types(ws)
