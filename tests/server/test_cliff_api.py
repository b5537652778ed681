"""GET /api/cliff and GET /cliff: the engine's numbers as strict JSON, bad keys named, the page's boot data."""

from __future__ import annotations

import json
import math
import re

import pytest

from engine.lab import CLIFF_FIELDS, CliffConfig, descend
from engine.lab.cliff import loss_grid
from server.wire import loads_strict
from server.wire.encoding import from_wire

pytestmark = pytest.mark.usefixtures("lessons_measured")  # the pages read every lesson's document


def boot_data(text: str) -> dict:
    m = re.search(r'<script type="application/json" id="gfl-boot">(.*?)</script>', text, re.S)
    assert m, "no gfl-boot island on the page"
    return json.loads(m.group(1))


def test_the_api_answers_the_engine_numbers_for_the_link(client):
    r = client.get("/api/cliff", params={"T": "30", "w0": "5", "b0": "-2.4", "lr": "1", "resolution": "15"})
    assert r.status_code == 200 and r.headers["content-type"] == "application/json"
    body = from_wire(loads_strict(r.content))
    cfg = CliffConfig(T=30, w0=5.0, b0=-2.4, lr=1.0, resolution=15)
    assert body["config"] == cfg.to_dict()
    grid = loss_grid(cfg)
    assert body["grid"]["w"] == grid["w"].tolist() and body["grid"]["b"] == grid["b"].tolist()
    assert body["grid"]["loss"] == grid["loss"].tolist()
    for name, path in descend(cfg).items():
        assert body["paths"][name] == path.to_dict()
    assert [f["name"] for f in body["fields"]] == [f.name for f in CLIFF_FIELDS]
    assert body["link_version"] == 1


def test_non_finite_numbers_travel_as_strings_in_valid_json(client):
    # lr 100 on the linear readout: the plain path overflows float64 and stops at an infinite loss.
    r = client.get("/api/cliff", params={"readout": "linear", "T": "100", "w0": "20", "b0": "20", "lr": "100",
                                         "steps": "200", "resolution": "3"})  # fmt: skip
    assert r.status_code == 200
    raw = loads_strict(r.content)  # NaN / Infinity tokens would raise here
    plain = raw["paths"]["plain"]
    assert plain["stopped_at"] is not None
    assert any(v in ("inf", "nan") for v in plain["loss"] + plain["grad_norm"])
    assert not math.isfinite(from_wire(plain["loss"])[-1]) or not math.isfinite(from_wire(plain["grad_norm"])[-1])


@pytest.mark.parametrize(
    "params, field, message",
    [({"T": "0"}, "T", "T must be an integer from 1 to 100; got '0'"),
     ({"resolution": "1000"}, "resolution", "resolution must be an integer from 2 to 201"),
     ({"lr": "nan"}, "lr", "lr must be a number greater than 0 to 100"),
     ({"readout": "tanh"}, "readout", "readout must be one of 'sigmoid', 'linear'"),
     ({"b_min": "2", "b_max": "1"}, "b_max", "b_max must be greater than b_min (2)"),
     ({"colour": "red"}, "colour", "unknown key 'colour'")],
)  # fmt: skip
def test_a_bad_key_is_a_422_naming_it_and_its_range(client, params, field, message):
    r = client.get("/api/cliff", params=params)
    assert r.status_code == 422
    body = r.json()
    assert body["field"] == field and message in body["message"]


def test_the_table_is_described_as_the_labs_is_with_its_rules(client):
    lab, table = client.get("/api/config").json(), client.get("/api/cliff/config").json()
    assert table["fields"] == [f.describe() for f in CLIFF_FIELDS] and set(lab) - {"views", "tasks"} <= set(table)
    assert table["link_version"] == lab["link_version"]
    assert table["page_keys"] == {"v": "version", "lesson": "lesson"}  # the lab's way of writing each
    assert {k: lab["page_keys"][k] for k in table["page_keys"]} == table["page_keys"]
    # The rule each key cannot state alone: the grid's edges in order, as CliffConfig refuses them.
    assert [(r["kind"], r["field"], r["than"]) for r in table["rules"]] == [("greater", "w_max", "w_min"),
                                                                             ("greater", "b_max", "b_min")]
    for rule in table["rules"]:
        r = client.get("/api/cliff", params={rule["than"]: "3", rule["field"]: "3"})
        assert r.status_code == 422 and r.json()["field"] == rule["field"]


