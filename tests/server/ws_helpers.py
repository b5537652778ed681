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
    lag: tuple[dict, bytes] | None = None  # the lag map's frame and its binary data, when asked for
    messages: list[int] = field(default_factory=list)  # steps of each forward/backward message, in order

    def floats(self, payload: bytes) -> np.ndarray:
        return np.frombuffer(payload, dtype="<f4")


def receive_frame(ws) -> tuple[dict, bytes | None]:
    """One text frame and, for a forward, backward or lag message, the binary frame that must follow it."""
    message = ws.receive()
    assert message["type"] == "websocket.send", message
    assert message.get("text") is not None, "a binary frame arrived without a text header"
    frame = strict_loads(message["text"])
    if frame["type"] == "lag":
        follow = ws.receive()
        assert follow.get("bytes") is not None, "the lag frame is not followed by a binary frame"
        return frame, follow["bytes"]
    if frame["type"] in ("forward", "backward"):
        assert isinstance(frame["steps"], int) and frame["steps"] >= 1, frame
        follow = ws.receive()
        assert follow.get("bytes") is not None, f"{frame['type']} t={frame['t']} is not followed by a binary frame"
        return frame, follow["bytes"]
    return frame, None


STEP_SERIES = ("grad_h_norm", "grad_c_norm", "grad_out_norm", "bound", "gate_product")


def split_steps(frame: dict, payload: bytes) -> list[tuple[dict, bytes]]:
    """A forward/backward message of n steps as n one-step frames, each with its own slice of the payload.

    Forward steps are t, t+1, ...; backward steps t, t-1, ... (send order).  Each one-step frame
    has ``output`` (forward) or one (L, D) table per series (backward, None where the series is).
    """
    n = frame["steps"]
    assert len(payload) % n == 0, f"{len(payload)} bytes do not split into {n} steps"
    size = len(payload) // n
    out = []
    for s in range(n):
        step = {"type": frame["type"], "run": frame["run"]}
        if frame["type"] == "forward":
            assert len(frame["output"]) == n
            step.update(t=frame["t"] + s, output=frame["output"][s])
        else:
            step["t"] = frame["t"] - s
            for k in STEP_SERIES:
                assert frame[k] is None or len(frame[k]) == n, (k, frame[k])
                step[k] = None if frame[k] is None else frame[k][s]
        out.append((step, payload[s * size : (s + 1) * size]))
    return out


def read_run(ws, number: int) -> Run:
    """Read frames until run ``number`` ends; every frame must belong to it.

    Each forward/backward message is split into one (frame, bytes) per step (:func:`split_steps`),
    so ``Run.forward`` and ``Run.backward`` hold one entry per step; ``Run.messages`` counts the
    forward/backward messages as sent.
    """
    run = Run(number)
    while True:
        frame, payload = receive_frame(ws)
        assert frame["run"] == number, f"frame of run {frame['run']} while reading run {number}: {frame}"
        kind = frame["type"]
        if kind in ("forward", "backward"):
            assert run.start is not None, "a step arrived before start"
            (run.forward if kind == "forward" else run.backward).extend(split_steps(frame, payload))
            run.messages.append(frame["steps"])
        elif kind == "start":
            assert run.start is None and not run.forward
            run.start = frame
        elif kind in ("queued", "computing"):
            assert run.start is None, f"{kind} after start"
        elif kind == "lag":
            assert run.lag is None and len(run.backward) == run.start["shapes"]["T"], "lag before the whole sweep"
            run.lag = (frame, payload)
        else:
            assert kind in ("done", "cancelled", "error"), frame
            run.end = frame
            return run


def run_config(ws, config: dict, number: int, lag: bool = False) -> Run:
    ws.send_json({"type": "run", "config": config, **({"lag": True} if lag else {})})
    return read_run(ws, number)


class GatedTracer:
    """The engine's tracer, held at a gate so tests can act while a computation is in flight."""

    def __init__(self):
        self.gate = threading.Event()
        self.entered = threading.Semaphore(0)
        self.finished = 0

    def __call__(self, config):
        self.entered.release()
        assert self.gate.wait(timeout=60), "the test never opened the gate"
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
        time.sleep(0.01)  # condition-free: the poll interval of wait_until, which waits for the condition


def run_async(fn, *args, **kwargs):
    """``anyio.run(fn, *args)`` in a thread of its own, returning its result or raising its error.

    The browser tests' Playwright keeps an event loop running in the main thread for the whole
    session, so a test that runs its own loop must not run it there.
    """
    import functools

    import anyio

    out: dict = {}

    def target():
        try:
            out["value"] = anyio.run(functools.partial(fn, *args, **kwargs))
        except BaseException as e:  # handed to the test's thread
            out["error"] = e

    thread = threading.Thread(target=target)
    thread.start()
    thread.join()
    if "error" in out:
        raise out["error"]
    return out.get("value")
