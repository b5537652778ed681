"""POST /api/trace with an uploaded model: the config's own document, nothing cached, nothing on disk."""

from __future__ import annotations

import io
import json
import tempfile

import pytest
import torch
from fastapi.testclient import TestClient
from torch import nn

from engine import Config
from engine.data import get_task
from engine.models import build_model
from server.app import create_app
from server.settings import Settings
from tests.server.test_upload_files import Payload


def saved(state) -> bytes:
    buf = io.BytesIO()
    torch.save(state, buf)
    return buf.getvalue()


def post(client, config: dict, model: bytes):
    return client.post("/api/trace", data={"config": json.dumps(config)},
                       files={"model": ("model.pt", model, "application/octet-stream")})


@pytest.fixture
def fresh():
    with TestClient(create_app(Settings(max_concurrent=1, max_model_bytes=2_000_000))) as c:
        yield c


def without_timing(doc: dict) -> dict:
    doc = {**doc, "done": {k: v for k, v in doc["done"].items() if k != "elapsed_ms"}}
    doc.pop("model", None)
    return doc


@pytest.mark.parametrize("config", [
    {"task": "sine", "seq_len": 10, "batch_size": 3, "hidden_size": 6, "nonlinearity": "relu", "seed": 3},
    {"task": "copy", "cell": "lstm", "seq_len": 24, "batch_size": 2, "hidden_size": 5, "num_layers": 2,
     "bidirectional": True},
    {"task": "sentiment", "cell": "gru", "seq_len": 8, "batch_size": 2, "hidden_size": 4, "gain": 1.7},
])  # fmt: skip
def test_uploading_the_apps_own_weights_gives_the_configs_document(fresh, config):
    cfg = Config.from_dict(config)
    task = get_task(cfg.task)
    model = build_model(cfg, task.input_size, task.output_size)
    # The file alone says the shape: the config part gives only what the file cannot tell.
    part = {k: v for k, v in config.items() if k not in ("cell", "hidden_size", "num_layers", "bidirectional")}
    r = post(fresh, part, saved(model.state_dict()))
    assert r.status_code == 200, r.text
    got = r.json()
    assert got["model"]["prefix"] == "rnn" and got["model"]["head"] == "head"
    want = fresh.post("/api/trace", json=config).json()
    assert without_timing(got) == without_timing(want)


def test_an_upload_never_enters_the_shared_cache(fresh):
    cfg = {"task": "sine", "cell": "gru", "seq_len": 12, "batch_size": 2, "hidden_size": 4}
    torch.manual_seed(5)
    other = nn.GRU(1, 4)  # same shape as the config's model, other weights
    hub = fresh.app.state.hub
    up = post(fresh, cfg, saved(other.state_dict())).json()
    assert len(hub.sharing.memory) == 0 and hub.sharing.stats.misses == 0
    plain = fresh.post("/api/trace", json=cfg).json()
    assert plain["done"]["loss"] != up["done"]["loss"]  # the config's answer is not the upload's
    again = post(fresh, cfg, saved(other.state_dict())).json()
    assert again["done"]["loss"] == up["done"]["loss"]  # and the upload's is not the config's cached one
    assert len(hub.sharing.memory) == 1  # only the config-alone trace


