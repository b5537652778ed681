"""Bad entries in a real Redis are never served and never cached in process: each is refused, logged once,
deleted and recomputed, while the server serves its other clients and stays up.

Entries are planted under the exact key a request reads (server.sharing.keys.request_key).
"""

from __future__ import annotations

import logging

import pytest
from fastapi.testclient import TestClient

from engine import Config
from server.app import create_app
from server.settings import Settings
from server.sharing import keys, request_key
from server.sharing.cache import RedisCache
from server.sharing.entry import pack, read_entry
from server.wire import Recording, Unit
from tests.server.redis_helpers import redis_server
from tests.server.ws_helpers import SMALL, run_async, strict_loads, wait_until

redis = pytest.importorskip("redis", reason="the shared-cache tests need the redis client package")

RUN = {**SMALL, "cell": "lstm"}
OTHER = {**SMALL, "cell": "gru"}  # what another client asks meanwhile
TRAIN = {**SMALL, "cell": "gru", "steps": 8}


@pytest.fixture(scope="module")
def shared():
    """(url, a client of it) for one redis-server; emptied before each test that uses it."""
    with redis_server() as (url, _):
        client = redis.Redis.from_url(url)
        yield url, client
        client.close()


@pytest.fixture
def store(shared):
    url, client = shared
    client.flushall()
    return url, client


def messages(ws, kind: str = "run") -> list:
    """Every message of the socket's next request up to its final frame; texts parsed, without run numbers
    or the computation's own timings (which two computations of the same result do not share)."""
    out, trained = [], kind != "train"
    while True:
        message = ws.receive()
        if message.get("bytes") is not None:
            out.append(message["bytes"])
            continue
        frame = strict_loads(message["text"])
        assert frame.pop("run") is not None and frame["type"] != "error", frame
        for timing in ("elapsed_ms", "elapsed_s", "steps_per_s", "eta_s"):
            frame.pop(timing, None)
        out.append(frame)
        trained |= frame["type"] == "train_done"
        if frame["type"] == "done" and trained:
            return out


@pytest.fixture(scope="module")
def genuine() -> dict[str, tuple[list, Recording]]:
    """What a server without Redis sends for RUN, OTHER and TRAIN, and its recordings of them."""
    with TestClient(create_app(Settings(max_concurrent=2))) as client, client.websocket_connect("/ws") as ws:
        out = {}
        for name, kind, config in (("run", "run", RUN), ("other", "run", OTHER), ("train", "train", TRAIN)):
            ws.send_json({"type": kind, "config": config})
            sent = messages(ws, kind)
            out[name] = (sent, client.app.state.hub.sharing.memory.get(request_key(kind, _config(config))))
        return out


def _config(config: dict) -> Config:
    return Config.from_dict(config)


