"""Every field's edges and a few hundred seeded random settings through every route that reads a setting: no 5xx.

Each field's choices, bounds and the values just past them (alone, and on settings where rules tie keys: the
encoder-decoder's 2·T steps, a model near the work cap), seeded random settings, and link text no reader takes
(other scripts' digits, '_', spaces, a key given twice).  A refusal is a 4xx whose message names its field; a
page (``/``, ``/cliff``) always opens, each notice naming its key, on a setting its own checks accept.

The point here is the status, not the numbers (tested against references elsewhere), so the trace and the
cliff are computed at a tiny size of the same setting: the route, its checks and its encoding are the real ones.
"""

from __future__ import annotations

import random
from dataclasses import replace
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient

from engine import trace_config
from engine.config import FIELD_BY_NAME, FIELDS, Config
from engine.lab import CLIFF_FIELD_BY_NAME, CLIFF_FIELDS, CliffConfig
from server.app import create_app
from server.routes import cliff as cliff_route
from server.settings import Settings
from tests.server.settings_space import edges, link_text, random_setting

# Settings each field's edges are tried on: the defaults, and where rules tie keys together.
BASES = (
    {},
    {"arch": "encoder-decoder", "task": "copy"},
    {"arch": "one-to-one"},
    {"cell": "lstm", "hidden_size": 256, "num_layers": 4, "bidirectional": True, "seq_len": 1000},
)
# Link text that is no number (Python's int() and float() take most of these); each on every numeric key.
NOT_NUMBERS = ("５０", "٥٠", "1_0", " 50", "50 ", "+50", "0x10", "1e999", "nan", "inf", "-", "", "1" * 5000)
SEED, RANDOM_SETTINGS = 23, 300


def tiny_trace(cfg: Config):
    """The setting's trace at a tiny size: same cell, arch, task, clipping; a few steps, units and sequences."""
    small = {"seq_len": min(cfg.seq_len, 4), "hidden_size": min(cfg.hidden_size, 3),
             "batch_size": min(cfg.batch_size, 2), "num_layers": min(cfg.num_layers, 2)}
    return trace_config(Config.from_dict({**cfg.to_dict(), **small}))


@pytest.fixture(scope="module")
def client():
    with TestClient(create_app(Settings(max_concurrent=1), tracer=tiny_trace)) as c:
        yield c


@pytest.fixture(scope="module", autouse=True)
def tiny_cliff():
    """The cliff computed at a tiny size of the same setting (the route's own cache and encoding kept)."""
    real = cliff_route.cliff
    cliff_route.cliff = lambda cfg: real(replace(cfg, T=min(cfg.T, 3), steps=min(cfg.steps, 2), resolution=2))
    cliff_route.cliff_json.cache_clear()
    yield
    cliff_route.cliff = real
    cliff_route.cliff_json.cache_clear()


def lab_settings() -> list[dict]:
    """Every field's edges on each base, then seeded random settings (JSON values, some not allowed)."""
    out = [{**base, f.name: value} for base in BASES for f in FIELDS for value, _ in edges(f)]
    rng = random.Random(SEED)
    for _ in range(RANDOM_SETTINGS):
        setting = random_setting(FIELDS, rng)
        if rng.random() < 0.3:  # the encoder-decoder, often with a task it takes
            setting.update(arch="encoder-decoder", **({"task": rng.choice(("copy", "reverse"))} if rng.random() < .8
                                                      else {}))  # fmt: skip
        out.append(setting)
    return out


def cliff_settings() -> list[dict]:
    out = [{f.name: value} for f in CLIFF_FIELDS for value, _ in edges(f)]
    rng = random.Random(SEED)
    return out + [random_setting(CLIFF_FIELDS, rng) for _ in range(RANDOM_SETTINGS)]


def as_link(setting: dict, by_name: dict) -> list[tuple[str, str]]:
    return [(k, link_text(by_name[k], v)) for k, v in setting.items()]