def test_nothing_is_written_to_disk(fresh, monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("an upload must not touch a temporary file")

    for name in ("SpooledTemporaryFile", "TemporaryFile", "NamedTemporaryFile", "mkstemp"):
        monkeypatch.setattr(tempfile, name, refuse)
    big = saved(nn.LSTM(1, 256).state_dict())  # over 1 MiB: a form parser would spool it to disk
    assert len(big) > 1024 * 1024
    r = post(fresh, {"task": "sine", "seq_len": 4, "batch_size": 1}, big)
    assert r.status_code == 200, r.text
    assert r.json()["config"]["hidden_size"] == 256


def test_errors_a_user_sees(fresh, tmp_path):
    cfg = {"task": "sine", "seq_len": 5, "batch_size": 1}
    r = post(fresh, cfg, b"not a model at all")
    assert r.status_code == 422 and r.json()["field"] == "model"
    assert "not a file written by torch.save" in r.json()["message"]

    flag = tmp_path / "ran"
    r = post(fresh, cfg, saved({"x": Payload(str(flag))}))
    assert r.status_code == 422 and "names 'io'" in r.json()["message"] and r.json()["file"] == "model.pt"
    assert not flag.exists()

    r = post(fresh, cfg, saved(nn.RNN(1, 3).state_dict()))
    assert r.status_code == 422 and r.json()["field"] == "nonlinearity"

    state = nn.GRU(1, 3).state_dict()
    state["weight_hh_l0"] = torch.zeros(9, 4)
    r = post(fresh, cfg, saved(state))
    assert r.status_code == 422 and "weight_hh_l0 has shape (9, 4)" in r.json()["message"]

    r = post(fresh, {**cfg, "seq_len": 0}, saved(nn.GRU(1, 3).state_dict()))
    assert r.status_code == 422 and r.json()["field"] == "seq_len"

    r = fresh.post("/api/trace", files={"model": ("m.pt", saved(nn.GRU(1, 3).state_dict()))})
    assert r.status_code == 400 and r.json()["field"] == "config"

    r = fresh.post("/api/trace", data={"config": "{not json"}, files={"model": ("m.pt", b"x")})
    assert r.status_code == 422 and r.json()["field"] == "config"


def test_an_oversize_model_is_refused(fresh):
    big = saved(nn.LSTM(1, 256, num_layers=2).state_dict())
    assert len(big) > 2_000_000
    r = post(fresh, {"task": "sine"}, big)
    assert r.status_code == 413 and r.json()["field"] == "model"
    medium = saved(nn.LSTM(1, 200).state_dict())  # under the body cap, over the model cap
    with TestClient(create_app(Settings(max_concurrent=1, max_model_bytes=600_000))) as c:
        r = post(c, {"task": "sine", "seq_len": 4}, medium)
    assert r.status_code == 413 and "at most 600,000" in r.json()["message"]


def post_series(client, config: dict, csv: bytes, column: str | None = None, model: bytes | None = None):
    data = {"config": json.dumps(config), **({"column": column} if column is not None else {})}
    files = {"series": ("prices.csv", csv, "text/csv")}
    if model is not None:
        files["model"] = ("model.pt", model, "application/octet-stream")
    return client.post("/api/trace", data=data, files=files)


PRICES = ("day,price\n" + "".join(f"{k},{10 + (k % 7) * 0.5}\n" for k in range(60))).encode()


def test_a_series_is_traced_as_the_engine_traces_it(fresh):
    import numpy as np

    from engine.lab.experiment import trace_series
    from server.uploads import read_series

    cfg = {"cell": "lstm", "seq_len": 9, "batch_size": 3, "hidden_size": 4, "arch": "many-to-many"}
    r = post_series(fresh, cfg, PRICES, "price")
    assert r.status_code == 200, r.text
    doc = r.json()
    want = trace_series(Config.from_dict(cfg), read_series(PRICES, "price"))
    assert doc["done"]["loss"] == pytest.approx(want.loss, rel=1e-6)
    np.testing.assert_allclose(doc["backward"]["grad_h_norm"], want.grad_h_norm, rtol=1e-6)
    assert doc["series"]["name"] == "price" and doc["series"]["length"] == 60 and len(doc["series"]["values"]) == 60
    assert doc["windows"] == {"starts": list(want.windows), "seq_len": 9} and len(want.windows) == 3
    assert len(fresh.app.state.hub.sharing.memory) == 0

    both = post_series(fresh, {**cfg, "seq_len": 5}, PRICES, "price", saved(nn.GRU(1, 3).state_dict()))
    assert both.status_code == 200, both.text
    assert both.json()["config"]["cell"] == "gru" and both.json()["series"]["name"] == "price"


def test_a_bad_series_says_row_and_column(fresh):
    bad = b"day,price\n1,10\n2,ten\n3,12\n"
    r = post_series(fresh, {"seq_len": 2}, bad, "price")
    assert r.status_code == 422 and r.json()["field"] == "series"
    assert "row 3, column 'price'" in r.json()["message"]
    r = post_series(fresh, {"seq_len": 100}, PRICES, "price")
    assert r.status_code == 422 and r.json()["field"] == "seq_len" and "at most 59" in r.json()["message"]
    r = post_series(fresh, {"seq_len": 5}, PRICES)  # two columns, none chosen
    assert r.status_code == 422 and "choose one ('day', 'price')" in r.json()["message"]
    r = post_series(fresh, {"seq_len": 5}, PRICES, "price", saved(nn.GRU(3, 2).state_dict()))
    assert r.status_code == 422 and r.json()["field"] == "model" and "one input" in r.json()["message"]
