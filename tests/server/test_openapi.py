"""The app against its own OpenAPI document: schemathesis, every check, on every documented operation.

The fuzzer sends what the document says is valid (and what it says is not) and fails on any status,
header, content type or body the document does not promise, and on a schema-valid request refused:
every check at its defaults, as ``schemathesis run --checks all``, with the hooks of
tests/server/schemathesis_hooks.py (the rules the document states beside its JSON Schema; real files in
an upload).  The app is the real one with the real engine; a low ``max_json_values`` refuses big traces
(the fuzzer likes the largest seq_len), and a low ``max_sweep_seconds`` the longest sweeps, so the run stays short.
"""

from __future__ import annotations

import random

import jsonschema_rs  # schemathesis's own JSON Schema validator
import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from engine.config import FIELDS, Config, ConfigError
from server.app import create_app
from server.openapi import document
from server.settings import Settings
from tests.server.schemathesis_hooks import TRACE_PATH, breaks_a_rule
from tests.server.settings_space import random_setting

app = create_app(Settings(max_concurrent=1, max_json_values=20_000, max_sweep_seconds=2.0,
                          open_trace=str(TRACE_PATH)))
DOCUMENT = document(app)
CONFIG = schemathesis.Config.from_dict({"checks": {"enabled": True}, "generation": {"mode": "all"}})
schema = schemathesis.openapi.from_asgi("/openapi.json", app, config=CONFIG)


@pytest.fixture(scope="module", autouse=True)
def parse_workers_started():
    """The parse workers' forkserver starts before the first case, not within a request's 10 s; and only in a worker
    that runs these tests, not in every one that collects them."""
    app.state.hub.uploads.pool.warm()


@schema.parametrize()
@pytest.mark.timeout(180)
# Derandomized: the same examples every run, so the run's length does not depend on luck.
@settings(max_examples=50, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
def test_every_operation_keeps_to_the_document(case):
    case.call_and_validate()


def test_the_body_schema_is_the_config_table(client):
    """Each key's schema admits exactly what Field.check admits at its edges (the engine is the reference)."""
    body = client.get("/openapi.json").json()["paths"]["/api/trace"]["post"]["requestBody"]
    described = body["content"]["application/json"]["schema"]
    assert described["additionalProperties"] is False
    assert list(described["properties"]) == [f.name for f in FIELDS]
    for f in FIELDS:
        prop = described["properties"][f.name]
        assert prop["default"] == f.default and prop["description"].startswith(f.description)
        if f.kind == "choice":
            assert prop == {**prop, "type": "string", "enum": list(f.choices)}
            for choice in prop["enum"]:
                f.check(choice)
            with pytest.raises(ConfigError):
                f.check(prop["enum"][0] + "x")
            continue
        if f.kind == "bool":
            assert prop["type"] == "boolean"
            continue
        assert prop["type"] == {"int": "integer", "float": "number"}[f.kind]
        low = prop.get("minimum", prop.get("exclusiveMinimum"))
        f.check(prop["maximum"])
        with pytest.raises(ConfigError):
            f.check(prop["maximum"] + 1)
        if "exclusiveMinimum" in prop:
            with pytest.raises(ConfigError):
                f.check(low)
        else:
            f.check(low)
            with pytest.raises(ConfigError):
                f.check(low - 1)


def test_every_route_says_what_it_answers(client):
    paths = client.get("/openapi.json").json()["paths"]
    statuses = {(m, p): sorted(op["responses"]) for p, ops in paths.items() for m, op in ops.items()}
    assert statuses[("post", "/api/trace")] == ["200", "400", "413", "422", "503"]
    assert paths["/api/trace"]["post"]["responses"]["503"]["headers"]["Retry-After"]["required"] is True
    assert statuses[("get", "/api/script")] == ["200", "400", "422"]
    assert list(paths["/api/script"]["get"]["responses"]["200"]["content"]) == ["text/x-python"]
    assert statuses[("get", "/api/cliff")] == ["200", "400", "422"]
    assert statuses[("post", "/api/trace-file")] == ["200", "413", "422", "503"]
    assert statuses[("get", "/api/trace-file/{token}")] == ["200", "404", "422", "503"]
    assert statuses[("post", "/api/rooms")] == ["201", "503"]
    assert statuses[("post", "/api/sweep")] == ["200", "400", "413", "422", "503"]
    special = {("post", "/api/trace"), ("post", "/api/sweep"), ("get", "/api/script"), ("get", "/api/cliff"),
               ("post", "/api/trace-file"), ("get", "/api/trace-file/{token}"), ("post", "/api/rooms")}
    assert all(s == ["200"] for k, s in statuses.items() if k not in special)


def test_a_route_missing_from_the_table_is_an_error():
    extra = create_app(Settings(max_concurrent=1))

    @extra.get("/undocumented")
    async def undocumented() -> dict:
        return {}

    with pytest.raises(KeyError, match="GET /undocumented"):
        document(extra)


def test_the_documented_rules_are_the_ones_the_server_applies():
    """Over seeded settings valid key by key, the body schema plus x-rules refuse exactly what Config.from_dict does."""
    operation = DOCUMENT["paths"]["/api/trace"]["post"]
    body = jsonschema_rs.validator_for(operation["requestBody"]["content"]["application/json"]["schema"])
    rng = random.Random(23)
    defaults = {f.name: f.default for f in FIELDS}
    answers = []
    for _ in range(400):
        values = random_setting(FIELDS, rng)
        documented = body.is_valid(values) and not breaks_a_rule(operation["x-rules"], {**defaults, **values})
        try:
            Config.from_dict(values)
            enforced = True
        except ConfigError:
            enforced = False
        assert documented == enforced, values
        answers.append(enforced)
    assert 40 < answers.count(False) < 360  # both answers were tried
