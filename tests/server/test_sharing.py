"""A room on one server: identical requests share one computation, finished ones come from the cache."""

from __future__ import annotations

import threading

import pytest
from fastapi.testclient import TestClient

from engine import Config, trace_config
from engine.lab import Trainer
from server.app import create_app
from server.settings import Settings
from server.sharing import flights as sharing
from server.sharing import request_key
from tests.server.ws_helpers import SMALL, GatedTracer, read_run, receive_frame, run_config, strict_loads, wait_until

TRAIN = {**SMALL, "steps": 40, "lr": 0.05}


class CountingTracer:
    """The engine's tracer, counting the traces it really computes (per config)."""

    def __init__(self):
        self.calls: list[Config] = []
        self.lock = threading.Lock()

    def __call__(self, config: Config):
        with self.lock:
            self.calls.append(config)
        return trace_config(config)


class GatedTrainer(Trainer):
    """A Trainer that stops after ``after`` steps until the test opens ``gate``."""

    after = 5
    gate = threading.Event()
    reached = threading.Event()
    made = 0

    def __init__(self, cfg, **kwargs):
        super().__init__(cfg, **kwargs)
        type(self).made += 1

    def steps(self):
        for i, report in enumerate(super().steps()):
            if i == self.after:
                type(self).reached.set()
                assert type(self).gate.wait(timeout=60), "the test never opened the gate"
            yield report


@pytest.fixture
def gated_training(monkeypatch):
    class Gated(GatedTrainer):
        gate = threading.Event()
        reached = threading.Event()
        made = 0

    monkeypatch.setattr(sharing, "Trainer", Gated)
    yield Gated
    Gated.gate.set()


def raw_messages(ws, until_type: str = "done") -> list[str | bytes]:
    """Every message of one request, as sent, up to and including its final frame."""
    out: list[str | bytes] = []
    while True:
        message = ws.receive()
        out.append(message.get("text") if message.get("text") is not None else message["bytes"])
        if isinstance(out[-1], str) and strict_loads(out[-1])["type"] in (until_type, "error", "cancelled"):
            return out


def without_run(messages: list[str | bytes]) -> list[str | bytes]:
    """The messages with each text's run number blanked: what must be identical between sharers."""
    out = []
    for m in messages:
        if isinstance(m, str):
            frame = strict_loads(m)
            frame.pop("run")
            out.append(frame)
        else:
            out.append(m)
    return out


def read_training(ws, number: int) -> list[dict]:
    """train_start, every train_step and train_done of run ``number``; then its trace, which must be complete."""
    frames = []
    while True:
        frame, _ = receive_frame(ws)
        assert frame["run"] == number, frame
        frames.append(frame)
        if frame["type"] in ("train_done", "error", "cancelled"):
            break
    if frames[-1]["type"] == "train_done":
        trace = read_run(ws, number)
        assert trace.end["type"] == "done", trace.end
    return frames


def test_identical_concurrent_runs_compute_once_and_each_keeps_its_run_number():
    tracer = GatedTracer()
    with TestClient(create_app(Settings(max_concurrent=2), tracer=tracer)) as client:
        hub = client.app.state.hub
        with client.websocket_connect("/ws") as a, client.websocket_connect("/ws") as b:
            tracer.gate.set()
            b.send_json({"type": "run", "config": {**SMALL, "seed": 7}})  # b's run 1 is something else
            assert read_run(b, 1).end["type"] == "done"
            tracer.gate.clear()
            a.send_json({"type": "run", "config": SMALL})
            tracer.wait_entered()
            b.send_json({"type": "run", "config": SMALL})
            wait_until(lambda: hub.sharing.stats.shared == 1)
            tracer.gate.set()
            first, second = raw_messages(a), raw_messages(b)
        assert tracer.finished == 2  # seed 7, then SMALL once for both sockets
        assert all(strict_loads(m)["run"] == 1 for m in first if isinstance(m, str))
        assert all(strict_loads(m)["run"] == 2 for m in second if isinstance(m, str))
        assert without_run(first) == without_run(second)
    expected = trace_config(Config.from_dict(SMALL))
    with TestClient(create_app(Settings(max_concurrent=2))) as fresh, fresh.websocket_connect("/ws") as ws:
        alone = run_config(ws, SMALL, 1)  # the stream a lone client gets, checked against the engine elsewhere
    assert len(alone.forward) == expected.hidden.shape[2]
    lone_bytes = [b"".join(p for _, p in alone.forward), b"".join(p for _, p in alone.backward)]
    assert [m for m in first if isinstance(m, bytes)] == lone_bytes


