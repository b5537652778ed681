"""The OpenAPI document, made true: every route's real statuses and the ``/api/trace`` body key by key.

The body schema is generated from :data:`engine.config.space.FIELDS`, the one config table, and the rules that tie
keys together from :func:`engine.config.space.describe_rules` (a JSON Schema ``if``/``then`` where JSON Schema can
say the rule, e.g. the tasks an arch takes; words and ``x-rules`` where it cannot, e.g. the work cap, a
product of five keys), so the document cannot drift from what the server accepts.  FastAPI only sees
``Request`` parameters and would document a bare "200"; :func:`install` replaces each operation's ``responses``
with the ones in :data:`RESPONSES`, and refuses to build a document for a route that is missing there (a new
route must say what it answers) or an entry whose route is gone.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from engine.config import FIELD_BY_NAME, NUMBER_SYNTAX, PAGE_KEYS, Field, describe_rules
from engine.data import NOT_FOR_SERIES
from engine.lab import CLIFF_FIELDS
from engine.lab import describe_rules as describe_cliff_rules
from engine.lab.sweep import MAX_POINTS
from server.schemas import JSON, SWEEP, SWEEP_BODY, config_schema, field_schema


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
        "kind": {"enum": ["model", "series", "trace"], "description": "For a refused uploaded file: which one."},
        "file": {"type": "string", "description": "For a refused uploaded file: its part's file name."},
        "row": {"type": "integer", "description": "For a refused CSV: the row at fault (1-based, as in the file)."},
        "column": {"type": "string", "description": "For a refused CSV: the column at fault."},
    },
}
BUSY = {
    "type": "object",
    "required": ["message", "field", "retry_after_s"],
    "properties": {**ERROR["properties"], "retry_after_s": {"type": "number", "minimum": 0}},
}
TRACE_FILE = {
    "type": "object",
    "required": ["type", "sha256", "name", "traces"],
    "properties": {
        "type": {"const": "trace_file"}, "sha256": {"type": "string"}, "name": {"type": ["string", "null"]},
        "traces": {"type": "array", "minItems": 1, "items": {
            "type": "object", "required": ["key", "title", "units"],
            "properties": {"key": {"type": "string"}, "title": {"type": "string"},
                           "units": {"type": "array", "description": "[text frame, base64 binary frame or null]"}}}},
    },
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
        "done": {"type": "object", "description": "Loss, gradient norms, clipping and elapsed_ms; with attention, "
                 "attention: the (T, T) alignment of decoder step over source step (rows sum to 1) and the encoder's "
                 "top-layer gradient norm split into grad_attention_norm and grad_recurrent_norm, (D, T) each."},
        "model": {"type": "object", "description": "Only for an uploaded model: its sha256, prefix, input_size, "
                  "read-out and notes on what came from the file."},
        "series": {"type": "object", "description": "Only for an uploaded series: name, length, mean, std, values."},
    },
}
ROOM = {
    "type": "object",
    "required": ["room", "secret", "expires_after_seconds", "max_followers"],
    "properties": {"room": {"type": "string"}, "secret": {"type": "string"},
                   "expires_after_seconds": {"type": "number"}, "max_followers": {"type": "integer"}},
}
PAGE_KEYS_SCHEMA = {
    "type": "object",
    "description": "The link keys that belong to the page, not the model, each with how a link writes it: 'version' "
    "(v), 'lesson' (a lesson's id), 'flag' (yes/no), 'keys' (control names, comma-separated), 'pairs' (key:value "
    "pairs, comma-separated), 'view' (one of the table's views), 'pick' (a layer and a direction: '2,reverse', "
    "layer 2 from the bottom; 'top' for the top layer), 'step' (the player's step, 0 to 2T).",
    "additionalProperties": {"enum": ["version", "lesson", "flag", "keys", "pairs", "view", "pick", "step"]},
}
CONFIG_FIELDS = {
    "type": "object",
    "required": ["fields", "rules", "link_version", "link_number_syntax", "page_keys"],
    "properties": {
        "fields": {
            "type": "array",
            "items": {"type": "object", "required": ["name", "type", "default", "description", "group"]},
        },
        "rules": {
            "type": "array",
            "description": "The rules that tie keys together, as the server applies them: 'pinned' (a key set to "
                           "a value where it does not apply), 'choices' (the tasks an arch takes), 'work_cap'.",
            "items": {"type": "object", "required": ["kind", "field", "description"]},
        },
        "link_version": {"type": "integer"},
        "link_number_syntax": {"type": "string", "description": "The regular expression every number in a link "
                               "matches whole (ASCII digits only)."},
        "page_keys": PAGE_KEYS_SCHEMA,
        "views": {"type": "array", "items": {"type": "string"}, "description": "The views a link's 'view' key may "
                  "open (the lab's table only): 'lag', the lag map."},
        "tasks": {"type": "object", "description": "Each task (the lab's table only): its description and whether "
                  "it can be learned at all ('learnable': false for targets that ignore the inputs).",
                  "additionalProperties": {"type": "object", "required": ["description", "learnable"]}},
    },
}  # fmt: skip
# The cliff's table (GET /api/cliff/config) is described as the lab's is, with the cliff's kind of rule.
CLIFF_TABLE = {**CONFIG_FIELDS, "properties": {**CONFIG_FIELDS["properties"], "rules": {
    "type": "array",
    "description": "The rules that tie keys together, as the server applies them: 'greater' (field must be greater "
                   "than the key named by 'than'; each is fine alone, the pair is not), refused naming field.",
    "items": {"type": "object", "required": ["kind", "field", "than", "description"]},
}}}  # fmt: skip
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


def query_parameters(table: tuple[Field, ...], above: dict[str, str]) -> list[dict[str, Any]]:
    """A table's keys as optional query parameters, each with its schema; ``above``: {key: the key it must exceed}."""
    params = [{"name": f.name, "in": "query", "required": False, "schema": field_schema(f)} for f in table]
    for p in params:
        if p["name"] in above:
            p["description"] = f"Must be greater than {above[p['name']]} (a 422 naming {p['name']} otherwise)."
    return params


