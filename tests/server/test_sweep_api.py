"""Sweeps over HTTP and the socket: each point is exactly its own /api/trace or training, computed through the same
cache and single flight; bad sweeps are refused up front naming the field; the socket streams the points in order."""

from __future__ import annotations

import json
import math
import os
import re
import subprocess
import sys

import numpy as np
import pytest
from fastapi.testclient import TestClient

from engine import Config, parse_query
from server.app import create_app
from server.settings import Settings
from server.wire.encoding import from_wire
from tests.server.test_training_ws import read_training
from tests.server.ws_helpers import SMALL, receive_frame, strict_loads

SWEEP = {"config": SMALL, "key": "seq_len", "values": [3, 7], "over": {"cell": ["rnn", "gru"]}, "seeds": [0, 2]}
TRAIN = {"config": {**SMALL, "task": "sine", "steps": 4}, "key": "hidden_size", "values": [2, 4], "kind": "train",
         "seeds": [0, 1]}  # fmt: skip


@pytest.fixture
def fresh():
    with TestClient(create_app(Settings(max_concurrent=2))) as c:
        yield c


def _points(answer):
    return [(s["over"], p) for s in answer["series"] for p in s["points"]]


def test_each_trace_point_is_exactly_its_own_trace_document_and_served_from_the_same_cache(fresh):
    r = fresh.post("/api/sweep", json=SWEEP)
    assert r.status_code == 200, r.text
    answer = strict_loads(r.text)
    assert set(answer) == {"key", "values", "series"} and answer["values"] == [3, 7]
    assert [s["over"] for s in answer["series"]] == [{"cell": "rnn"}, {"cell": "gru"}]
    hub = fresh.app.state.hub
    computed = hub.scheduler.computations
    assert computed == 8
    for over, point in _points(answer):
        config = {**SMALL, **over, "seq_len": point["value"], "seed": point["seed"]}
        doc = strict_loads(fresh.post("/api/trace", json=config).text)
        assert point["grad_h_norm"] == doc["backward"]["grad_h_norm"] and point["loss"] == doc["done"]["loss"]
        assert point["total_norm"] == doc["done"]["total_norm"]
        assert point["total_norm_clipped"] == doc["done"]["total_norm_clipped"]
        g = doc["backward"]["grad_h_norm"][0][0]
        assert point["grad_first"] == g[doc["input_steps"][0]] and point["grad_last"] == g[-1]
        assert point["ratio"] == pytest.approx(g[doc["input_steps"][0]] / g[-1], rel=1e-12)
        bound = doc["backward"]["bound"]  # the RNN's geometric bound; null for the GRU
        assert point["bound_first"] == (None if bound is None else bound[0][0][doc["input_steps"][0]])
        assert (bound is None) == (over["cell"] == "gru")
    assert hub.scheduler.computations == computed  # every /api/trace above was the sweep's cached answer
    again = fresh.post("/api/sweep", json=SWEEP)
    assert again.content == r.content and hub.scheduler.computations == computed


def test_each_training_point_is_exactly_its_own_trainings_end(fresh):
    r = fresh.post("/api/sweep", json=TRAIN)
    assert r.status_code == 200, r.text
    points = _points(strict_loads(r.text))
    computed = fresh.app.state.hub.scheduler.computations
    with fresh.websocket_connect("/ws") as ws:
        for k, (_, point) in enumerate(points, start=1):
            config = {**TRAIN["config"], "hidden_size": point["value"], "seed": point["seed"]}
            ws.send_text(json.dumps({"type": "train", "config": config}))
            start, _, done = read_training(ws, k)[:3]
            assert point["final_loss"] == done["final_loss"] and point["baseline"] == start["baseline"]["loss"]
            assert point["diverged"] is (done["diverged_at"] is not None) and isinstance(point["learned"], bool)
    assert fresh.app.state.hub.scheduler.computations == computed  # every training replayed from the cache