def bad_entries(rec: Recording, other: Recording) -> dict[str, bytes]:
    whole = pack(rec)
    return {
        "valid JSON, not an object": pack(Recording.of([Unit("[1, 2]"), *rec.units[1:]])),
        "truncated": whole[: len(whole) // 2],
        "empty": b"",
        "cut between frames": pack(Recording.of(rec.units[:-1])),  # whole envelope, no done frame
        "another config's recording": pack(other),
    }


def refusals(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "server.sharing.cache" and "refused" in r.getMessage()]


@pytest.mark.parametrize("name", ["valid JSON, not an object", "truncated", "empty", "cut between frames",
                                  "another config's recording"])  # fmt: skip
def test_a_bad_entry_is_recomputed_never_served_never_kept_while_others_are_served(store, genuine, caplog, name):
    url, client = store
    key = request_key("run", _config(RUN))
    client.set(RedisCache.PREFIX + key, bad_entries(genuine["run"][1], genuine["other"][1])[name])
    with caplog.at_level(logging.WARNING), TestClient(create_app(Settings(max_concurrent=2, cache_url=url))) as app:
        sharing = app.app.state.hub.sharing
        with app.websocket_connect("/ws") as a, app.websocket_connect("/ws") as b:
            a.send_json({"type": "run", "config": RUN})
            b.send_json({"type": "run", "config": OTHER})
            assert messages(a) == genuine["run"][0]  # the whole, right answer
            assert messages(b) == genuine["other"][0]  # another client, served meanwhile
        assert sharing.stats.redis_hits == 0 and sharing.stats.misses == 2 and sharing.redis.refused == 1
        kept = sharing.memory.get(key)
        assert read_entry(pack(kept), "run", _config(RUN)) == kept  # the process keeps the recomputed one
        # Redis gets the good entry in place of the bad one (it is stored just after the last frame is sent).
        wait_until(lambda: client.exists(RedisCache.PREFIX + key))
        assert read_entry(client.get(RedisCache.PREFIX + key), "run", _config(RUN)).units == kept.units
        assert app.get("/healthz").json()["cache"]["redis_refused"] == 1  # and the server is up
    assert len(refusals(caplog)) == 1, refusals(caplog)


def test_an_oversize_entry_is_refused_without_being_read(store, genuine, caplog):
    url, client = store
    name = RedisCache.PREFIX + request_key("run", _config(RUN))
    client.setrange(name, 200_000_000, b"\0")  # a 200 MB entry, made inside Redis
    sent_before = client.info("stats")["total_net_output_bytes"]
    with caplog.at_level(logging.WARNING), TestClient(create_app(Settings(max_concurrent=2, cache_url=url))) as app:
        with app.websocket_connect("/ws") as ws:
            ws.send_json({"type": "run", "config": RUN})
            assert messages(ws) == genuine["run"][0]
        assert app.app.state.hub.sharing.redis.refused == 1
        wait_until(lambda: client.strlen(name) not in (0, 200_000_001))
    assert client.info("stats")["total_net_output_bytes"] - sent_before < 1_000_000  # never fetched
    assert read_entry(client.get(name), "run", _config(RUN)).units[:-1] == genuine["run"][1].units[:-1]  # replaced
    assert "more than the" in refusals(caplog)[0]


def test_a_training_and_a_document_entry_are_checked_too(store, genuine, caplog):
    url, client = store
    train = genuine["train"][1]
    train_key = RedisCache.PREFIX + request_key("train", _config(TRAIN))
    client.set(train_key, pack(Recording.of(train.units[:-1])))  # the trained trace's done frame is missing
    document_key = RedisCache.PREFIX + request_key("document", _config(RUN))
    client.set(document_key, pack(Recording.of([Unit(None, b'{"type": "trace"}')])))
    with caplog.at_level(logging.WARNING), TestClient(create_app(Settings(max_concurrent=2, cache_url=url))) as app:
        with app.websocket_connect("/ws") as ws:
            ws.send_json({"type": "train", "config": TRAIN})
            assert messages(ws, "train") == genuine["train"][0]
        response = app.post("/api/trace", json=RUN)
        assert response.status_code == 200 and response.json()["done"]["loss"] == genuine["run"][0][-1]["loss"]
        assert app.app.state.hub.sharing.redis.refused == 2 and app.app.state.hub.sharing.stats.redis_hits == 0
    assert len(refusals(caplog)) == 2


def test_a_redeploy_with_changed_code_never_serves_the_old_recordings(store, genuine, monkeypatch):
    url, client = store
    with monkeypatch.context() as old:
        old.setitem(keys.CODE, "source", "0" * 16)  # the code that was deployed before
        with TestClient(create_app(Settings(max_concurrent=2, cache_url=url))) as app:
            with app.websocket_connect("/ws") as ws:
                ws.send_json({"type": "run", "config": RUN})
                messages(ws)
        wait_until(lambda: client.dbsize() == 1)
    with TestClient(create_app(Settings(max_concurrent=2, cache_url=url))) as app:
        with app.websocket_connect("/ws") as ws:
            ws.send_json({"type": "run", "config": RUN})
            assert messages(ws) == genuine["run"][0]
        stats = app.app.state.hub.sharing.stats
        assert stats.redis_hits == 0 and stats.misses == 1  # computed by the new code, not read back
        wait_until(lambda: client.dbsize() == 2)  # the two codes' recordings side by side


def test_an_entry_not_checked_in_time_is_not_used_but_left_for_the_recomputed_one(store, genuine):
    url, client = store
    key = request_key("run", _config(RUN))
    client.set(RedisCache.PREFIX + key, pack(genuine["run"][1]))

    async def read():
        cache = RedisCache(url, check_s=1e-9)  # no time at all to check it
        try:
            return await cache.get(key, "run", _config(RUN)), cache.refused
        finally:
            await cache.aclose()

    assert run_async(read) == (None, 1)
    assert client.exists(RedisCache.PREFIX + key)  # not known to be bad: not deleted
