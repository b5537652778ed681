"""Every row of issue 22's table, over both routes: a clear error (a 4xx, or one error frame with ``kind``) naming
the file's field and, for a CSV, the row; a short message; the socket usable after; never a 5xx.  And an upload's
memory goes when its socket closes, without waiting for a garbage collection.

The crash and freeze rows also run against a real server process in tests/server/test_upload_hostile.py.
"""

from __future__ import annotations

import gc
import json
import weakref

import pytest
from fastapi.testclient import TestClient

from server.app import create_app
from server.settings import Settings
from tests.server import hostile
from tests.server.ws_helpers import SMALL, receive_frame, run_config, wait_until

MODEL_CONFIG = {"task": "sine", "seq_len": 5, "batch_size": 1}
SERIES_CONFIG = {"seq_len": 5, "batch_size": 1, "arch": "many-to-many"}

ROWS = [
    # name, kind, file, HTTP status, field, words in the message, CSV row
    ("a pickle nested 100 000 deep", "model", lambda: hostile.deep_key_pt(100_000), 422, "model",
     "nests containers more than 32 deep", None),
    ("a zip entry inflating to 64 MB", "model", lambda: hostile.zip_bomb_pt(64 * 2**20), 413, "model",
     "declares 67,108,864 bytes unpacked; at most 16,777,216", None),
    ("a zip entry that lies about its size", "model", lambda: hostile.zip_bomb_pt(64 * 2**20, 100), 422, "model",
     "'archive/data/0'", None),
    ("NaN weights", "model", lambda: hostile.nonfinite_pt(float("nan")), 422, "model",
     "'weight_hh_l0' holds a non-finite value (nan)", None),
    ("inf weights", "model", lambda: hostile.nonfinite_pt(float("-inf"), "bias_hh_l0"), 422, "model",
     "'bias_hh_l0' holds a non-finite value (-inf)", None),
    ("a cell over 128 KB", "series", lambda: hostile.big_cell_csv(130_000), 422, "series",
     "row 3 has a cell over 256 characters", 3),
    ("a 900 000-character header", "series", lambda: hostile.long_header_csv(900_000), 422, "series",
     "row 1 has a cell over 256 characters", 1),
    ("450 000 columns", "series", lambda: b"1," * 450_000 + b"1\n", 422, "series",
     "first row has more than 1,000 columns", 1),
    ("400 000 rows", "series", lambda: hostile.rows_csv(400_000), 422, "series",
     "more than 100,000 values", 100_001),
    ("values of 1e308", "series", hostile.huge_values_csv, 422, "series",
     "column 'x' cannot be normalised", None),
    ("a cell that is no number", "series", lambda: b"x\n1\n" + b"ten" * 60 + b"\n3\n", 422, "series",
     "row 3, column 'x': 'tententen", 3),
]  # fmt: skip


@pytest.fixture(scope="module")
def client():
    with TestClient(create_app(Settings(max_concurrent=1))) as c:
        yield c


def post(client, kind: str, data: bytes):
    config = MODEL_CONFIG if kind == "model" else SERIES_CONFIG
    name = "homework.pt" if kind == "model" else "prices.csv"
    return client.post("/api/trace", data={"config": json.dumps(config)}, files={kind: (name, data)})


def send(ws, kind: str, data: bytes) -> dict:
    ws.send_json({"type": kind, "bytes": len(data)})
    ws.send_bytes(data)
    return receive_frame(ws)[0]


@pytest.mark.parametrize("name, kind, make, status, field, words, row", ROWS, ids=[r[0] for r in ROWS])
def test_a_hostile_file_is_one_clear_error_on_either_route(client, name, kind, make, status, field, words, row):
    data = make()
    r = post(client, kind, data)
    assert r.status_code == status, r.text
    body = r.json()
    assert (body["kind"], body["field"], body.get("row")) == (kind, field, row)
    assert words in body["message"] and len(body["message"]) < 400, body["message"]
    assert body["file"] == ("homework.pt" if kind == "model" else "prices.csv")
    assert body["message"].startswith(repr(body["file"]))
    with client.websocket_connect("/ws") as ws:
        frame = send(ws, kind, data)
        assert (frame["type"], frame["run"], frame["kind"], frame["field"]) == ("error", None, kind, field)
        assert frame.get("row") == row and words in frame["message"] and len(frame["message"]) < 400
        assert run_config(ws, SMALL, 1).end["type"] == "done"  # the socket is still usable
    assert client.app.state.hub.uploads.budget.used == 0


def test_a_csv_with_carriage_return_line_ends_is_read_not_refused(client):
    data = hostile.cr_only_csv(60)
    r = post(client, "series", data)
    assert r.status_code == 200 and r.json()["series"]["length"] == 60
    with client.websocket_connect("/ws") as ws:
        loaded = send(ws, "series", data)
        assert loaded["type"] == "series_loaded" and loaded["name"] == "price" and loaded["length"] == 60


def test_a_file_over_the_socket_cap_is_refused_when_announced(client):
    with client.websocket_connect("/ws") as ws:
        ws.send_json({"type": "series", "bytes": 2_000_000})
        frame = receive_frame(ws)[0]
        ws.send_bytes(b"1\n" * 1_000_000)  # read and dropped
        assert run_config(ws, SMALL, 1).end["type"] == "done"
    assert (frame["kind"], frame["field"]) == ("series", "bytes") and "at most 1,048,576" in frame["message"]


@pytest.mark.parametrize("kept", [False, True])
def test_an_upload_is_freed_when_its_socket_closes_without_a_garbage_collection(kept):
    # A store of 1 byte keeps nothing for a reconnect: then the socket is the only holder.
    settings = Settings(max_concurrent=1, upload_store_bytes=10**6 if kept else 1)
    gc.collect()
    gc.disable()  # a reference cycle would keep the model alive until a collection: none may
    models, weights = [], []
    try:
        with TestClient(create_app(settings)) as c:
            uploads = c.app.state.hub.uploads
            for seed in range(3):  # three students in turn, each uploading, running once and leaving
                with c.websocket_connect("/ws") as ws:
                    loaded = send(ws, "model", hostile.saved(hostile.gru_state(seed, hidden=32)))
                    assert loaded["type"] == "model_loaded" and (loaded["token"] is not None) == kept
                    assert run_config(ws, MODEL_CONFIG, 1).end["type"] == "done"  # a run used it too
                    held = next(h for h in uploads.budget.held.values() if h.value.sha256 == loaded["sha256"])
                    models.append(weakref.ref(held.value))
                    weights.append(weakref.ref(held.value.state["weight_hh_l0"]))
                    del held
                wait_until(lambda: c.app.state.hub.activity.sessions == 0)
                assert uploads.budget.used == uploads.store.bytes  # the socket's share left with it
                assert (models[-1]() is not None) == kept  # the upload itself went at once
            # The tensors too: at most the last run's computation thread may still hold its checkpoint's
            # weights until it runs again; nothing accumulates.
            assert [w() is not None for w in weights[:-1]] == [kept] * 2
    finally:
        gc.enable()
