"""The app against its own OpenAPI document: schemathesis, every check, on every documented operation.

The fuzzer sends what the document says is valid (and what it says is not) and fails on any status,
header, content type or body the document does not promise.  The app is the real one with the real
engine; a low ``max_json_values`` refuses big traces (the fuzzer likes the largest seq_len) so the
run stays short.
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from engine.config import FIELDS, ConfigError
from server.app import create_app
from server.openapi import document
from server.settings import Settings

app = create_app(Settings(max_concurrent=1, max_json_values=20_000))

CONFIG = schemathesis.Config.from_dict(
    {
        "checks": {
            "enabled": True,
            # A config can be valid key by key and still be refused as a whole: the work cap ties
            # seq_len × batch_size × hidden_size × layers × directions together, and the JSON cap
            # (max_json_values) does too.  JSON Schema cannot say a product is bounded, so a
            # key-by-key valid body may get the documented 422.
            "positive_data_acceptance": {"expected-statuses": ["2xx", "422"]},
        },
        "generation": {"mode": "all"},
    }
)
schema = schemathesis.openapi.from_asgi("/openapi.json", app, config=CONFIG)


@schema.parametrize()
@pytest.mark.timeout(120)
# Derandomized: the same examples every run, so the run's length does not depend on luck (a few
# valid configs are large traces, computed before the JSON cap refuses them).
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
    assert statuses[("get", "/api/cliff")] == ["200", "422"]
    special = {("post", "/api/trace"), ("get", "/api/script"), ("get", "/api/cliff")}
    assert all(s == ["200"] for k, s in statuses.items() if k not in special)


def test_a_route_missing_from_the_table_is_an_error():
    extra = create_app(Settings(max_concurrent=1))

    @extra.get("/undocumented")
    async def undocumented() -> dict:
        return {}

    with pytest.raises(KeyError, match="GET /undocumented"):
        document(extra)