def test_a_client_joining_a_training_mid_flight_gets_the_whole_identical_stream(gated_training):
    with TestClient(create_app(Settings(max_concurrent=2))) as client:
        hub = client.app.state.hub
        with client.websocket_connect("/ws") as a, client.websocket_connect("/ws") as b:
            a.send_json({"type": "train", "config": TRAIN})
            assert gated_training.reached.wait(60)  # a bound, not a pace: five steps on a loaded machine
            flight = hub.sharing.flights[request_key("train", Config.from_dict(TRAIN))]
            wait_until(lambda: len(flight.units) == 1 + gated_training.after)  # train_start and 5 steps so far
            b.send_json({"type": "train", "config": TRAIN})
            wait_until(lambda: hub.sharing.stats.shared == 1)
            gated_training.gate.set()
            first, second = raw_messages(a), raw_messages(b)
        assert gated_training.made == 1
        kinds = [strict_loads(m)["type"] for m in second if isinstance(m, str)]
        assert kinds[:2] == ["train_start", "train_step"] and kinds.count("train_step") == TRAIN["steps"]
        assert kinds[-1] == "done"
        assert without_run(first) == without_run(second)


def test_one_sharer_stopping_leaves_the_other_training(gated_training):
    with TestClient(create_app(Settings(max_concurrent=2))) as client:
        hub = client.app.state.hub
        with client.websocket_connect("/ws") as a, client.websocket_connect("/ws") as b:
            a.send_json({"type": "train", "config": TRAIN})
            assert gated_training.reached.wait(60)  # a bound, not a pace: five steps on a loaded machine
            b.send_json({"type": "train", "config": TRAIN})
            wait_until(lambda: hub.sharing.stats.shared == 1)
            a.send_json({"type": "stop"})
            while (frame := receive_frame(a)[0])["type"] != "cancelled":
                assert frame["type"] in ("train_start", "train_step"), frame
            gated_training.gate.set()
            frames = read_training(b, 1)
        assert frames[-1]["type"] == "train_done" and frames[-1]["steps_done"] == TRAIN["steps"]
        assert [f["step"] for f in frames if f["type"] == "train_step"] == list(range(1, TRAIN["steps"] + 1))


def test_the_last_sharer_leaving_cancels_the_computation(gated_training):
    with TestClient(create_app(Settings(max_concurrent=2))) as client:
        hub = client.app.state.hub
        key = request_key("train", Config.from_dict(TRAIN))
        with client.websocket_connect("/ws") as a, client.websocket_connect("/ws") as b:
            a.send_json({"type": "train", "config": TRAIN})
            assert gated_training.reached.wait(60)  # a bound, not a pace: five steps on a loaded machine
            b.send_json({"type": "train", "config": TRAIN})
            wait_until(lambda: hub.sharing.stats.shared == 1)
            flight = hub.sharing.flights[key]
            a.send_json({"type": "stop"})
            b.close()
            wait_until(lambda: key not in hub.sharing.flights)
            gated_training.gate.set()  # the step held in its thread ends; nothing more is computed
            wait_until(lambda: flight.task.done() and hub.scheduler.running == 0)
            assert flight.cancelled
            done_after = hub.scheduler.computations
            assert hub.sharing.memory.get(key) is None  # an unfinished training is never cached
            # The next Train of the same setting starts afresh and runs to the end.
            a.send_json({"type": "train", "config": TRAIN})
            while (frame := receive_frame(a)[0])["type"] != "train_done":
                assert frame["run"] in (1, 2)
            assert read_run(a, 2).end["type"] == "done"
        assert hub.scheduler.computations > done_after
        assert gated_training.made == 2


def test_cache_hits_are_bit_identical_and_compute_nothing():
    tracer = CountingTracer()
    with TestClient(create_app(Settings(max_concurrent=2), tracer=tracer)) as client:
        hub = client.app.state.hub
        with client.websocket_connect("/ws") as ws:
            ws.send_json({"type": "run", "config": SMALL})
            first = raw_messages(ws)
        with client.websocket_connect("/ws") as ws:
            ws.send_json({"type": "run", "config": SMALL})
            again = raw_messages(ws)
        assert again == first  # same run number on a fresh socket: the very same bytes
        assert len(tracer.calls) == 1
        assert hub.sharing.stats.hits == 1 and hub.sharing.stats.misses == 1
        # Trained models come from the cache too: the whole recorded stream, the trained trace included.
        with client.websocket_connect("/ws") as ws:
            ws.send_json({"type": "train", "config": TRAIN})
            trained = raw_messages(ws)
        computed = hub.scheduler.computations
        with client.websocket_connect("/ws") as ws:
            ws.send_json({"type": "train", "config": TRAIN})
            assert raw_messages(ws) == trained
        assert hub.scheduler.computations == computed
        health = client.get("/healthz").json()["cache"]
        assert health["hits"] == 2 and health["entries"] == 2 and health["bytes"] > 0