LINK_TEXT = (f"Every number in the query is written whole in ASCII digits, matching {NUMBER_SYNTAX} (no spaces, no "
             "'_', no other digits); a key given twice is a 400 naming it.")
CLIFF_ABOVE = {r["field"]: r["than"] for r in describe_cliff_rules()}  # the grid's edges in order


TRACE_BODY = {
    "required": True,
    "description": 'A config object (missing keys take their defaults), e.g. {"cell": "lstm", "seq_len": 100}.',
    "content": {
        JSON: {"schema": config_schema(complete=False)},
        # The user's own model (server/uploads/http.py): the config as JSON text beside a torch.save'd state_dict.
        "multipart/form-data": {"schema": {
            "type": "object",
            "required": ["config", "model"],  # or "series" in place of "model": either or both
            "properties": {
                "config": {**config_schema(complete=False), "description": "A config object as JSON; cell, "
                           "hidden_size, num_layers and bidirectional come from the file; a vanilla RNN's "
                           "nonlinearity is required."},
                "model": {"type": "string", "format": "binary", "description": "The state_dict of an nn.RNN/LSTM/GRU "
                          "or a model holding one, as a .safetensors file (the safest) or a torch.save file "
                          "(GFL_MAX_MODEL_BYTES, 8 MiB by default; every check: docs/protocol.md, Security)."},
                "series": {"type": "string", "format": "binary", "description": "A CSV of a numeric series "
                           "(one column, or the column part's under a header; at most 2 MB): the data becomes "
                           "windows of seq_len steps predicting the next value, normalised."},
                "column": {"type": "string", "description": "The series' column: a header name or a 0-based index."},
            },
            "anyOf": [  # a series is read by every arch but those of engine.data.series.NOT_FOR_SERIES
                {"properties": {"series": False}},
                {"properties": {"config": {"properties": {"arch": {"enum": [
                    a for a in FIELD_BY_NAME["arch"].choices if a not in NOT_FOR_SERIES]}}}}},
            ],
        }, "encoding": {
            "config": {"contentType": JSON}, "model": {"contentType": "application/octet-stream"},
            "series": {"contentType": "text/csv"}, "column": {"contentType": "text/plain"},
        }},
    },
}

RETRY_AFTER = {"Retry-After": {"description": "Seconds to wait.", "required": True,
                               "schema": {"type": "integer", "minimum": 0}}}

