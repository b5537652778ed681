"""The OpenAPI document, made true: every route's real statuses and the ``/api/trace`` body key by key.

The body schema is generated from :data:`engine.config.FIELDS`, the one config table, so the
document cannot drift from what the server accepts.  FastAPI only sees ``Request`` parameters and
would document a bare "200"; :func:`install` replaces each operation's ``responses`` with the ones
in :data:`RESPONSES`, and refuses to build a document for a route that is missing there (a new
route must say what it answers) or an entry whose route is gone.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from engine.cliff import CLIFF_FIELDS
from engine.cliff import describe_rules as describe_cliff_rules
from engine.config import FIELDS, PAGE_KEYS, Field

JSON = "application/json"


def field_schema(f: Field) -> dict[str, Any]:
    """One config key as JSON Schema: its type, range or choices, default and description."""
    if f.kind == "choice":
        schema: dict[str, Any] = {"type": "string", "enum": list(f.choices)}
    elif f.kind == "bool":
        schema = {"type": "boolean"}
    else:
        # JSON Schema's "integer" also admits 50.0, as Field.check does.
        schema = {"type": "integer" if f.kind == "int" else "number", "maximum": f.high}
        schema["exclusiveMinimum" if f.low_open else "minimum"] = f.low
    schema["default"] = f.default
    schema["description"] = f.description + (f" Unit: {f.unit}." if f.unit else "")
    return schema


def config_schema(*, complete: bool) -> dict[str, Any]:
    """A config object: any subset of the keys (a request) or all of them (the normalised echo)."""
    schema: dict[str, Any] = {
        "type": "object",
        "additionalProperties": False,
        "properties": {f.name: field_schema(f) for f in FIELDS},
    }
    if complete:
        schema["required"] = [f.name for f in FIELDS]
    return schema


def _json(description: str, schema: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"description": description, "content": {JSON: {"schema": schema}}, **extra}


def _python(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"text/x-python": {"schema": {"type": "string"}}}}


def _html(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"text/html": {"schema": {"type": "string"}}}}


ERROR = {
    "type": "object",
    "required": ["message", "field"],
    "properties": {
        "message": {"type": "string", "description": "What is wrong and what is allowed."},
        "field": {"type": ["string", "null"], "description": "The config key at fault, if one is."},
    },
}
BUSY = {
    "type": "object",
    "required": ["message", "field", "retry_after_s"],
    "properties": {**ERROR["properties"], "retry_after_s": {"type": "number", "minimum": 0}},
}
TRACE = {
    "type": "object",
    "description": "The same numbers as the frames of a /ws run of this config (docs/protocol.md).",
    "required": ["type", "config", "shapes", "output", "forward", "backward", "done"],
    "properties": {
        "type": {"const": "trace"},
        "config": config_schema(complete=True),
        "shapes": {"type": "object", "additionalProperties": {"type": "integer"}},
        "output": {"type": "array", "description": "(T, O) model outputs."},
        "forward": {"type": "object", "description": "Each name of layout.forward: an (L, D, T, H) array."},
        "backward": {"type": "object", "description": "grad_h (L, D, T, H) and the per-step (L, D, T) series."},
        "done": {"type": "object", "description": "Loss, gradient norms, clipping and elapsed_ms."},
        "model": {"type": "object", "description": "Only for an uploaded model: its sha256, prefix, input_size, "
                  "read-out and notes on what came from the file."},
        "series": {"type": "object", "description": "Only for an uploaded series: name, length, mean, std, values."},
    },
}
PAGE_KEYS_SCHEMA = {
    "type": "object",
    "description": "The link keys that belong to the page, not the model, each with how a link writes it: 'version' "
    "(v), 'lesson' (a lesson's id), 'flag' (yes/no), 'keys' (control names, comma-separated), 'pairs' (key:value "
    "pairs, comma-separated).",
    "additionalProperties": {"enum": ["version", "lesson", "flag", "keys", "pairs"]},
}
CONFIG_FIELDS = {
    "type": "object",
    "required": ["fields", "link_version", "page_keys"],
    "properties": {
        "fields": {
            "type": "array",
            "items": {"type": "object", "required": ["name", "type", "default", "description", "group"]},
        },
        "link_version": {"type": "integer"},
        "page_keys": PAGE_KEYS_SCHEMA,
    },
}
RULES = {
    "type": "array",
    "description": "The rules that tie keys together, as the server applies them; 'greater': field must be greater "
    "than the key named by 'than' (each is fine alone, the pair is not), refused naming field.",
    "items": {"type": "object", "required": ["kind", "field", "description"]},
}
CLIFF_TABLE = {
    "type": "object",
    "required": [*CONFIG_FIELDS["required"], "rules"],
    "properties": {**CONFIG_FIELDS["properties"], "rules": RULES},
}
HEALTH = {
    "type": "object",
    "required": ["status"],
    "properties": {
        "status": {"const": "ok"},
        "sessions": {"type": "integer", "minimum": 0},
        "computing": {"type": "integer", "minimum": 0},
        "waiting": {"type": "integer", "minimum": 0},
    },
}
LESSONS = {
    "type": "object",
    "required": ["topics", "lessons"],
    "properties": {
        "topics": {"type": "array", "items": {"type": "string"}},
        "lessons": {"type": "array", "items": {"type": "object", "required": ["id", "title", "topic", "link"]}},
    },
}

CLIFF_PATH = {
    "type": "object",
    "required": ["w", "b", "loss", "grad_norm", "step", "stopped_at"],
    "description": "One gradient descent from (w0, b0): the points visited, the loss at each, ‖∇L‖ before clipping "
    "and the length of each move.",
}
CLIFF = {
    "type": "object",
    "description": "The one-unit RNN's loss over the (w, b) grid and both descents (docs/protocol.md, \"The cliff\").",
    "required": ["config", "grid", "paths", "fields", "link_version"],
    "properties": {
        "config": {"type": "object", "required": [f.name for f in CLIFF_FIELDS]},
        "grid": {"type": "object", "required": ["w", "b", "loss"],
                 "description": "w (R,), b (R,) and loss (R, R), rows along b."},
        "paths": {"type": "object", "required": ["plain", "clipped"],
                  "properties": {"plain": CLIFF_PATH, "clipped": CLIFF_PATH}},
        "fields": {"type": "array", "items": {"type": "object", "required": ["name", "type", "default"]}},
        "link_version": {"type": "integer"},
    },
}  # fmt: skip


def query_parameters(table: tuple[Field, ...]) -> list[dict[str, Any]]:
    """A table's keys as optional query parameters, each with its schema."""
    return [{"name": f.name, "in": "query", "required": False, "schema": field_schema(f)} for f in table]


