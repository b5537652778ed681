"""JSON Schemas of the lab's request and answer bodies, generated from the one config table
(:data:`engine.config.space.FIELDS`) and the sweep's limits (:mod:`engine.lab.sweep`): server/openapi.py puts them in
the OpenAPI document."""

from __future__ import annotations

from typing import Any

from engine.config import FIELD_BY_NAME, FIELDS, TASKS_FOR_ARCH, Field
from engine.lab.sweep import KINDS, LEARNED_BELOW, MAX_SEEDS, MAX_VALUES, sweepable
from engine.lab.sweep_over import MAX_OVER, NAME

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


def arch_task_rules() -> list[dict[str, Any]]:
    """The tasks each arch takes (:data:`engine.config.space.TASKS_FOR_ARCH`) as JSON Schema: another arch (or none),
    or ``task`` given (its default is not among them) and one of them.  (Said with ``if``/``then`` or ``not``,
    the rule stops schemathesis from generating a multipart body beside its binary parts.)"""
    archs = FIELD_BY_NAME["arch"].choices
    return [
        {"anyOf": [{"properties": {"arch": {"enum": [a for a in archs if a != arch]}}},
                   {"properties": {"task": {"enum": list(tasks)}}, "required": ["task"]}]}
        for arch, tasks in TASKS_FOR_ARCH.items()
    ]  # fmt: skip


def config_schema(*, complete: bool) -> dict[str, Any]:
    """A config object: any subset of the keys (a request) or all of them (the normalised echo)."""
    schema: dict[str, Any] = {
        "type": "object",
        "additionalProperties": False,
        "properties": {f.name: field_schema(f) for f in FIELDS},
        "allOf": arch_task_rules(),
    }
    if complete:
        schema["required"] = [f.name for f in FIELDS]
    return schema


_LIST = {"type": "array", "minItems": 1, "uniqueItems": True}
SWEEP_BODY = {"required": True, "content": {JSON: {"schema": {
    "type": "object", "additionalProperties": False, "required": ["key", "values"],
    "properties": {
        "config": {**config_schema(complete=False), "description": "The setting every point starts from."},
        "key": {"enum": list(sweepable("train")), "description": "The swept config key; a trace sweep takes the "
                f"keys that change the trace: {', '.join(sweepable('trace'))}."},
        "values": {**_LIST, "maxItems": MAX_VALUES, "description": "Values of key, each as the config takes it."},
        "over": {"description": "The curves: one other key (not key, not seed) and its alternatives, a curve each "
                 '({"cell": ["rnn", "lstm"]}), or a list of named settings, a curve each, for a curve that moves '
                 'several keys ([{"name": "IRNN", "set": {"cell": "rnn", "nonlinearity": "relu", "init": '
                 '"identity"}}, {"name": "LSTM", "set": {"cell": "lstm"}}]).',
                 "oneOf": [
                     {"type": "object", "maxProperties": 1, "additionalProperties": {**_LIST, "maxItems": MAX_OVER}},
                     {"type": "array", "minItems": 1, "maxItems": MAX_OVER, "items": {
                         "type": "object", "additionalProperties": False, "required": ["name", "set"], "properties": {
                             "name": {"type": "string", "pattern": f"^{NAME.pattern}$",
                                      "description": "The curve's name, distinct."},
                             "set": {"type": "object", "additionalProperties": False, "minProperties": 1,
                                     "properties": {f.name: field_schema(f) for f in FIELDS if f.name != "seed"},
                                     "description": "Config keys (not key, not seed) this curve sets."}}}},
                 ]},
        "seeds": {**_LIST, "maxItems": MAX_SEEDS, "items": field_schema(FIELD_BY_NAME["seed"]),
                  "description": "The seeds of every value and alternative: their spread is drawn as a band."},
        "kind": {"enum": list(KINDS), "default": "trace"},
    }}}}}  # fmt: skip
SWEEP = {"type": "object", "required": ["key", "values", "series"], "properties": {
    "key": {"type": "string"}, "values": {"type": "array"},
    "series": {"type": "array", "items": {"type": "object", "required": ["over", "points"], "properties": {
        "over": {"type": "object", "description": "The config keys this curve sets ({} for a sweep of one curve)."},
        "name": {"type": "string", "description": "A named setting's name (an over of named settings only)."},
        "points": {"type": "array", "description": "Each {value, seed} with, for a trace sweep, /api/trace's "
                   "loss and grad_h_norm [L][D][T] for that setting, total_norm and total_norm_clipped, grad_first "
                   "and grad_last (‖∂L/∂h_t‖ of layer 0, forward, at the first input step and the last step), "
                   "their ratio and bound_first (a vanilla RNN's geometric bound at that first step, else null); "
                   "for a training sweep, final_loss, baseline (the task's), learned (final_loss "
                   f"below {LEARNED_BELOW} × baseline), diverged and diverged_at, accuracy (a classification task's: "
                   "the share of the last step's scored targets its most likely class hits, the training's last "
                   "metric; else null) and baseline_accuracy (the trivial predictor's, else null).",
                   "items": {"type": "object", "required": ["value", "seed"]}}}}},
}}  # fmt: skip