# (method, path) -> the operation's responses (and request body).  Every status a route can answer.
RESPONSES: dict[tuple[str, str], dict[str, Any]] = {
    ("post", "/api/trace"): {
        "requestBody": TRACE_BODY,
        "description": "The rules that tie config keys together are in x-rules (GET /api/config's rules): JSON "
        "Schema states the tasks each arch takes (allOf), not the work cap, a product of five keys. A trace is "
        "sent as JSON only up to x-max-json-values per-unit values, (K + 1)·span·H·L·D + span·O, K the forward "
        "arrays per unit (hidden, cell state, gates), O the task's outputs; longer ones stream over /ws.",
        "x-rules": describe_rules(),
        "responses": {
            "200": _json("The whole trace.", TRACE),
            "400": _json("The body is not JSON, not an object, nested too deeply, or gives a key twice (field: "
                         "that key); a multipart body that is malformed or lacks its config or model part.", ERROR),
            "413": _json("The body is over the size cap (GFL_MAX_MESSAGE_BYTES, 64 KiB by default), or the "
                         "uploaded model over GFL_MAX_MODEL_BYTES.", ERROR),
            "422": _json(
                "A config value outside its range or choices, an unknown key, a task the arch does not take "
                "(field task), a model over the work cap (field batch_size), or a trace with more per-unit values "
                "than x-max-json-values (field seq_len; stream those over /ws); a multipart "
                "config part that is not a JSON object of config keys; an uploaded model file that is not a "
                "state_dict of one RNN/LSTM/GRU, naming the key at fault.",
                ERROR,
            ),
            "503": _json(
                "Busy: every computation slot is taken and the queue is full, or the uploads held by the server "
                "(or by this client) leave no room for the file now; try again later.",
                BUSY,
                headers=RETRY_AFTER,
            ),
        },
    },
    ("post", "/api/sweep"): {
        "requestBody": SWEEP_BODY,
        "description": "Every point is computed as its own request would be (the same cache and queue). Rules JSON "
        "Schema cannot state: each value is one the key takes, the config's alternative keys too; values × over's "
        f"alternatives × seeds is at most {MAX_POINTS} points; every point is a valid setting within one request's "
        "limits (x-max-json-values of /api/trace, a training's GFL_MAX_TRAIN_SECONDS); the whole sweep's estimated "
        "time is within GFL_MAX_SWEEP_SECONDS. A trace sweep's key must change the trace.",
        "responses": {
            "200": _json("Every point, curve by curve.", SWEEP),
            "400": _json("The body is not JSON, not an object, nested too deeply, or gives a key twice.", ERROR),
            "413": _json("The body is over the size cap (GFL_MAX_MESSAGE_BYTES, 64 KiB by default).", ERROR),
            "422": _json("A bad sweep, naming the field: key, values, over, seeds, kind, or a config key.", ERROR),
            "503": _json("Busy: the queue is full; try again later.", BUSY, headers=RETRY_AFTER),
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
    ("post", "/api/rooms"): {"responses": {
        "201": _json("A new room (docs/protocol.md, Rooms): its id for the follow link, the secret only the "
                     "presenter's page keeps, its idle expiry and its followers' bound.", ROOM),
        "503": _json("The rooms' bound is reached (field max_rooms), or the rooms' Redis cannot be reached.", ERROR),
    }},
    ("get", "/healthz"): {"responses": {"200": _json("Alive, with this process's load.", HEALTH)}},
    ("get", "/api/lessons"): {"responses": {"200": _json("Every lesson, in syllabus order.", LESSONS)}},
    ("get", "/lessons"): {"responses": {"200": _html("The page that lists the lessons.")}},
    ("get", "/api/cliff/config"): {"responses": {"200": _json("Every key of the cliff's table, described, and the "
                                                              "rules between keys.", CLIFF_TABLE)}},
    ("get", "/api/cliff"): {
        "description": LINK_TEXT + " Each axis's edges are in order: " + ", ".join(
            f"{high} > {low}" for high, low in CLIFF_ABOVE.items()) + " (x-rules).",
        "parameters": query_parameters(CLIFF_FIELDS, CLIFF_ABOVE),
        "x-rules": describe_cliff_rules(),
        "responses": {
            "200": _json("The loss grid and both descents.", CLIFF),
            "400": _json("A key given more than once.", ERROR),
            "422": _json("A key outside its range or choices, an unknown key, or a grid edge not above the other.",
                         ERROR),
        },
    },
    # The page reads the same keys as /api/cliff, but a bad one is a notice on the page, not an error status.
    ("get", "/cliff"): {
        "responses": {"200": _html("The cliff view; a bad link key falls back to its default with a notice.")},
    },
    ("post", "/api/trace-file"): {
        "requestBody": {"required": True, "content": {"application/octet-stream": {"schema": {
            "type": "string", "format": "binary", "description": "A trace file written by engine.save_traces "
            "(docs/trace-file.md)."}}}},
        "responses": {
            "200": _json("Each trace of the file as the frames a run sends (docs/protocol.md, 'A saved trace file').",
                         TRACE_FILE),
            "413": _json("The file is over the server's max_trace_file_bytes.", ERROR),
            "422": _json("Not a usable trace file: the message names the field at fault.", ERROR),
            "503": _json("Uploads hold this server's byte budget now; try again.", BUSY),
        },
    },
    ("get", "/api/trace-file/{token}"): {
        "responses": {
            "200": _json("The file the server was started with (--open), as POST /api/trace-file answers.", TRACE_FILE),
            "404": _json("No file is opened under this token.", ERROR),
            "422": _json("The opened file is missing, too big or no longer a usable trace file.", ERROR),
            "503": _json("Uploads hold this server's byte budget now; try again.", BUSY),
        },
    },
    ("get", "/sweep"): {
        "responses": {"200": _html("The sweep page; a bad sweep in the link opens the default sweep with a notice.")},
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
    if "/api/trace" in schema["paths"]:  # this server's own cap (Settings.max_json_values, GFL_MAX_JSON_VALUES)
        schema["paths"]["/api/trace"]["post"]["x-max-json-values"] = app.state.hub.settings.max_json_values
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