def test_the_socket_streams_the_same_points_in_order_with_progress(fresh):
    expected = _points(strict_loads(fresh.post("/api/sweep", json=SWEEP).text))
    with fresh.websocket_connect("/ws") as ws:
        ws.send_text(json.dumps({"type": "sweep", "sweep": SWEEP}))
        start, _ = receive_frame(ws)
        assert start["type"] == "sweep_start" and start["run"] == 1 and start["points"] == 8 and start["estimate_s"] > 0
        assert start["series"] == [{"over": {"cell": "rnn"}}, {"over": {"cell": "gru"}}] and start["seeds"] == [0, 2]
        streamed = [receive_frame(ws)[0] for _ in range(8)]
        done, _ = receive_frame(ws)
    assert [f["type"] for f in streamed] == ["sweep_point"] * 8 and done["type"] == "sweep_done"
    assert [f["done"] for f in streamed] == list(range(1, 9)) and {f["run"] for f in streamed} == {1}
    assert [(f["value"], f["series"], f["seed"]) for f in streamed] == [
        (3, 0, 0), (3, 0, 2), (3, 1, 0), (3, 1, 2), (7, 0, 0), (7, 0, 2), (7, 1, 0), (7, 1, 2)]
    for frame in streamed:
        over, point = next((o, p) for o, p in expected if o == start["series"][frame["series"]]["over"]
                           and (p["value"], p["seed"]) == (frame["value"], frame["seed"]))  # fmt: skip
        assert {k: frame[k] for k in point} == point and over["cell"] in ("rnn", "gru")
        # Its own link: the lab and /api/script read the point's setting from it.
        config = Config.from_dict({**SMALL, **over, "seq_len": frame["value"], "seed": frame["seed"]})
        assert parse_query(frame["query"]) == (config, [])
    assert fresh.get("/api/script?" + streamed[-1]["query"]).status_code == 200


NAMED = {"config": SMALL, "key": "seq_len", "values": [3, 5], "seeds": [1], "over": [
    {"name": "IRNN", "set": {"cell": "rnn", "nonlinearity": "relu", "init": "identity"}},
    {"name": "GRU", "set": {"cell": "gru"}}]}  # fmt: skip


