"""Real server processes: two replicas sharing a Redis, a Redis that goes away, a reader that stalls."""

from __future__ import annotations

import asyncio
import json
import time
import urllib.request

import pytest

from tests.e2e.harness import never_reading_socket, running_server, stop
from tests.server.redis_helpers import redis_server
from tests.server.ws_helpers import run_async

redis = pytest.importorskip("redis", reason="the replica tests need the redis client package")
websockets = pytest.importorskip("websockets.asyncio.client")

RUN = {"seq_len": 30, "hidden_size": 8, "batch_size": 4, "cell": "gru"}


@pytest.fixture
def redis_url():
    """A private redis-server on a free port, stopped afterwards."""
    with redis_server() as server:
        yield server


def health(base: str) -> dict:
    with urllib.request.urlopen(base + "/healthz", timeout=5) as r:
        return json.loads(r.read())


async def request(base: str, kind: str, config: dict, on_first=None) -> list:
    """Every message of one request (its run is 1 on a fresh socket) up to its final frame."""
    out = []
    final = "train_done" if kind == "train" else "done"
    async with websockets.connect(base.replace("http", "ws", 1) + "/ws", max_size=None) as ws:
        await ws.send(json.dumps({"type": kind, "config": config}))
        trained = False
        while True:
            message = await asyncio.wait_for(ws.recv(), 60)
            out.append(message)
            if on_first is not None and len(out) == 1:
                on_first()
            if isinstance(message, str):
                frame = json.loads(message)
                assert frame["type"] != "error", frame
                trained |= frame["type"] == final
                if frame["type"] == "done" and (kind != "train" or trained):
                    return out


def test_two_replicas_share_results_through_redis(redis_url, tmp_path):
    url, _ = redis_url
    env = {"GFL_CACHE": url}
    with running_server(env=env) as a, running_server(env=env) as b:
        first = run_async(request, a, "run", RUN)
        assert health(a)["computations"] == 1
        again = run_async(request, b, "run", RUN)
        hb = health(b)
        assert hb["computations"] == 0, "replica b computed what replica a had already computed"
        assert hb["cache"]["redis_hits"] == 1 and hb["cache"]["redis"] == "up"
        assert again == first  # the same bytes, frame for frame
        # A second ask on b is now an in-process hit.
        run_async(request, b, "run", RUN)
        assert health(b)["cache"]["hits"] == 2 and health(b)["cache"]["redis_hits"] == 1


def test_redis_going_away_mid_run_degrades_to_the_local_cache(redis_url, tmp_path):
    url, proc = redis_url
    log = tmp_path / "server.log"
    train = {**RUN, "steps": 60}
    with running_server(env={"GFL_CACHE": url}, log_path=str(log)) as base:
        # Redis stops while the training streams: the client still gets every frame, no error.
        messages = run_async(request, base, "train", train, on_first=lambda: stop(proc))
        kinds = [json.loads(m)["type"] for m in messages if isinstance(m, str)]
        assert kinds.count("train_step") == 60 and kinds[-1] == "done"
        for seed in (1, 2):
            assert run_async(request, base, "run", {**RUN, "seed": seed})
        h = health(base)
        assert h["cache"]["redis"] == "down" and h["cache"]["entries"] == 3
        run_async(request, base, "run", {**RUN, "seed": 1})
        assert health(base)["cache"]["hits"] == 1  # the in-process cache still serves
    lines = [line for line in log.read_text().splitlines() if "redis cache" in line]
    assert len(lines) == 1 and "unavailable" in lines[0], lines
    assert "Traceback" not in log.read_text()


def test_a_socket_that_stops_reading_is_closed_and_releases_it(tmp_path):
    # ~30 MB of frames: far more than the socket buffers hold, so the sender stalls.
    big = {"cell": "lstm", "seq_len": 2000, "hidden_size": 256, "bidirectional": True, "batch_size": 1}
    with running_server(env={"GFL_STALL_SECONDS": "1"}) as base:
        sock = never_reading_socket(base, {"type": "run", "config": big})
        # Never read: the server must give up on this socket by itself.
        deadline = time.monotonic() + 60
        while health(base)["stalled_closed"] < 1:
            assert time.monotonic() < deadline, f"the stalled socket was not closed: {health(base)}"
            time.sleep(0.1)  # condition-free: polling /healthz for the condition asserted
        deadline = time.monotonic() + 10
        while health(base)["sessions"] != 0:
            assert time.monotonic() < deadline, "the stalled session was not released"
            time.sleep(0.1)  # condition-free: polling /healthz for the condition asserted
        sock.close()