def bad_links(by_name: dict) -> list[list[tuple[str, str]]]:
    """Text no reader takes, on every numeric key; a key given twice; an unknown key."""
    numeric = [k for k, f in by_name.items() if f.kind in ("int", "float")]
    links = [[(k, text)] for k in numeric for text in NOT_NUMBERS]
    return [*links, *([(k, "1"), (k, "2")] for k in by_name), [("colour", "red")], [("x" * 3000, "1")]]


def names_its_field(field: str | None, message: str, sent: set[str]) -> bool:
    """Whether ``field`` is one of the keys sent (an echo of a long key may be cut short) and ``message`` names it."""
    return field is not None and any(k.startswith(field) for k in sent) and field[:30] in message


def check_refusal(r, sent: set[str]) -> None:
    """A 4xx names its field (a key of the request, or the body itself), and its message names that field."""
    assert 400 <= r.status_code < 500, (r.status_code, r.text[:300])
    body = r.json()
    assert names_its_field(body["field"], body["message"], sent | {"config"}) or body["field"] == "config", body


def check_page(notices: list[dict], sent: set[str]) -> None:
    for n in notices:
        assert names_its_field(n["field"], n["message"], sent), n


def lab_page(client, link):
    r = client.get("/?" + "&".join(f"{quote(k)}={quote(v)}" for k, v in link))
    assert r.status_code == 200, (link, r.status_code)
    config = r.context["boot"]["config"]  # the page's boot data: the server's reading of the link
    assert Config.from_dict(config).to_dict() == config  # a setting its checks accept
    check_page(r.context["notices"], {k for k, _ in link} | {"batch_size", "arch"})  # the rules' fallbacks


def trace_post(client, setting):
    r = client.post("/api/trace", json=setting)
    if r.status_code != 200:
        check_refusal(r, set(setting) | {"batch_size", "task", "seq_len"})


def cliff_api(client, link):
    r = client.get("/api/cliff?" + "&".join(f"{quote(k)}={quote(v)}" for k, v in link))
    if r.status_code != 200:
        check_refusal(r, {k for k, _ in link} | {"w_max", "b_max"})  # edges out of order name the upper one


def cliff_page(client, link):
    r = client.get("/cliff?" + "&".join(f"{quote(k)}={quote(v)}" for k, v in link))
    assert r.status_code == 200, (link, r.status_code)
    config = r.context["boot"]["config"]
    assert CliffConfig(**config).to_dict() == config
    check_page(r.context["boot"]["notices"], {k for k, _ in link} | {"w_max", "b_max"})


def script_get(client, link):
    r = client.get("/api/script?" + "&".join(f"{quote(k)}={quote(v)}" for k, v in link))
    if r.status_code == 200:
        assert r.headers["content-type"].startswith("text/x-python")
    else:
        check_refusal(r, {k for k, _ in link} | {"batch_size", "task"})  # the work cap and the arch's tasks


# Every route that reads the lab's setting, and how a setting is sent to it.
LAB_ROUTES = {"GET /": (lab_page, "link"), "POST /api/trace": (trace_post, "json"),
              "GET /api/script": (script_get, "link")}
CLIFF_ROUTES = {"GET /api/cliff": cliff_api, "GET /cliff": cliff_page}


@pytest.mark.parametrize("route", LAB_ROUTES)
def test_every_lab_setting_is_answered_without_a_server_error(client, route):
    send, form = LAB_ROUTES[route]
    settings = lab_settings()
    if form == "json":
        for setting in settings:
            send(client, setting)
        return
    for setting in settings:
        send(client, as_link(setting, FIELD_BY_NAME))
    for link in bad_links(FIELD_BY_NAME):
        send(client, link)


@pytest.mark.parametrize("route", CLIFF_ROUTES)
def test_every_cliff_setting_is_answered_without_a_server_error(client, route):
    for setting in cliff_settings():
        CLIFF_ROUTES[route](client, as_link(setting, CLIFF_FIELD_BY_NAME))
    for link in bad_links(CLIFF_FIELD_BY_NAME):
        CLIFF_ROUTES[route](client, link)
