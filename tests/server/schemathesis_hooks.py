"""Schemathesis hooks for this app's OpenAPI document: the rules it states beside its JSON Schema, real files.

JSON Schema cannot state every rule the server enforces: the work cap is a product of five keys, the
cliff's grid edges are in order (w_max > w_min), a trace is sent as JSON only up to ``x-max-json-values``
values, a sweep's values are its key's.  The document states them in words and in ``x-rules``; these hooks skip a
positive case that breaks one (judged by this file's own reading of ``x-rules``; a sweep's by the engine's), and
give a positive trace-file upload a real saved trace file (the document describes a file's contents in words
only), or the token of the one the app under test opened.
Positive multipart uploads are not sent: schemathesis re-checks a case whose parts a hook replaces, finds real
files where it generated strings, and judges the case negative, so a server accepting a real file would fail it
(every positive case here was being sent as negative).  Uploads of real files are tested in
tests/server/test_upload_*.py.  Negative cases are sent as generated.

tests/server/test_openapi.py imports this module; from the command line::

    SCHEMATHESIS_HOOKS=tests.server.schemathesis_hooks schemathesis run --checks all http://HOST/openapi.json
"""

from __future__ import annotations

import math
import tempfile
from pathlib import Path

import schemathesis
import torch
from torch import nn

from engine.config import FIELDS, Config, ConfigError
from engine.lab import Sweep
from server.uploads.trace_file import file_token
from server.wire import json_value_count

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
        if r["kind"] == "most" and all(v[k] in vs for k, vs in r["when"].items()) and v[r["field"]] > r["max"]:
            return True
        if r["kind"] == "greater" and not v[r["field"]] > v[r["than"]]:
            return True
    return False


def _positive(case) -> bool:
    """A case schemathesis made to be valid in every part: a negative body can come from a positive generation
    mode (a coverage case that breaks one part), and replacing its parts with real files would make it valid."""
    meta = case.meta
    return (meta is not None and meta.generation.mode.is_positive
            and not any(c.mode.is_negative for c in meta.components.values()))


@schemathesis.hook("map_case")
def real_files(ctx, case):
    """A positive trace-file case carries a real saved trace file, or the opened file's token: the document
    describes a file's contents in words only."""
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
    if case.path == "/api/sweep":
        return _a_sweep_within_the_words(case.body)
    if case.path != "/api/trace":
        return True
    if case.media_type == MULTIPART:
        return False  # see the module's docstring
    given = case.body
    if breaks_a_rule(operation["x-rules"], {**{f.name: f.default for f in FIELDS}, **given}):
        return False
    try:
        config = Config.from_dict(given)
    except ConfigError:
        return True  # the rules above allow it: the server must too, so the case is sent
    return json_value_count(config) <= operation["x-max-json-values"]


def _a_sweep_within_the_words(body) -> bool:
    """A positive sweep keeps the rules the document states in words (each value one its key takes, at most its
    points, every point a setting within one request's limits, the sweep's time within the server's): judged by
    the engine's own reading of a sweep, with the app under test's limits."""
    from server.sweeps import refusal
    from tests.server.test_openapi import app

    try:
        return refusal(Sweep.from_dict(body), app.state.hub.settings) is None
    except ConfigError:
        return False