def test_the_byte_budget_evicts_the_least_recently_used():
    tracer = CountingTracer()
    configs = [{**SMALL, "seed": s} for s in range(3)]
    with TestClient(create_app(Settings(max_concurrent=2), tracer=tracer)) as probe:
        with probe.websocket_connect("/ws") as ws:
            run_config(ws, configs[0], 1)
        size = probe.app.state.hub.sharing.memory.bytes
    # Room for two recordings of this size, not three.
    with TestClient(create_app(Settings(max_concurrent=2, cache_bytes=int(size * 2.5)), tracer=tracer)) as client:
        hub = client.app.state.hub
        tracer.calls.clear()
        with client.websocket_connect("/ws") as ws:
            for i, config in enumerate([*configs, configs[2], configs[0]]):
                assert run_config(ws, config, i + 1).end["type"] == "done"
        assert [c.seed for c in tracer.calls] == [0, 1, 2, 0]  # seed 2 came from the cache, seed 0 was evicted
        assert hub.sharing.memory.bytes <= int(size * 2.5) and hub.sharing.memory.evictions == 2


def test_a_full_queue_answers_busy_with_a_retry_hint():
    tracer = GatedTracer()
    settings = Settings(max_concurrent=1, max_queued_seconds=1e-3)
    with TestClient(create_app(settings, tracer=tracer)) as client:
        hub = client.app.state.hub
        with client.websocket_connect("/ws") as a, client.websocket_connect("/ws") as b, \
                client.websocket_connect("/ws") as c:  # fmt: skip
            a.send_json({"type": "run", "config": SMALL})
            tracer.wait_entered()
            b.send_json({"type": "run", "config": {**SMALL, "seed": 1}})
            wait_until(lambda: hub.scheduler.queue_length == 1)
            c.send_json({"type": "run", "config": {**SMALL, "seed": 2}})
            busy = receive_frame(c)[0]
            assert busy["type"] == "error" and busy["run"] == 1 and busy["busy"] is True
            assert busy["retry_after_s"] >= 1 and "busy" in busy["message"]
            # A request for what is already computing joins it instead: never busy.
            c.send_json({"type": "run", "config": SMALL})
            tracer.gate.set()
            assert read_run(a, 1).end["type"] == read_run(b, 1).end["type"] == read_run(c, 2).end["type"] == "done"
            r = client.post("/api/trace", json={**SMALL, "seed": 3})
            assert r.status_code == 200  # the queue drained: accepted again


def test_training_over_the_time_cap_is_refused_up_front_naming_steps():
    tracer = CountingTracer()
    with TestClient(create_app(Settings(max_concurrent=2), tracer=tracer)) as client:
        big = {"cell": "lstm", "seq_len": 2000, "hidden_size": 256, "num_layers": 4, "bidirectional": True,
               "batch_size": 1, "steps": 5000}  # fmt: skip
        with client.websocket_connect("/ws") as ws:
            ws.send_json({"type": "train", "config": big})
            refused = receive_frame(ws)[0]
            assert refused["type"] == "error" and refused["run"] == 1 and refused["field"] == "steps"
            assert "steps must be at most" in refused["message"]
            most = int(refused["message"].split("steps must be at most ")[1].split()[0])
            assert 1 <= most < 5000
            assert client.app.state.hub.scheduler.computations == 0
            # The socket stays usable.
            assert run_config(ws, SMALL, 2).end["type"] == "done"


def test_queued_requests_are_told_their_place():
    tracer = GatedTracer()
    with TestClient(create_app(Settings(max_concurrent=1), tracer=tracer)) as client:
        with client.websocket_connect("/ws") as a, client.websocket_connect("/ws") as b:
            a.send_json({"type": "run", "config": SMALL})
            tracer.wait_entered()
            b.send_json({"type": "run", "config": {**SMALL, "seed": 1}})
            queued = receive_frame(b)[0]  # within about a second of waiting
            assert queued == {"type": "queued", "run": 1, "position": 1}
            tracer.gate.set()
            assert read_run(b, 1).end["type"] == "done"
            assert read_run(a, 1).end["type"] == "done"
