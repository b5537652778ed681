"""Rooms in one process: lifecycle, bounds, expiry, a follower that cannot drive, bad messages named."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient
from hypothesis import given, settings
from hypothesis import strategies as st

from server.app import create_app
from server.rooms import RoomError, check_state, parse_room_message
from server.rooms.registry import secret_matches
from server.settings import Settings

STATE = {"query": "?v=1&cell=lstm&lesson=vanishing-gradients", "step": 12, "playing": False, "lesson_step": 1,
         "enlarged": "chart-grad-norm"}


def make_client(**bounds) -> TestClient:
    return TestClient(create_app(Settings(max_concurrent=1, **bounds)))


@pytest.fixture(scope="module")
def client():
    with make_client() as c:
        yield c


def new_room(client) -> dict:
    r = client.post("/api/rooms")
    assert r.status_code == 201, r.text
    return r.json()


def join(client, room: dict, secret: str | None = None):
    """A room socket, joined (presenter when ``secret`` is given), its joined frame checked."""
    ws = client.websocket_connect("/rooms/ws")
    ws.__enter__()
    ws.send_text(json.dumps({"type": "join", "room": room["room"], **({"secret": secret} if secret else {})}))
    joined = ws.receive_json()
    assert joined == {"type": "joined", "room": room["room"], "role": "presenter" if secret else "follower"}, joined
    return ws


def test_followers_see_the_newest_state_on_joining_and_each_change_after(client):
    room = new_room(client)
    presenter = join(client, room, room["secret"])
    presenter.send_text(json.dumps({"type": "set", "state": STATE}))
    assert presenter.receive_json() == {"type": "sent", "seq": 1}
    follower = join(client, room)
    assert follower.receive_json() == {"type": "follow", "room": room["room"], "seq": 1, "state": STATE}
    moved = {**STATE, "step": 40, "playing": True, "lesson_step": 2, "enlarged": None}
    presenter.send_text(json.dumps({"type": "set", "state": moved}))
    assert presenter.receive_json()["seq"] == 2
    assert follower.receive_json() == {"type": "follow", "room": room["room"], "seq": 2, "state": moved}
    for ws in (presenter, follower):
        ws.__exit__(None, None, None)


def test_a_follower_cannot_drive_the_room_and_keeps_following(client):
    room = new_room(client)
    follower = join(client, room)
    follower.send_text(json.dumps({"type": "set", "state": STATE}))
    refused = follower.receive_json()
    assert refused["type"] == "error" and refused["field"] == "secret" and "follower" in refused["message"]
    # Another room's secret, or a made-up one, does not make a presenter.
    other = new_room(client)
    with client.websocket_connect("/rooms/ws") as ws:
        for secret in (other["secret"], "x" * 43):
            ws.send_text(json.dumps({"type": "join", "room": room["room"], "secret": secret}))
            assert ws.receive_json()["field"] == "secret"
    presenter = join(client, room, room["secret"])
    presenter.send_text(json.dumps({"type": "set", "state": STATE}))
    assert follower.receive_json()["state"] == STATE  # the refusal left the follower's socket following
    for ws in (presenter, follower):
        ws.__exit__(None, None, None)


def test_room_ids_and_secrets_are_long_random_and_a_secret_is_checked_by_its_digest(client):
    rooms = [new_room(client) for _ in range(5)]
    for key in ("room", "secret"):
        values = [r[key] for r in rooms]
        assert len(set(values)) == 5 and min(map(len, values)) >= 22
    stored = client.app.state.rooms.rooms[rooms[0]["room"]].secret_digest
    assert stored != rooms[0]["secret"] and secret_matches(stored, rooms[0]["secret"])
    assert not secret_matches(stored, rooms[1]["secret"]) and not secret_matches(None, rooms[0]["secret"])


def test_rooms_are_bounded_in_number():
    with make_client(max_rooms=2) as c:
        new_room(c), new_room(c)
        r = c.post("/api/rooms")
        assert r.status_code == 503 and r.json()["field"] == "max_rooms"


def test_followers_of_a_room_are_bounded():
    with make_client(max_room_followers=2) as c:
        room = new_room(c)
        followers = [join(c, room), join(c, room)]
        with c.websocket_connect("/rooms/ws") as ws:
            ws.send_text(json.dumps({"type": "join", "room": room["room"]}))
            assert ws.receive_json()["field"] == "max_room_followers"
        followers.pop().__exit__(None, None, None)
        followers.append(join(c, room))  # one left: there is room for one more
        for ws in followers:
            ws.__exit__(None, None, None)


def test_a_room_expires_closing_its_followers_and_refusing_its_presenter():
    with make_client(room_seconds=0.5) as c:
        room = new_room(c)
        presenter = join(c, room, room["secret"])
        follower = join(c, room)
        # No sleep: the follower's next frame is the room's closing, whenever the sweep finds it expired.
        assert follower.receive_json() == {"type": "closed", "room": room["room"], "reason": "expired"}
        presenter.send_text(json.dumps({"type": "set", "state": STATE}))
        assert presenter.receive_json()["field"] == "room"
        with c.websocket_connect("/rooms/ws") as ws:
            ws.send_text(json.dumps({"type": "join", "room": room["room"]}))
            assert ws.receive_json()["field"] == "room"
        for ws in (presenter, follower):
            ws.__exit__(None, None, None)
        assert c.app.state.rooms.stats() == {"rooms": 0, "followers": 0}


BAD = [
    ({"step": -1}, "state.step"), ({"step": "3"}, "state.step"), ({"step": True}, "state.step"),
    ({"lesson_step": 99}, "state.lesson_step"), ({"playing": "yes"}, "state.playing"),
    ({"query": "?a=<script>"}, "state.query"), ({"query": "?v=1#follow=x"}, "state.query"),
    ({"query": "?" + "a" * 3000}, "state.query"),
    ({"query": 5}, "state.query"), ({"enlarged": "Chart One"}, "state.enlarged"), ({"trace": [1, 2]}, "state.trace"),
]


@pytest.mark.parametrize("change, field", BAD, ids=[f for _, f in BAD])
def test_a_bad_state_is_refused_naming_its_field(change, field):
    with pytest.raises(RoomError) as e:
        check_state({**STATE, **change})
    assert e.value.field == field and field in e.value.message


@pytest.mark.parametrize("text, field", [
    ("{", None), ('{"type": "join", "room": "a", "room": "b"}', "room"), ('{"type": "leave"}', "type"),
    ('{"type": "join", "room": "short"}', "room"), ('{"type": "join", "room": "abcdefghijklmnopq", "x": 1}', "x"),
    ('{"type": "set", "state": {"step": 1}}', "state.query"), (json.dumps({"type": "set", "pad": "x" * 5000}), None),
])  # fmt: skip
def test_a_bad_message_is_refused_naming_its_field(text, field):
    with pytest.raises(RoomError) as e:
        parse_room_message(text, 4096)
    assert e.value.field == field


def test_a_bad_message_leaves_the_presenters_socket_usable(client):
    room = new_room(client)
    presenter = join(client, room, room["secret"])
    presenter.send_text(json.dumps({"type": "set", "state": {**STATE, "step": -5}}))
    assert presenter.receive_json()["field"] == "state.step"
    presenter.send_text("x" * 10_000)
    assert "at most 4096" in presenter.receive_json()["message"]
    presenter.send_text(json.dumps({"type": "set", "state": STATE}))
    assert presenter.receive_json() == {"type": "sent", "seq": 1}
    presenter.__exit__(None, None, None)


JSONISH = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30),
                       lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner,
                                                                                   max_size=6), max_leaves=20)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.sampled_from([*STATE, "other"]), JSONISH, max_size=7))
def test_any_state_is_either_checked_whole_or_refused_with_a_room_error(state):
    try:
        checked = check_state(state)
    except RoomError as e:
        assert e.field and e.field.startswith("state")
        return
    assert checked == state and 0 <= checked["step"] <= 1_000_000


def test_a_follow_frame_starts_its_setting_computing_so_the_followers_requests_share_it():
    """The frame's setting is traced as the frame goes out: the follower's own request for it (as its page asks,
    after the frame arrived) joins that computation or finds it cached, and is never the one that computes."""
    from engine.config import parse_query
    from tests.server.ws_helpers import run_config

    with make_client() as client:
        room = new_room(client)
        presenter, follower = join(client, room, room["secret"]), join(client, room)
        try:
            stats = client.app.state.hub.sharing.stats
            before = (stats.misses, stats.hits + stats.shared)
            state = {**STATE, "query": "?v=1&seq_len=9&hidden_size=5&batch_size=2&seed=4242"}
            presenter.send_text(json.dumps({"type": "set", "state": state}))
            assert follower.receive_json()["state"] == state
            config, _ = parse_query(state["query"])
            with client.websocket_connect("/ws") as ws:
                run = run_config(ws, config.to_dict(), 1)
            assert run.end["type"] == "done" and len(run.backward) == 9
            # One computation, the frame's; the follower's request was served by it.
            assert (stats.misses, stats.hits + stats.shared) == (before[0] + 1, before[1] + 1)
        finally:  # an open room socket would hold the client's exit
            for ws in (presenter, follower):
                ws.__exit__(None, None, None)
