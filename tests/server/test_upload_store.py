"""Uploads kept for a reconnect: bounded by count, bytes and idle time; a socket resumes by token alone."""

from __future__ import annotations

import numpy as np
import pytest
from fastapi.testclient import TestClient

from engine import Config
from engine.lab.experiment import trace_series
from server.app import create_app
from server.settings import Settings
from server.uploads import UploadStore, read_series
from tests.server.test_upload_ws import PRICES, send_series
from tests.server.ws_helpers import receive_frame, run_config


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_the_store_keeps_at_most_its_count_and_evicts_the_least_recently_used():
    store = UploadStore(max_entries=3, max_bytes=10**6, ttl_seconds=60, clock=Clock())
    tokens = [store.put("model", k, {}, 10) for k in range(3)]
    assert store.take(tokens[0], "model").value == 0  # now the most recently used
    fourth = store.put("series", 3, {}, 10)
    assert len(store) == 3 and store.evicted == 1
    assert store.take(tokens[1], "model") is None  # the least recently used went
    assert [store.take(t, k).value for t, k in ((tokens[0], "model"), (tokens[2], "model"), (fourth, "series"))] \
        == [0, 2, 3]


def test_the_store_keeps_at_most_its_bytes_and_refuses_one_over_them():
    store = UploadStore(max_entries=100, max_bytes=100, ttl_seconds=60, clock=Clock())
    a = store.put("model", "a", {}, 60)
    b = store.put("model", "b", {}, 30)
    assert store.bytes == 90
    c = store.put("model", "c", {}, 40)  # 130 > 100: a goes
    assert store.take(a, "model") is None and store.bytes == 70
    assert store.take(b, "model").value == "b" and store.take(c, "model").value == "c"
    assert store.put("model", "huge", {}, 101) is None and store.bytes == 70  # never kept, nothing evicted for it
    store.revoke(b)
    assert store.bytes == 40 and store.take(b, "model") is None


def test_an_idle_upload_expires_and_use_keeps_it():
    clock = Clock()
    store = UploadStore(max_entries=10, max_bytes=1000, ttl_seconds=60, clock=clock)
    idle = store.put("series", "idle", {}, 1)
    used = store.put("series", "used", {}, 1)
    clock.now += 50
    store.touch(used)
    clock.now += 15  # idle: 65 s; used: 15 s
    assert store.take(idle, "series") is None and len(store) == 1 and store.bytes == 1
    assert store.take(used, "series").value == "used"
    assert store.take(used, "model") is None  # a token names one kind of upload
    clock.now += 60
    store.expire()
    assert len(store) == 0 and store.bytes == 0


def test_tokens_are_unguessable_and_distinct():
    store = UploadStore(max_entries=1000, max_bytes=10**6, ttl_seconds=60)
    tokens = {store.put("model", k, {}, 1) for k in range(500)}
    assert len(tokens) == 500 and all(len(t) >= 22 for t in tokens)
    with pytest.raises(ValueError, match="kind"):
        store.put("weights", 0, {}, 1)


@pytest.fixture
def small_store():
    settings = Settings(max_concurrent=1, upload_store_entries=2, upload_store_bytes=10**6)
    with TestClient(create_app(settings)) as c:
        yield c


CFG = {"cell": "gru", "seq_len": 10, "hidden_size": 4, "batch_size": 2, "arch": "many-to-many"}


def test_a_new_socket_resumes_an_upload_by_its_token_without_the_file(small_store):
    with small_store.websocket_connect("/ws") as ws:
        loaded = send_series(ws, PRICES)
        token = loaded["token"]
        assert loaded["resumed"] is False and isinstance(token, str)
        first = run_config(ws, CFG, 1)
    with small_store.websocket_connect("/ws") as ws:  # the page reconnects: no binary frame is sent
        ws.send_json({"type": "series", "token": token})
        resumed, _ = receive_frame(ws)
        assert resumed["type"] == "series_loaded" and resumed["resumed"] is True and resumed["token"] == token
        assert resumed["values"] == loaded["values"] and resumed["sha256"] == loaded["sha256"]
        again = run_config(ws, CFG, 1)
        ws.send_json({"type": "clear_series"})
        assert receive_frame(ws)[0]["type"] == "series_cleared"
    assert again.start["windows"] == first.start["windows"] and again.end["loss"] == first.end["loss"]
    want = trace_series(Config.from_dict(CFG), read_series(PRICES))  # the engine's batch, its windows
    assert first.start["windows"] == {"starts": list(want.windows), "seq_len": 10}
    assert len(small_store.app.state.hub.uploads.store) == 0  # cleared: the token is revoked
    with small_store.websocket_connect("/ws") as ws:
        ws.send_json({"type": "series", "token": token})
        assert receive_frame(ws)[0] == {"type": "upload_expired", "kind": "series", "run": None}
        plain = run_config(ws, CFG, 1)  # the config's own task, not the series
    assert "windows" not in plain.start and plain.end["loss"] != first.end["loss"]


def test_a_socket_holds_one_token_per_kind_and_the_store_its_count(small_store):
    hub = small_store.app.state.hub
    with small_store.websocket_connect("/ws") as ws:
        tokens = [send_series(ws, PRICES)["token"] for _ in range(5)]  # each replaces the last
        assert len(hub.uploads.store) == 1 and list(hub.uploads.store.entries) == tokens[-1:]
        ws.send_json({"type": "series", "token": tokens[0]})
        assert receive_frame(ws)[0]["type"] == "upload_expired"
    for _ in range(3):  # the first socket's upload stays after it closes; four in two places: two evicted
        with small_store.websocket_connect("/ws") as ws:
            send_series(ws, PRICES)
    assert len(hub.uploads.store) == 2 and hub.uploads.store.evicted == 2
    assert hub.uploads.store.bytes == 2 * max(len(PRICES), np.zeros(80).nbytes)


def test_a_bad_token_message_gets_one_error(small_store):
    with small_store.websocket_connect("/ws") as ws:
        ws.send_json({"type": "model", "token": "x" * 65})
        long, _ = receive_frame(ws)
        ws.send_json({"type": "model", "token": "abc", "bytes": 3})
        both, _ = receive_frame(ws)
        ws.send_json({"type": "series", "token": 7})
        number, _ = receive_frame(ws)
    assert [f["field"] for f in (long, both, number)] == ["token"] * 3
    assert "at most 64" in long["message"] and "not both" in both["message"]
