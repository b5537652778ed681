"""Jobs for a parse worker that misbehave on purpose (module-level, so a worker can import them by name)."""

from __future__ import annotations

import ctypes
import os
import time


def crash() -> None:
    """Read address 0: a segfault, as a parser fed a hostile file may hit."""
    ctypes.string_at(0)


def allocate(nbytes: int) -> int:
    return len(bytearray(nbytes))


def wait_for(path: str, value, seconds: float = 30.0):
    """Return ``value`` once ``path`` exists (the test creates it when it has seen what it waits for)."""
    deadline = time.monotonic() + seconds
    while not os.path.exists(path):
        if time.monotonic() > deadline:
            raise TimeoutError(f"{path} never appeared")
        time.sleep(0.01)  # condition-free: the poll interval while waiting for the test's file
    return value


def echo(value):
    return value


def wait_then(path: str, fn, *args):
    """``fn(*args)`` once ``path`` exists: a parse the test holds in flight."""
    wait_for(path, None)
    return fn(*args)
