"""Sweeps served point by point, each point exactly as its own link's request would be.

A trace sweep's point is the ``/api/trace`` document of its setting and a training sweep's point the training
stream of its setting, both asked through :meth:`server.sharing.Sharing.serve`: the same cache, the same single
flight, the same queue, slots and admission as that request alone (a sweep of N points is priced and admitted as
N requests, one after the other, on its client's one core).  :func:`trace_result` and :func:`train_result` read a
point's numbers from those answers with :func:`engine.lab.trace_point` and :func:`engine.lab.train_point`, so a
point can never differ from what its own link shows.

Before anything runs, :func:`refusal` prices the whole sweep (server/scheduling/cost.py) and checks every point
against a single request's limits, so a sweep over the limits is refused up front, naming the field.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any
from urllib.parse import urlencode

import orjson

from engine import ConfigError
from engine.lab import Point, Sweep, trace_point, train_point
from engine.lab.sweep import describe_point
from server.scheduling import cost
from server.scheduling.budgets import trace_too_long, training_too_long
from server.settings import Settings
from server.sharing import Sharing
from server.wire import Unit, dumps, json_value_count
from server.wire.encoding import from_wire

Emit = Callable[[Point, dict[str, Any]], Awaitable[None]]  # told each point's result as it finishes


class SweepFailed(Exception):
    """A point's computation failed on a valid setting: a server bug, reported as such."""


def point_seconds(sweep: Sweep, point: Point) -> float:
    """Estimated seconds of one point: its trace document, or its whole training."""
    if sweep.kind == "train":
        return cost.train_seconds(point.config)
    return cost.trace_seconds(point.config)


def estimate_seconds(sweep: Sweep) -> float:
    """Estimated seconds of the whole sweep: every point's, one after the other."""
    return sum(point_seconds(sweep, p) for p in sweep.points())


def refusal(sweep: Sweep, settings: Settings) -> ConfigError | None:
    """Why ``sweep`` is refused up front, naming the field, or None.

    Every point must be within a single request's limits (a trace document's ``max_json_values`` and
    ``max_trace_seconds``, a training's ``max_train_seconds``), and the whole sweep's estimated time within
    ``max_sweep_seconds``.
    """
    for point in sweep.points():
        if sweep.kind == "train":
            problem = training_too_long(point.config, settings.max_train_seconds)
        else:
            count = json_value_count(point.config)
            too_long = trace_too_long(point.config, settings.max_trace_seconds)
            problem = too_long[0] if too_long is not None else None if count <= settings.max_json_values else (
                f"its trace would have {count:,} per-unit values, more than the {settings.max_json_values:,} one "
                "trace sends as JSON")  # fmt: skip
        if problem is not None:
            return ConfigError("values", f"the point {describe_point(sweep, point)} is over a single request's "
                               f"limits: {problem}")  # fmt: skip
    total = estimate_seconds(sweep)
    if total > settings.max_sweep_seconds:
        return ConfigError("values", f"this sweep of {sweep.size} points would take about {total:.0f} s here; the "
                           f"server allows {settings.max_sweep_seconds:.0f} s of sweeping: fewer values, alternatives "
                           "or seeds, or a smaller setting")  # fmt: skip
    return None


def trace_result(document: bytes) -> dict[str, Any]:
    """A trace sweep's point from its ``/api/trace`` document: ``grad_h_norm`` and ``loss`` exactly as given."""
    doc = orjson.loads(document)
    backward, done = doc["backward"], doc["done"]
    bound = backward.get("bound")  # a vanilla RNN's geometric bound, else None
    result = trace_point(from_wire(backward["grad_h_norm"]), tuple(doc["input_steps"]), from_wire(done["loss"]),
                         from_wire(done["total_norm"]), from_wire(done["total_norm_clipped"]),
                         None if bound is None else from_wire(bound))  # fmt: skip
    result["grad_h_norm"] = backward["grad_h_norm"]  # the document's own values, not a copy through numpy
    return result


def train_result(units: Sequence[Unit]) -> dict[str, Any]:
    """A training sweep's point from its training stream: the ``train_start`` frame's baseline, the last
    ``train_step`` frame's accuracy (its ``metric``) and the ``train_done`` frame's end."""
    frames = {}
    for unit in units:
        if unit.text is not None and unit.text.startswith('{"type":"train_'):
            frame = orjson.loads(unit.text)
            frames[frame["type"]] = frame
        if unit.text is not None and unit.text.startswith('{"type":"error"'):
            raise SweepFailed(orjson.loads(unit.text)["message"])
    start, last, done = frames["train_start"], frames["train_step"], frames["train_done"]
    baseline = from_wire(start["baseline"])
    return train_point(from_wire(done["final_loss"]), baseline, done["diverged_at"], from_wire(last["metric"]))


async def serve_sweep(sharing: Sharing, sweep: Sweep, emit: Emit, owner: object | None = None) -> None:
    """Compute every point in order, each through ``sharing`` as its own request, telling ``emit`` as each ends.

    Raises :class:`server.scheduling.Busy` when a point cannot be admitted, :class:`SweepFailed` when one fails.
    """
    kind = "train" if sweep.kind == "train" else "document"
    for point in sweep.points():
        units: list[Unit] = []

        async def collect(ready: Sequence[Unit], units=units) -> None:
            units.extend(ready)

        await sharing.serve(kind, point.config, collect, owner)
        if kind == "train":
            await emit(point, train_result(units))
            continue
        unit = units[-1]
        if unit.data is None:
            raise SweepFailed(orjson.loads(unit.text)["message"])
        await emit(point, trace_result(unit.data))


def answer(sweep: Sweep) -> tuple[dict[str, Any], Emit]:
    """The API's answer ``{"key", "values", "series"}``, filled by the returned ``emit`` point by point."""
    series = [{**sweep.series_head(s), "points": []} for s in range(len(sweep.series))]

    async def emit(point: Point, result: dict[str, Any]) -> None:
        series[point.series]["points"].append({"value": point.value, "seed": point.seed, **result})

    return {"key": sweep.key, "values": list(sweep.values), "series": series}, emit


# -- frames over the socket (docs/protocol.md, "Sweeps") ------------------------------------------------------


def start_frame(sweep: Sweep, estimate_s: float) -> Unit:
    """What a page needs before the first point: the sweep as the server read it, its link's query, its estimate."""
    return Unit(dumps({"type": "sweep_start", "kind": sweep.kind, "key": sweep.key, "values": list(sweep.values),
                       "series": [sweep.series_head(s) for s in range(len(sweep.series))], "seeds": list(sweep.seeds),
                       "points": sweep.size, "estimate_s": round(estimate_s, 3), "sweep": sweep.to_dict(),
                       "query": urlencode(sweep.to_query())}))  # fmt: skip


def point_frame(sweep: Sweep, point: Point, result: dict[str, Any]) -> Unit:
    """One point's result, with ``query``: its own teaching link's (the lab's link and /api/script's query)."""
    return Unit(dumps({"type": "sweep_point", "index": point.index, "done": point.index + 1, "points": sweep.size,
                       "series": point.series, "value": point.value, "seed": point.seed,
                       "query": urlencode(point.config.to_query()), **result}))  # fmt: skip


def done_frame(sweep: Sweep, started: float) -> Unit:
    return Unit(dumps({"type": "sweep_done", "points": sweep.size,
                       "elapsed_s": round(time.perf_counter() - started, 3)}))  # fmt: skip