def test_the_openapi_document_states_the_rules_no_key_states_alone(client):
    """A setting whose keys are each within range may still be refused: the document says which, as the table does."""
    op = client.get("/openapi.json").json()["paths"]["/api/cliff"]["get"]
    rules = client.get("/api/cliff/config").json()["rules"]
    assert op["x-rules"] == rules
    assert all(f"{r['field']} > {r['than']}" in op["description"] for r in rules)
    params = {p["name"]: p for p in op["parameters"]}
    assert all(r["than"] in params[r["field"]]["description"] for r in rules)


def test_the_page_boots_with_the_table_and_the_link(client):
    r = client.get("/cliff?v=1&T=80&clip_at=0.25")
    assert r.status_code == 200
    boot = boot_data(r.text)
    assert {k: v for k, v in boot.items() if k not in ("config", "notices")} == client.get("/api/cliff/config").json()
    assert boot["config"] == CliffConfig(T=80, clip_at=0.25).to_dict() and boot["notices"] == []
    version = client.app.state.static_tree.version
    assert f'<script type="module" src="/static/{version}/js/cliff.js"></script>' in r.text
    assert "<script>" not in r.text  # the CSP allows no inline script: the island is data only


def test_a_bad_link_key_on_the_page_is_a_notice_not_an_error(client):
    r = client.get("/cliff?T=500&w_min=9&w_max=3&shape=x&lr=0.1")
    assert r.status_code == 200
    boot = boot_data(r.text)
    assert {n["field"] for n in boot["notices"]} == {"T", "w_max", "shape"}
    assert boot["config"] == CliffConfig(lr=0.1).to_dict()  # the rest of the link still applies
    assert "Link: T must be an integer from 1 to 100; got &#39;500&#39;" in r.text


def test_both_axes_inverted_take_both_default_ranges_with_a_notice_each(client):
    r = client.get("/cliff?w_max=0&b_max=-10&T=20")
    assert r.status_code == 200
    boot = boot_data(r.text)
    assert [n["field"] for n in boot["notices"]] == ["w_max", "b_max"]
    assert boot["config"] == CliffConfig(T=20).to_dict()


def test_a_lesson_of_another_page_is_a_notice(client):
    r = client.get("/cliff?lesson=vanishing-gradients")
    assert r.status_code == 200 and 'id="lesson"' not in r.text
    assert "no lesson &#39;vanishing-gradients&#39; on this page" in r.text


def test_a_cliff_lesson_link_opens_the_cliff_page_with_its_panel(client):
    from markupsafe import escape

    from engine.lessons import LESSONS, lesson_config, try_config
    from server.routes.lessons import lesson_documents

    docs = lesson_documents()
    cliff_lessons = [lesson for lesson in LESSONS if lesson.view == "cliff"]
    assert cliff_lessons
    for lesson in cliff_lessons:
        doc = docs[lesson.id]
        assert doc["link"].startswith("/cliff?") and doc["view"] == "cliff"
        text = client.get(doc["link"]).text
        assert boot_data(text)["config"] == lesson_config(lesson).to_dict()
        for key in ("title", "question", "answer", "equation"):
            assert str(escape(doc[key])) in text, key
        for i, t in enumerate(doc["tries"]):
            assert t["link"].startswith("/cliff?") and f'data-key="{t["key"]}"' in text
            assert boot_data(client.get(t["link"]).text)["config"] == try_config(lesson, i).to_dict()
        # The syllabus walks through it, and the main page's picker and the lessons index link to it.
        ids = [le.id for le in LESSONS]
        k = ids.index(lesson.id)
        assert 'rel="prev"' in text and f"lesson={ids[k - 1]}" in text and f"lesson={ids[k + 1]}" in text
        assert f'value="{escape(doc["link"])}"' in client.get("/").text
        assert f'href="{escape(doc["link"])}"' in client.get("/lessons").text
