"""A room across two server processes sharing one Redis: followers on either replica follow the presenter."""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.request

import pytest

from tests.e2e.harness import running_server
from tests.server.redis_helpers import redis_server
from tests.server.ws_helpers import run_async

redis = pytest.importorskip("redis", reason="the replica tests need the redis client package")
websockets = pytest.importorskip("websockets.asyncio.client")

STATE = {"query": "?v=1&cell=gru", "step": 3, "playing": False, "lesson_step": 0, "enlarged": None}


@pytest.fixture(scope="module")
def replicas():
    """Two servers sharing a private Redis, at most two rooms between them: (redis URL, base A, base B)."""
    with redis_server() as (url, _):
        env = {"GFL_CACHE": url, "GFL_MAX_ROOMS": "2"}
        with running_server(env=env) as a, running_server(env=env) as b:
            yield url, a, b


def create_room(base: str) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(urllib.request.Request(base + "/api/rooms", method="POST"), timeout=10) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


async def joined(base: str, room: dict, secret: str | None = None):
    ws = await websockets.connect(base.replace("http", "ws", 1) + "/rooms/ws")
    await ws.send(json.dumps({"type": "join", "room": room["room"], **({"secret": secret} if secret else {})}))
    frame = json.loads(await asyncio.wait_for(ws.recv(), 10))
    assert frame["type"] == "joined", frame
    return ws


async def next_frame(ws) -> dict:
    return json.loads(await asyncio.wait_for(ws.recv(), 10))


async def follow_across(url: str, a: str, b: str, room: dict) -> None:
    presenter = await joined(a, room, room["secret"])
    on_a, on_b = await joined(a, room), await joined(b, room)
    await presenter.send(json.dumps({"type": "set", "state": STATE}))
    assert await next_frame(presenter) == {"type": "sent", "seq": 1}
    for follower in (on_a, on_b):
        assert await next_frame(follower) == {"type": "follow", "room": room["room"], "seq": 1, "state": STATE}
    # A follower joining later on B sees the newest state at once; a follower on B cannot drive.
    late = await joined(b, room)
    assert (await next_frame(late))["seq"] == 1
    await late.send(json.dumps({"type": "set", "state": STATE}))
    assert (await next_frame(late))["field"] == "secret"
    # A frame someone else put on the room's channel is not a follow frame: nobody receives it.
    client = redis.asyncio.Redis.from_url(url)
    await client.publish("gfl:roomcast:" + room["room"], json.dumps({"type": "follow", "trace": [1] * 10}))
    await client.aclose()
    # The presenter's socket on B this time: the secret lives in Redis.
    again = await joined(b, room, room["secret"])
    await again.send(json.dumps({"type": "set", "state": {**STATE, "step": 9}}))
    assert await next_frame(again) == {"type": "sent", "seq": 2}
    for follower in (on_a, on_b, late):
        frame = await next_frame(follower)
        assert frame["seq"] == 2 and frame["state"]["step"] == 9, frame
    for ws in (presenter, again, on_a, on_b, late):
        await ws.close()


def test_followers_on_either_replica_follow_a_presenter_on_either(replicas):
    url, a, b = replicas
    status, room = create_room(a)
    assert status == 201, room
    run_async(follow_across, url, a, b, room)


def test_the_room_bound_holds_across_replicas(replicas):
    url, a, b = replicas
    client = redis.Redis.from_url(url)
    held = client.zcard("gfl:rooms")  # rooms other tests of this module made
    client.close()
    made = [create_room(base) for base in (a, b, a, b)[: 3 - held]]
    assert [status for status, _ in made[:-1]] == [201] * (2 - held)
    status, body = made[-1]
    assert status == 503 and body["field"] == "max_rooms", body
