"""The app against its own OpenAPI document: schemathesis, every check, on every documented operation.

The fuzzer sends what the document says is valid (and what it says is not) and fails on any status,
header, content type or body the document does not promise, and on a schema-valid request refused
(every check at its defaults, as ``schemathesis run --checks all``).  A rule JSON Schema cannot state
(the work cap, a product of five keys; the cliff grid's edges in order; the JSON cap, x-max-json-values)
the document states in ``x-rules`` and words: a schema-valid case that breaks one is not sent, judged by
this file's own reading of ``x-rules``, and an uploaded file's contents (a torch.save'd state_dict, a CSV)
are a real file's.  The app is the real one with the real engine; a low ``max_json_values`` refuses big
traces (the fuzzer likes the largest seq_len) so the run stays short.
"""

from __future__ import annotations

import io
import math

import jsonschema_rs  # schemathesis's own JSON Schema validator
import pytest
import schemathesis
import torch
from hypothesis import HealthCheck, settings
from torch import nn

from engine.config import FIELDS, Config, ConfigError
from server.app import create_app
from server.frames import json_value_count
from server.openapi import document
from server.settings import Settings

app = create_app(Settings(max_concurrent=1, max_json_values=20_000))
DOCUMENT = document(app)
MULTIPART = jsonschema_rs.validator_for(
    DOCUMENT["paths"]["/api/trace"]["post"]["requestBody"]["content"]["multipart/form-data"]["schema"])
CONFIG = schemathesis.Config.from_dict({"checks": {"enabled": True}, "generation": {"mode": "all"}})
schema = schemathesis.openapi.from_asgi("/openapi.json", app, config=CONFIG)

# The files of a positive multipart case: a GRU of one input and 2 units, and a series longer than any seq_len.
_buffer = io.BytesIO()
torch.save(nn.GRU(1, 2).state_dict(), _buffer)
MODEL_FILE = _buffer.getvalue()
SERIES_FILE = "\n".join(f"{math.sin(t / 7):.6f}" for t in range(2500)).encode()
FILE_SHAPE = {"cell": "gru", "hidden_size": 2, "num_layers": 1, "bidirectional": False}


def breaks_a_rule(rules: list[dict], values: dict) -> bool:
    """Whether ``values`` (every key) break one of the document's ``x-rules``, read as the document words them."""
    v = dict(values)
    for r in rules:
        if r["kind"] == "pinned":
            applies = all(v[k] in vs for k, vs in r["applies"].items())
            if not applies or any(v[k] in vs for k, vs in r["not_applies"].items()):
                v[r["field"]] = r["value"]
    for r in rules:
        if r["kind"] == "choices" and all(v[k] in vs for k, vs in r["when"].items()) and v[r["field"]] not in r[
                "choices"]:
            return True
        if r["kind"] == "work_cap":
            named = {"span": v["seq_len"] * (2 if v["arch"] in r["double_span"] else 1),
                     "D": 2 if v["bidirectional"] else 1}
            if math.prod(named.get(k, v.get(k)) for k in r["product"]) > r["max"]:
                return True
        if r["kind"] == "greater" and not v[r["field"]] > v[r["than"]]:
            return True
    return False


@schema.hook("map_case")
def real_files(ctx, case):
    """A positive multipart case carries real files: the document describes their contents in words only.

    The parts are replaced in place: schemathesis cannot re-check a body holding bytes, and would count a
    replaced body as schema-violating.
    """
    if case.meta is not None and case.meta.generation.mode.is_positive and case.media_type == "multipart/form-data":
        binary = type(case.body["model"])  # schemathesis's own wrapper of bytes
        case.body.pop("column", None)
        case.body["model"] = binary(MODEL_FILE)
        if "series" in case.body:
            case.body["series"] = binary(SERIES_FILE)
    return case


@schema.hook("filter_case")
def within_the_documented_rules(ctx, case):
    """Skip a positive case that breaks a rule the document states beside its JSON Schema (x-rules, the JSON cap)."""
    if case.meta is None or not case.meta.generation.mode.is_positive:
        return True
    operation = DOCUMENT["paths"][case.path][case.method.lower()]
    if case.path == "/api/cliff":
        defaults = {p["name"]: p["schema"]["default"] for p in operation["parameters"]}
        try:  # a query value may come as its text
            given = {k: v if k == "readout" else float(v) for k, v in (case.query or {}).items()}
        except (TypeError, ValueError):
            return True
        return not breaks_a_rule(operation["x-rules"], {**defaults, **given})
    if case.path != "/api/trace":
        return True
    multipart = case.media_type == "multipart/form-data"
    if multipart and not MULTIPART.is_valid({k: v if k == "config" else "file" for k, v in case.body.items()}):
        return False  # schemathesis builds a multipart body part by part, past the body's own anyOf
    given = case.body["config"] if multipart else case.body
    if breaks_a_rule(operation["x-rules"], {**{f.name: f.default for f in FIELDS}, **given}):
        return False
    try:
        config = Config.from_dict({**given, **(FILE_SHAPE if multipart else {})})
    except ConfigError:
        return True  # the rules above allow it: the server must too, so the case is sent
    return json_value_count(config) <= operation["x-max-json-values"]


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
    special = {("post", "/api/trace"), ("get", "/api/script"), ("get", "/api/cliff")}
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
    import random

    operation = DOCUMENT["paths"]["/api/trace"]["post"]
    body = jsonschema_rs.validator_for(operation["requestBody"]["content"]["application/json"]["schema"])
    rng = random.Random(23)
    defaults = {f.name: f.default for f in FIELDS}
    refused = 0
    for _ in range(400):
        values = {f.name: rng.choice(f.choices) if f.kind == "choice" else rng.random() < 0.5 if f.kind == "bool"
                  else rng.randint(int(f.low) + f.low_open, int(f.high)) if f.kind == "int"
                  else rng.uniform(f.low, f.high) or f.high for f in FIELDS if rng.random() < 0.6}  # fmt: skip
        if rng.random() < 0.3:  # a big model, near the work cap
            values.update(seq_len=rng.randint(500, 2000), hidden_size=rng.randint(64, 256),
                          batch_size=rng.randint(1, 256))
        documented = body.is_valid(values) and not breaks_a_rule(operation["x-rules"], {**defaults, **values})
        try:
            Config.from_dict(values)
            enforced = True
        except ConfigError:
            enforced = False
        assert documented == enforced, values
        refused += not enforced
    assert 40 < refused < 360  # both answers were tried
