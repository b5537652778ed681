"""Schemathesis hooks for this app's OpenAPI document: the rules it states beside its JSON Schema, real files.

JSON Schema cannot state every rule the server enforces: the work cap is a product of five keys, the
cliff's grid edges are in order (w_max > w_min), a trace is sent as JSON only up to ``x-max-json-values``
values.  The document states them in words and in ``x-rules``; these hooks skip a positive case that breaks
one (judged by this file's own reading of ``x-rules``), and give a positive upload real files (a saved trace file
too, also the one the app under test opened) (the document
describes a file's contents in words only).  Negative cases are sent as generated.

tests/server/test_openapi.py imports this module; from the command line::

    SCHEMATHESIS_HOOKS=tests.server.schemathesis_hooks schemathesis run --checks all http://HOST/openapi.json
"""

from __future__ import annotations

import io
import math
import tempfile
from pathlib import Path

import jsonschema_rs  # schemathesis's own JSON Schema validator
import schemathesis
import torch
from torch import nn

from engine.config import FIELDS, Config, ConfigError
from server.uploads.trace_file import file_token
from server.wire import json_value_count

# The files of a positive multipart case: a GRU of one input and 2 units, and a series longer than any seq_len.
_buffer = io.BytesIO()
torch.save(nn.GRU(1, 2).state_dict(), _buffer)
MODEL_FILE = _buffer.getvalue()
SERIES_FILE = "\n".join(f"{math.sin(t / 7):.6f}" for t in range(2500)).encode()
FILE_SHAPE = {"cell": "gru", "hidden_size": 2, "num_layers": 1, "bidirectional": False}
MULTIPART = "multipart/form-data"


def _trace_file() -> bytes:
    """A saved trace file (engine.save_traces) of a GRU over 3 steps."""
    from engine import trace_submodules
    from engine.tracing.trace_file import encode_traces

    torch.manual_seed(0)
    gru = nn.GRU(1, 2)
    x = torch.randn(3, 1, 1)
    return encode_traces(trace_submodules(gru, lambda: gru(x)[0].sum()))


TRACE_FILE = _trace_file()
# The app under test is started with it (--open): a positive case's token names it.
TRACE_PATH = Path(tempfile.mkdtemp(prefix="gfl-openapi-")) / "opened.gfltrace"
TRACE_PATH.write_bytes(TRACE_FILE)


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


def _positive(case) -> bool:
    return case.meta is not None and case.meta.generation.mode.is_positive


@schemathesis.hook("map_case")
def real_files(ctx, case):
    """A positive multipart case carries real files: the document describes their contents in words only.

    The parts are replaced in place: schemathesis cannot re-check a body holding bytes, and would count a
    replaced body as schema-violating.
    """
    if _positive(case) and case.media_type == MULTIPART:
        binary = type(case.body["model"])  # schemathesis's own wrapper of bytes
        case.body.pop("column", None)
        case.body["model"] = binary(MODEL_FILE)
        if "series" in case.body:
            case.body["series"] = binary(SERIES_FILE)
    if _positive(case) and case.path == "/api/trace-file":
        case.body = type(case.body)(TRACE_FILE)
    if _positive(case) and case.path == "/api/trace-file/{token}":
        case.path_parameters = {"token": file_token(TRACE_FILE)}
    return case


@schemathesis.hook("filter_case")
def within_the_documented_rules(ctx, case):
    """Skip a positive case that breaks a rule the document states beside its JSON Schema (x-rules, the JSON cap)."""
    if not _positive(case):
        return True
    operation = ctx.operation.definition.raw
    if case.path == "/api/cliff":
        defaults = {p["name"]: p["schema"]["default"] for p in operation["parameters"]}
        try:  # a query value may come as its text
            given = {k: v if k == "readout" else float(v) for k, v in (case.query or {}).items()}
        except (TypeError, ValueError):
            return True
        return not breaks_a_rule(operation["x-rules"], {**defaults, **given})
    if case.path != "/api/trace":
        return True
    if case.media_type == MULTIPART:
        whole = jsonschema_rs.validator_for(operation["requestBody"]["content"][MULTIPART]["schema"])
        if not whole.is_valid({k: v if k == "config" else "file" for k, v in case.body.items()}):
            return False  # schemathesis builds a multipart body part by part, past the body's own anyOf
    given = case.body["config"] if case.media_type == MULTIPART else case.body
    if breaks_a_rule(operation["x-rules"], {**{f.name: f.default for f in FIELDS}, **given}):
        return False
    try:
        config = Config.from_dict({**given, **(FILE_SHAPE if case.media_type == MULTIPART else {})})
    except ConfigError:
        return True  # the rules above allow it: the server must too, so the case is sent
    return json_value_count(config) <= operation["x-max-json-values"]
