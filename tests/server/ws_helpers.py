"""Helpers for the server tests: a strict JSON parser, a frame reader, a gated tracer."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from engine import trace_config

# Small enough that a whole run takes milliseconds.
SMALL = {"seq_len": 6, "hidden_size": 3, "batch_size": 2}


def _no_constant(name: str) -> Any:
    raise AssertionError(f"non-standard JSON token {name} on the wire")


def strict_loads(text: str) -> Any:
    """json.loads that fails on NaN / Infinity / -Infinity tokens."""
    return json.loads(text, parse_constant=_no_constant)


@dataclass
class Run:
    """The frames of one run as a client sees them."""

    number: int
    start: dict | None = None
    forward: list[tuple[dict, bytes]] = field(default_factory=list)
    backward: list[tuple[dict, bytes]] = field(default_factory=list)
    end: dict | None = None  # done, cancelled or error

    def floats(self, payload: bytes) -> np.ndarray:
        return np.frombuffer(payload, dtype="<f4")


def receive_frame(ws) -> tuple[dict, bytes | None]:
    """One text frame and, when it says ``binary_steps``, the binary frame that must follow it."""
    message = ws.receive()
    assert message["type"] == "websocket.send", message
    assert message.get("text") is not None, "a binary frame arrived without a text header"
    frame = strict_loads(message["text"])
    if "binary_steps" in frame:
        assert frame["type"] in ("forward", "backward") and frame["binary_steps"] >= 1, frame
        follow = ws.receive()
        assert follow.get("bytes") is not None, f"{frame['type']} t={frame['t']} is not followed by a binary frame"
        return frame, follow["bytes"]
    return frame, None


def read_run(ws, number: int) -> Run:
    """Read frames until run ``number`` ends; every frame must belong to it.

    Each forward/backward frame is paired with its own step's slice of the binary frame that
    carried it, so ``Run.forward`` and ``Run.backward`` hold one (frame, bytes) per step.
    """
    run = Run(number)
    pending: list[bytes] = []  # per-step slices of the last binary frame not yet claimed, in send order
    pending_kind = None
    while True:
        frame, payload = receive_frame(ws)
        assert frame["run"] == number, f"frame of run {frame['run']} while reading run {number}: {frame}"
        kind = frame["type"]
        if kind in ("forward", "backward"):
            if payload is not None:
                assert not pending, f"a binary frame arrived while {len(pending)} steps of the last were unclaimed"
                n = frame["binary_steps"]
                assert len(payload) % n == 0, f"{len(payload)} bytes do not split into {n} steps"
                size = len(payload) // n
                pending, pending_kind = [payload[i * size : (i + 1) * size] for i in range(n)], kind
            assert pending and pending_kind == kind, f"{kind} t={frame['t']} has no binary data"
            (run.forward if kind == "forward" else run.backward).append((frame, pending.pop(0)))
        elif kind == "start":
            assert run.start is None and not run.forward
            run.start = frame
        else:
            assert kind in ("done", "cancelled", "error"), frame
            assert not pending or kind != "done", "the run ended with binary data left unclaimed"
            run.end = frame
            return run


def run_config(ws, config: dict, number: int) -> Run:
    ws.send_json({"type": "run", "config": config})
    return read_run(ws, number)


class GatedTracer:
    """The engine's tracer, held at a gate so tests can act while a computation is in flight."""

    def __init__(self):
        self.gate = threading.Event()
        self.entered = threading.Semaphore(0)
        self.finished = 0

    def __call__(self, config):
        self.entered.release()
        assert self.gate.wait(timeout=20), "the test never opened the gate"
        try:
            return trace_config(config)
        finally:
            self.finished += 1

    def wait_entered(self, count: int = 1) -> None:
        for _ in range(count):
            assert self.entered.acquire(timeout=10), "no computation started"


def wait_until(predicate, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.01)
