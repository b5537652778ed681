"""Cancellation: a newer run, stop and disconnect each end the run in flight, promptly and for good."""

from __future__ import annotations

import gc
import time
import weakref

from fastapi.testclient import TestClient

from engine import trace_config
from server.app import create_app
from server.settings import Settings
from server.wire import Unit, frames
from tests.server.ws_helpers import SMALL, GatedTracer, read_run, receive_frame, run_config, wait_until


def test_new_run_cancels_the_one_computing(gated):
    client, tracer, hub = gated
    with client.websocket_connect("/ws") as ws:
        ws.send_json({"type": "run", "config": SMALL})
        tracer.wait_entered()
        ws.send_json({"type": "run", "config": {**SMALL, "cell": "lstm"}})
        # Cancelled while its computation is still held at the gate: prompt, not after the trace.
        cancelled, _ = receive_frame(ws)
        assert cancelled == {"type": "cancelled", "run": 1}
        assert tracer.finished == 0
        tracer.gate.set()
        second = read_run(ws, 2)  # read_run fails on any frame of run 1
        assert second.start["gates"] == ["input", "forget", "cell", "output"]
        assert second.end["type"] == "done"
    wait_until(lambda: hub.scheduler.running == 0 and hub.activity.sessions == 0)
    assert tracer.finished == 2  # the first computation ran its course; its result was dropped


def test_stop_cancels_the_one_computing(gated):
    client, tracer, hub = gated
    with client.websocket_connect("/ws") as ws:
        ws.send_json({"type": "run", "config": SMALL})
        tracer.wait_entered()
        ws.send_json({"type": "stop"})
        assert receive_frame(ws)[0] == {"type": "cancelled", "run": 1}
        tracer.gate.set()
        wait_until(lambda: hub.scheduler.running == 0)
        # Nothing of run 1 follows: the next frame is run 2's start.
        assert run_config(ws, SMALL, 2).end["type"] == "done"


def paced(monkeypatch, seconds: float = 0.002) -> None:
    """One step per message, each slowed down, so that a message sent mid-stream surely lands mid-stream."""
    monkeypatch.setattr(frames, "CHUNK_BYTES", 1)
    original = Unit.text_for

    def text_for(self, run):
        time.sleep(seconds)  # condition-free: pacing the stream is the point, not waiting for something
        return original(self, run)

    monkeypatch.setattr(Unit, "text_for", text_for)


def test_stop_cancels_while_streaming(client, monkeypatch):
    paced(monkeypatch)
    config = {"seq_len": 2000, "hidden_size": 1, "batch_size": 1}
    with client.websocket_connect("/ws") as ws:
        ws.send_json({"type": "run", "config": config})
        start, _ = receive_frame(ws)
        assert start["type"] == "start"
        ws.send_json({"type": "stop"})
        steps = 0
        while True:
            frame, payload = receive_frame(ws)  # fails if a binary frame lost its header
            assert frame["run"] == 1
            if frame["type"] == "cancelled":
                break
            assert frame["type"] in ("forward", "backward"), frame
            steps += 1
        assert steps < 2000, "the stream went on long after the stop"
        assert run_config(ws, SMALL, 2).end["type"] == "done"


def test_disconnect_ends_the_session_and_frees_the_slot(gated):
    client, tracer, hub = gated
    with client.websocket_connect("/ws") as ws:
        ws.send_json({"type": "run", "config": SMALL})
        tracer.wait_entered()
        assert hub.scheduler.running == 1
        sent_before = hub.activity.frames_sent
        ws.close()
        tracer.gate.set()
        wait_until(lambda: hub.activity.sessions == 0 and hub.scheduler.running == 0)
        assert hub.activity.frames_sent == sent_before, "frames were sent to a client that had left"


def test_a_closed_socket_is_freed_without_the_cyclic_collector(client, monkeypatch):
    """Its websocket (and with it the server's protocol and buffers) goes when the session ends: a room of sockets left
    to the collector triggers its collections again and again (docs/performance/classroom.md)."""
    hub = client.app.state.hub
    sockets = []
    watch = hub.watch
    monkeypatch.setattr(hub, "watch", lambda session: (sockets.append(weakref.ref(session.ws)), watch(session)))
    gc.collect()
    gc.disable()
    try:
        with client.websocket_connect("/ws") as ws:
            ws.send_json({"type": "run", "config": SMALL})
            assert read_run(ws, 1).end["type"] == "done"
        wait_until(lambda: hub.activity.sessions == 0)
        wait_until(lambda: sockets[0]() is None)
    finally:
        gc.enable()


def test_disconnect_while_streaming_stops_sending(client, monkeypatch):
    paced(monkeypatch)
    hub = client.app.state.hub
    with client.websocket_connect("/ws") as ws:
        ws.send_json({"type": "run", "config": {"seq_len": 2000, "hidden_size": 1, "batch_size": 1}})
        assert receive_frame(ws)[0]["type"] == "start"
        sent_at_close = hub.activity.frames_sent
        ws.close()
        wait_until(lambda: hub.activity.sessions == 0)
        assert hub.activity.frames_sent - sent_at_close < 2000


def test_computations_are_bounded_and_the_loop_stays_free():
    tracer = GatedTracer()
    with TestClient(create_app(Settings(max_concurrent=1), tracer=tracer)) as client:
        hub = client.app.state.hub
        with client.websocket_connect("/ws") as a, client.websocket_connect("/ws") as b:
            a.send_json({"type": "run", "config": SMALL})
            b.send_json({"type": "run", "config": {**SMALL, "seed": 1}})  # the same config would share a's
            tracer.wait_entered()
            wait_until(lambda: hub.scheduler.queue_length == 1)
            # The event loop still answers while a computation holds the only slot.
            health = client.get("/healthz").json()
            assert {k: health[k] for k in ("status", "sessions", "computing", "waiting")} == {
                "status": "ok", "sessions": 2, "computing": 1, "waiting": 1}
            tracer.gate.set()
            assert read_run(a, 1).end["type"] == "done"
            assert read_run(b, 1).end["type"] == "done"
        wait_until(lambda: hub.scheduler.running == 0 and hub.activity.sessions == 0)


def test_a_failing_computation_is_one_error_and_the_socket_survives():
    calls = []

    def flaky(config):
        calls.append(config)
        if len(calls) == 1:
            raise RuntimeError("boom")
        return trace_config(config)

    with TestClient(create_app(Settings(max_concurrent=1), tracer=flaky)) as client:
        with client.websocket_connect("/ws") as ws:
            failed = run_config(ws, SMALL, 1)
            assert failed.start is None and failed.end["type"] == "error"
            assert failed.end["field"] is None and "boom" in failed.end["message"]
            assert run_config(ws, SMALL, 2).end["type"] == "done"