TRACE_BODY = {
    "required": True,
    "description": 'A config object (missing keys take their defaults), e.g. {"cell": "lstm", "seq_len": 100}.',
    "content": {
        JSON: {"schema": config_schema(complete=False)},
        # The user's own model (server/upload.py): the config as JSON text beside a torch.save'd state_dict.
        "multipart/form-data": {"schema": {
            "type": "object",
            "required": ["config", "model"],  # or "series" in place of "model": either or both
            "properties": {
                "config": {"type": "string", "description": "A config object as JSON text; cell, hidden_size, "
                           "num_layers and bidirectional come from the file; a vanilla RNN's nonlinearity is "
                           "required."},
                "model": {"type": "string", "format": "binary", "description": "torch.save(module.state_dict()) "
                          "of an nn.RNN/LSTM/GRU or a model holding one (GFL_MAX_MODEL_BYTES, 8 MiB by default)."},
                "series": {"type": "string", "format": "binary", "description": "A CSV of a numeric series "
                           "(one column, or the column part's under a header; at most 2 MB): the data becomes "
                           "windows of seq_len steps predicting the next value, normalised."},
                "column": {"type": "string", "description": "The series' column: a header name or a 0-based index."},
            },
        }},
    },
}

# (method, path) -> the operation's responses (and request body).  Every status a route can answer.
RESPONSES: dict[tuple[str, str], dict[str, Any]] = {
    ("post", "/api/trace"): {
        "requestBody": TRACE_BODY,
        "responses": {
            "200": _json("The whole trace.", TRACE),
            "400": _json("The body is not JSON, not an object, or nested too deeply; a multipart body that is "
                         "malformed or lacks its config or model part.", ERROR),
            "413": _json("The body is over the size cap (GFL_MAX_MESSAGE_BYTES, 64 KiB by default), or the "
                         "uploaded model over GFL_MAX_MODEL_BYTES.", ERROR),
            "422": _json(
                "A config value outside its range or choices, an unknown key, a model over the work cap, "
                "or a trace with more per-unit values than JSON is sent for (stream those over /ws); a multipart "
                "config part that is not a JSON object of config keys; an uploaded model file that is not a "
                "state_dict of one RNN/LSTM/GRU, naming the key at fault.",
                ERROR,
            ),
            "503": _json(
                "Busy: every computation slot is taken and the queue is full; try again later.",
                BUSY,
                headers={"Retry-After": {"description": "Seconds to wait.", "required": True,
                                         "schema": {"type": "integer", "minimum": 0}}},
            ),
        },
    },
    ("get", "/api/script"): {
        "description": "The query is a teaching link's (the keys of GET /api/config in their URL form, as on "
        "GET /); unlike the page, this route refuses a bad or unknown key instead of using its default. "
        f"The page's own keys ({', '.join(PAGE_KEYS)}) are allowed and ignored.",
        "responses": {
            "200": _python("A standalone script (torch and numpy only) whose last output line is one JSON "
                           'object {"loss", "grad_h_norm", "total_norm", "total_norm_clipped"}, equal to '
                           "/api/trace's numbers for the same setting."),
            "400": _json("A link key given more than once.", ERROR),
            "422": _json("An unknown link key, a value outside its range or choices, a model over the work cap, or "
                         "a setting the script cannot write out; field names the key.", ERROR),
        },
    },
    ("get", "/api/config"): {"responses": {"200": _json("Every config key, described.", CONFIG_FIELDS)}},
    ("get", "/healthz"): {"responses": {"200": _json("Alive, with this process's load.", HEALTH)}},
    ("get", "/api/lessons"): {"responses": {"200": _json("Every lesson, in syllabus order.", LESSONS)}},
    ("get", "/lessons"): {"responses": {"200": _html("The page that lists the lessons.")}},
    ("get", "/api/cliff/config"): {"responses": {"200": _json("Every key of the cliff's table, described, and the "
                                                              "rules between keys.", CLIFF_TABLE)}},
    ("get", "/api/cliff"): {
        "description": "The keys of GET /api/cliff/config, each within its range or choices, and its rules: "
        + "; ".join(r["description"] for r in describe_cliff_rules()) + " (x-rules).",
        "x-rules": describe_cliff_rules(),
        "parameters": query_parameters(CLIFF_FIELDS),
        "responses": {
            "200": _json("The loss grid and both descents.", CLIFF),
            "422": _json("A key outside its range or choices, an unknown key, or a grid edge not above the other.",
                         ERROR),
        },
    },
    # The page reads the same keys as /api/cliff, but a bad one is a notice on the page, not an error status.
    ("get", "/cliff"): {
        "responses": {"200": _html("The cliff view; a bad link key falls back to its default with a notice.")},
    },
    ("get", "/"): {
        "responses": {"200": _html("The lab; a bad or unknown link key falls back to its default with a notice.")}
    },
}  # fmt: skip


def document(app: FastAPI) -> dict[str, Any]:
    """The app's OpenAPI document with :data:`RESPONSES` applied; raises if a route and the table disagree."""
    schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
    seen = set()
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            key = (method, path)
            if key not in RESPONSES:
                raise KeyError(f"{method.upper()} {path} is not documented in server/openapi.py RESPONSES")
            seen.add(key)
            operation.update(RESPONSES[key])
    stale = sorted(set(RESPONSES) - seen)
    if stale:
        raise KeyError(f"server/openapi.py documents routes the app does not have: {stale}")
    return schema


def install(app: FastAPI) -> None:
    """Serve :func:`document` at ``app.openapi_url`` (built once, on first request)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = document(app)
        return app.openapi_schema

    app.openapi = openapi