def test_a_named_settings_point_is_its_own_trace_over_http_the_socket_and_its_script(fresh, tmp_path):
    answer = strict_loads(fresh.post("/api/sweep", json=NAMED).text)
    assert [(s["name"], s["over"]) for s in answer["series"]] == [(a["name"], a["set"]) for a in NAMED["over"]]
    with fresh.websocket_connect("/ws") as ws:
        ws.send_text(json.dumps({"type": "sweep", "sweep": NAMED}))
        start, _ = receive_frame(ws)
        streamed = [receive_frame(ws)[0] for _ in range(start["points"])]
    assert start["series"] == [{"over": a["set"], "name": a["name"]} for a in NAMED["over"]]
    assert start["query"].count("over=IRNN%3Acell%3Drnn%2Cnonlinearity%3Drelu%2Cinit%3Didentity%3BGRU%3Acell%3Dgru")
    for frame in streamed:
        over = NAMED["over"][frame["series"]]["set"]
        config = {**SMALL, **over, "seq_len": frame["value"], "seed": frame["seed"]}
        assert parse_query(frame["query"]) == (Config.from_dict(config), [])
        doc = strict_loads(fresh.post("/api/trace", json=config).text)
        assert frame["grad_h_norm"] == doc["backward"]["grad_h_norm"] and frame["loss"] == doc["done"]["loss"]
    # The IRNN point's own script, run on its own, prints its numbers.
    irnn = next(f for f in streamed if f["series"] == 0 and f["value"] == 5)
    script = tmp_path / "irnn.py"
    script.write_text(fresh.get("/api/script?" + irnn["query"]).text)
    run = subprocess.run([sys.executable, "-I", str(script)], cwd=tmp_path, capture_output=True, text=True,
                         timeout=300, env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"})  # fmt: skip
    assert run.returncode == 0, run.stderr
    printed = json.loads(run.stdout.strip().splitlines()[-1])
    np.testing.assert_allclose(printed["grad_h_norm"], from_wire(irnn["grad_h_norm"]), rtol=1e-5, atol=0)
    assert printed["loss"] == pytest.approx(irnn["loss"], rel=1e-5)


def test_a_classifying_training_points_accuracy_is_its_last_train_steps_metric(fresh):
    body = {"config": {**SMALL, "arch": "many-to-many", "task": "copy", "steps": 3}, "key": "hidden_size",
            "values": [2, 4], "kind": "train", "seeds": [0]}  # fmt: skip
    points = _points(strict_loads(fresh.post("/api/sweep", json=body).text))
    with fresh.websocket_connect("/ws") as ws:
        for k, (_, point) in enumerate(points, start=1):
            ws.send_text(json.dumps({"type": "train", "config": {**body["config"], "hidden_size": point["value"]}}))
            start, steps, _ = read_training(ws, k)[:3]
            assert point["accuracy"] == steps[-1]["metric"] and 0 <= point["accuracy"] <= 1
            assert point["baseline_accuracy"] == start["baseline"]["metric"] is not None


def test_an_exploding_point_keeps_valid_json_with_its_non_finite_numbers(fresh):
    body = {"config": {**SMALL, "nonlinearity": "relu", "gain": 10.0, "hidden_size": 8}, "key": "seq_len",
            "values": [500]}  # fmt: skip
    r = fresh.post("/api/sweep", json=body)
    assert r.status_code == 200
    (_, point), = _points(strict_loads(r.text))  # strict: no NaN or Infinity tokens
    assert point["grad_first"] in ("nan", "inf") and point["ratio"] in ("nan", "inf")  # as the wire writes them
    assert not math.isfinite(from_wire(point["grad_first"]))


REFUSED = [
    ({"key": "colour", "values": [1]}, {}, "key", "key must be a config key to sweep"),
    ({"key": "seq_len", "values": list(range(1, 25)), "over": {"cell": ["rnn", "lstm", "gru"]}, "seeds": [0, 1]}, {},
     "values", "144 points; at most 96"),
    ({"key": "seq_len", "values": [10, 1000], "config": {"hidden_size": 64}}, {"max_json_values": 100_000}, "values",
     "the point seq_len = 1000 \\(seed 0\\) is over a single request's limits: its trace would have"),
    ({"key": "seq_len", "values": [10, 20, 40]}, {"max_sweep_seconds": 0.01}, "values",
     "this sweep of 3 points would take about 0 s here; the server allows 0 s of sweeping"),
    ({"key": "hidden_size", "values": [4, 256], "kind": "train", "config": {"seq_len": 500}},
     {"max_train_seconds": 5.0}, "values", "the point hidden_size = 256 \\(seed 0\\) is over .* training this setting"),
    ({"key": "seq_len", "values": [10], "config": {"gainz": 2}}, {}, "gainz", "unknown config key 'gainz'"),
]


@pytest.mark.parametrize("body,settings,field,message", REFUSED, ids=[r[3][:40] for r in REFUSED])
def test_a_bad_sweep_is_refused_up_front_naming_the_field_over_http_and_the_socket(body, settings, field, message):
    with TestClient(create_app(Settings(max_concurrent=1, **settings))) as client:
        r = client.post("/api/sweep", json=body)
        assert r.status_code == 422 and r.json()["field"] == field
        assert re.search(message, r.json()["message"]), r.json()["message"]
        with client.websocket_connect("/ws") as ws:
            ws.send_text(json.dumps({"type": "sweep", "sweep": body}))
            frame, _ = receive_frame(ws)
        assert frame["type"] == "error" and frame["run"] == 1 and frame["field"] == field
        assert client.app.state.hub.scheduler.computations == 0


def test_a_body_that_is_not_a_sweep_object_is_a_400(client):
    assert client.post("/api/sweep", content=b"[1, 2]").status_code == 400
    assert client.post("/api/sweep", content=b"{").status_code == 400


def test_the_sweep_page_boots_with_its_links_sweep_or_the_default_one_with_a_notice(client):
    r = client.get("/sweep?hidden_size=8&key=gain&values=0.5,2&over=nonlinearity:tanh,relu&seeds=1,2")
    boot = json.loads(re.search(r'id="gfl-boot">(.*?)</script>', r.text, re.S).group(1))
    assert boot["sweep"] == {"config": {**boot["config"], "seed": 0}, "key": "gain", "values": [0.5, 2.0],
                             "over": {"nonlinearity": ["tanh", "relu"]}, "seeds": [1, 2], "kind": "trace"}
    assert boot["query"] == ("v=1&hidden_size=8&key=gain&values=0.5%2C2.0&over=nonlinearity%3Atanh%2Crelu&seeds=1%2C2"
                             "&kind=trace")
    assert boot["notices"] == [] and boot["base_query"] == "v=1&hidden_size=8"
    bad = client.get("/sweep?key=seq_len&values=10,0")
    boot = json.loads(re.search(r'id="gfl-boot">(.*?)</script>', bad.text, re.S).group(1))
    assert bad.status_code == 200 and boot["sweep"]["values"] == [10, 20, 40, 80, 160]
    assert boot["notices"][0]["field"] == "values" and "the default sweep is shown" in boot["notices"][0]["message"]
    assert 'data-field="values"' in bad.text
