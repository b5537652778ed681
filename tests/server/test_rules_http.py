"""Issue 23 over HTTP and /ws: one reader of numbers and keys on every route, rules counted once and described.

Each test is one user-visible bug of the issue: a link that answered 500, text one route took and another
refused, a key given twice whose last value won, a rule the API did not state, a rule counted twice.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import torch
from torch import nn

from engine.config import Config, describe_rules
from engine.config.space import MAX_TRACE_CELLS, SEQ2SEQ_TASKS
from server.scheduling.cost import trace_seconds
from tests.server.ws_helpers import SMALL, receive_frame

ENCDEC = {"arch": "encoder-decoder", "task": "copy"}
PROTOCOL = Path(__file__).resolve().parents[2] / "docs" / "protocol.md"


@pytest.mark.parametrize("query, batch_size", [
    ("arch=encoder-decoder&task=reverse&seq_len=2000&hidden_size=256&num_layers=4&bidirectional=true&cell=lstm", 1),
    ("arch=encoder-decoder&task=copy&seq_len=2000&batch_size=256", 125),
    ("arch=encoder-decoder&task=copy&seq_len=1000&batch_size=256", 250),
])  # fmt: skip
def test_an_encoder_decoder_link_over_the_work_cap_opens_with_the_largest_batch_that_fits(client, query, batch_size):
    r = client.get("/?" + query)
    assert r.status_code == 200
    config = r.context["boot"]["config"]
    assert config["batch_size"] == batch_size and Config.from_dict(config).trace_cells <= MAX_TRACE_CELLS
    assert [n["field"] for n in r.context["notices"]] == ["batch_size"]


def test_the_script_route_blames_the_work_cap_as_counted(client):
    r = client.get("/api/script?arch=encoder-decoder&task=copy&seq_len=1000&batch_size=256")
    assert r.status_code == 422 and r.json()["field"] == "batch_size"
    assert "2·seq_len 2000 × batch_size 256" in r.json()["message"] and "got 500" not in r.json()["message"]


def test_the_cliff_page_mends_both_inverted_axes(client):
    r = client.get("/cliff?w_max=0&b_max=-10")
    assert r.status_code == 200
    boot = r.context["boot"]
    assert (boot["config"]["w_min"], boot["config"]["w_max"], boot["config"]["b_min"], boot["config"]["b_max"]) == (
        1.0, 10.0, -5.0, 8.0)
    assert [n["field"] for n in boot["notices"]] == ["w_max", "b_max"]


@pytest.mark.parametrize("text", ["５０", "1_0", " 50 ", "٥٠"])
def test_every_link_reader_refuses_text_that_is_no_ascii_number(client, text):
    page = client.get("/", params={"seq_len": text})
    assert page.status_code == 200 and page.context["boot"]["config"]["seq_len"] == 50
    assert [n["field"] for n in page.context["notices"]] == ["seq_len"]
    script = client.get("/api/script", params={"seq_len": text})
    assert script.status_code == 422 and script.json()["field"] == "seq_len"
    api = client.get("/api/cliff", params={"T": text})
    assert api.status_code == 422 and api.json()["field"] == "T"
    cliff_page = client.get("/cliff", params={"T": text})
    assert cliff_page.context["boot"]["config"]["T"] == 50 and cliff_page.context["boot"]["notices"][0]["field"] == "T"


def test_a_key_given_twice_is_refused_naming_it_on_every_route(client):
    r = client.get("/api/cliff?T=10&T=20")
    assert r.status_code == 400
    assert r.json() == {"message": "key 'T' is given 2 times; give each key once", "field": "T"}
    body = b'{"seq_len": 10, "seq_len": 20}'
    r = client.post("/api/trace", content=body, headers={"content-type": "application/json"})
    assert r.status_code == 400 and r.json()["field"] == "seq_len" and "'seq_len' is given 2" in r.json()["message"]
    page = client.get("/?seq_len=10&seq_len=20&cell=lstm")
    assert page.context["boot"]["config"]["seq_len"] == 50 and page.context["boot"]["config"]["cell"] == "lstm"
    assert [n["field"] for n in page.context["notices"]] == ["seq_len"]
    cliff_page = client.get("/cliff?T=10&T=20")
    assert cliff_page.context["boot"]["config"]["T"] == 50
    with client.websocket_connect("/ws") as ws:
        ws.send_text('{"type": "run", "config": {"seq_len": 10, "seq_len": 20}}')
        frame, _ = receive_frame(ws)
        assert frame["type"] == "error" and frame["field"] == "seq_len" and "given 2 times" in frame["message"]


def test_the_api_config_states_the_rules_the_server_applies(client):
    body = client.get("/api/config").json()
    assert body["rules"] == describe_rules()
    tasks = next(r for r in body["rules"] if r["kind"] == "choices")
    assert tasks == {**tasks, "field": "task", "when": {"arch": ["encoder-decoder"]}, "choices": list(SEQ2SEQ_TASKS)}
    cap = next(r for r in body["rules"] if r["kind"] == "work_cap")
    assert cap["product"] == ["span", "batch_size", "hidden_size", "num_layers", "D"] and cap["max"] == MAX_TRACE_CELLS
    assert re.fullmatch(body["link_number_syntax"], "1e-06") and not re.fullmatch(body["link_number_syntax"], "５０")


def test_the_protocol_states_each_rule_as_enforced():
    text = " ".join(PROTOCOL.read_text(encoding="utf-8").split())
    for rule in describe_rules():
        assert rule["description"] in text, rule["description"]


def test_the_cost_estimate_counts_the_encoder_decoders_2T_steps():
    same = {"cell": "gru", "hidden_size": 64, "batch_size": 8, "task": "copy"}
    encdec = Config.from_dict({**same, "arch": "encoder-decoder", "seq_len": 300})
    assert trace_seconds(encdec) == trace_seconds(Config.from_dict({**same, "arch": "many-to-many", "seq_len": 600}))


def _saved(module) -> bytes:
    import io

    buf = io.BytesIO()
    torch.save(module.state_dict(), buf)
    return buf.getvalue()


SERIES = "\n".join(str(k % 7 + 0.5 * (k % 3)) for k in range(60)).encode()


def test_an_uploaded_series_under_the_encoder_decoder_is_refused_naming_arch(client):
    """It answered 500 (the decoder reads words, not values); schemathesis found it once the document said how."""
    config = {**SMALL, **ENCDEC}
    r = client.post("/api/trace", data={"config": json.dumps(config)},
                    files={"series": ("s.csv", SERIES, "text/csv"), "model": ("m.pt", _saved(nn.GRU(1, 2)))})
    assert r.status_code == 422 and r.json()["field"] == "arch"
    r = client.post("/api/trace", data={"config": json.dumps(config)}, files={"series": ("s.csv", SERIES, "text/csv")})
    assert r.status_code == 422 and r.json()["field"] == "arch"
    with client.websocket_connect("/ws") as ws:
        ws.send_json({"type": "series", "bytes": len(SERIES)})
        ws.send_bytes(SERIES)
        assert receive_frame(ws)[0]["type"] == "series_loaded"
        ws.send_json({"type": "run", "config": config})
        frame, _ = receive_frame(ws)
        assert frame["type"] == "error" and frame["field"] == "arch" and frame["run"] == 1
