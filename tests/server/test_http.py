"""HTTP routes: health, the config table, the page with good and bad links, Plotly, and /api/trace."""

from __future__ import annotations

import json

import numpy as np
import pytest

from engine import FIELDS, LINK_VERSION
from engine.data import TASKS, get_task
from server.wire.encoding import from_wire
from tests.server.ws_helpers import SMALL, run_config, strict_loads


def test_healthz(client):
    r = client.get("/healthz")
    assert r.status_code == 200 and r.json()["status"] == "ok"


def test_api_config_lists_every_key(client):
    body = strict_loads(client.get("/api/config").text)
    assert body["link_version"] == LINK_VERSION
    assert [f["name"] for f in body["fields"]] == [f.name for f in FIELDS]
    assert body["fields"] == [f.describe() for f in FIELDS]
    # The page's own link keys, each with how a link writes it: the page keeps no list of them.
    assert body["page_keys"] == {"v": "version", "lesson": "lesson", "embed": "flag", "present": "flag", "hide": "keys",
                                 "cmp_b": "pairs", "cmp_c": "pairs", "view": "view", "cmp_show": "pick",
                                 "show": "pick", "step": "step"}  # fmt: skip
    # The values a link's view may take: each a view of the page (#view-<name>), in the page's order.
    assert body["views"] == ["grad-norm", "hidden", "lag", "grad-units", "gates", "eigen", "layers"]
    page = client.get("/").text
    at = [page.index(f'id="view-{v}"') for v in body["views"]]
    assert at == sorted(at)
    # Each task's own description, and whether it can be learned (compare's Train all warns when not).
    assert body["tasks"] == {t: {"description": get_task(t).description, "learnable": t != "random"} for t in TASKS}


def test_page_with_a_good_link(client):
    r = client.get("/", params={"cell": "lstm", "seq_len": "120", "bidirectional": "1", "v": "1"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert r.template.name == "index.html"
    boot = r.context["boot"]  # the page's boot JSON: what /api/config says, and the server's reading of the link
    assert r.context["notices"] == [] == boot["notices"]
    assert boot["config"]["cell"] == "lstm" and boot["config"]["seq_len"] == 120
    assert boot["config"]["bidirectional"] is True
    assert {k: v for k, v in boot.items() if k not in ("config", "notices")} == client.get("/api/config").json()


def test_page_with_a_bad_link_still_opens_with_notices(client):
    r = client.get("/", params={"seq_len": "abc", "colour": "red", "cell": "lstm"})
    assert r.status_code == 200
    assert "seq_len must be an integer" in r.text and "using the default 50" in r.text
    assert "unknown key &#39;colour&#39; ignored" in r.text or "unknown key 'colour' ignored" in r.text
    assert [n["field"] for n in r.context["notices"]] == ["seq_len", "colour"]
    config = r.context["boot"]["config"]
    assert config["cell"] == "lstm" and config["seq_len"] == 50  # good keys survive


def test_plotly_is_served_locally(client):
    r = client.get("/vendor/plotly.min.js")
    assert r.status_code == 200 and "javascript" in r.headers["content-type"]
    assert len(r.content) > 1_000_000


def test_static_files_are_served(client):
    assert client.get("/static/js/main.js").status_code == 200
    assert client.get("/static/nope.js").status_code == 404


@pytest.mark.parametrize(
    "overrides",
    [
        {"cell": "lstm", "bidirectional": True, "num_layers": 2},
        {"cell": "gru"},
        {"nonlinearity": "relu", "init": "orthogonal", "gain": 3, "seq_len": 60},
    ],
)
def test_api_trace_equals_the_stream(client, overrides):
    config = {**SMALL, **overrides}
    r = client.post("/api/trace", json=config)
    assert r.status_code == 200
    doc = strict_loads(r.text)
    with client.websocket_connect("/ws") as ws:
        run = run_config(ws, config, 1)

    start = {k: v for k, v in run.start.items() if k not in ("type", "run")}
    assert {k: doc[k] for k in start} == start
    assert doc["precision"] == "float32"
    names = doc["layout"]["forward"]
    arrays = {k: np.asarray(from_wire(doc["forward"][k]), dtype=np.float32) for k in names}  # (L, D, T, H)
    for frame, payload in run.forward:
        t = frame["t"]
        got = np.frombuffer(payload, dtype="<f4").reshape(len(names), *arrays["hidden"][:, :, t].shape)
        for k, name in enumerate(names):
            np.testing.assert_array_equal(got[k], arrays[name][:, :, t])
        # The document writes float32 in float32 digits, the frame's text the float64 number of the same float32.
        assert np.array_equal(np.asarray(from_wire(frame["output"]), dtype=np.float32),
                              np.asarray(from_wire(doc["output"][t]), dtype=np.float32))
    grad_h = np.asarray(from_wire(doc["backward"]["grad_h"]), dtype=np.float32)
    for frame, payload in run.backward:
        t = frame["t"]
        np.testing.assert_array_equal(
            np.frombuffer(payload, dtype="<f4").reshape(grad_h[:, :, t].shape), grad_h[:, :, t]
        )
        for key in ("grad_h_norm", "grad_c_norm", "grad_out_norm", "bound", "gate_product"):
            series = doc["backward"][key]
            expected = None if series is None else [[row[t] for row in layer] for layer in series]
            assert frame[key] == expected, key
    done = {k: v for k, v in run.end.items() if k not in ("type", "run", "elapsed_ms")}
    assert {k: doc["done"][k] for k in done} == done


BAD_BODIES = {
    "not json": ("{cell: lstm}", 400, None),
    "nan token": ('{"gain": NaN}', 400, None),
    "array": ("[1, 2]", 400, "config"),
    "out of range": ('{"seq_len": 0}', 422, "seq_len"),
    "wrong type": ('{"seq_len": "abc"}', 422, "seq_len"),
    "unknown key": ('{"colour": "red"}', 422, "colour"),
    "too deep": ('{"seed": ' + "[" * 50 + "]" * 50 + "}", 400, None),
    "too large": (json.dumps({"seed": 1, "pad": "x" * 70_000}), 413, None),
}


@pytest.mark.parametrize("body, status, field", BAD_BODIES.values(), ids=BAD_BODIES.keys())
def test_api_trace_refuses_bad_bodies(client, body, status, field):
    r = client.post("/api/trace", content=body, headers={"content-type": "application/json"})
    assert r.status_code == status
    error = strict_loads(r.text)
    assert error["field"] == field and error["message"]


def test_api_trace_refuses_a_trace_too_large_for_json(client):
    r = client.post("/api/trace", json={"cell": "lstm", "seq_len": 2000, "hidden_size": 256, "batch_size": 1})
    assert r.status_code == 422
    assert r.json()["field"] == "seq_len" and "/ws" in r.json()["message"]


def test_openapi_docs_stay_on(client):
    assert client.get("/docs").status_code == 200
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/healthz", "/", "/api/config", "/api/trace"} <= set(paths)
    assert paths["/api/trace"]["post"]["requestBody"]["required"] is True


def test_objects_alive_when_the_served_app_starts_are_frozen_out_of_the_collector():
    """A full collection would walk the imports' ~200 000 objects on the event loop (server/memory.py)."""
    import gc

    from fastapi.testclient import TestClient

    from server.app import app

    gc.unfreeze()  # whatever an earlier app of this process froze
    held = [app]  # a tracked object alive before the app starts
    assert not gc.get_freeze_count()
    try:
        with TestClient(app):
            assert gc.get_freeze_count() > 100_000 and not any(o is held for o in gc.get_objects())
    finally:
        gc.unfreeze()
