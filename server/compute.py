"""Where computations run: worker threads, a process-wide bound on how many at once.

A trace is one blocking call into the engine (tens of milliseconds to a few
seconds), so it runs in a worker thread and the event loop keeps serving every
other socket.  A :class:`anyio.CapacityLimiter` bounds the computations running
at once; the rest wait for a slot.  A computation that is cancelled while it
runs is not abandoned: its thread finishes, the result is discarded, and only
then is the slot released, so the bound always counts the threads really
running.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import anyio
import anyio.to_thread
import torch

from server.settings import Settings

R = TypeVar("R")


class Compute:
    """Runs blocking functions in worker threads, at most ``settings.max_concurrent`` at once."""

    def __init__(self, settings: Settings):
        self.limiter = anyio.CapacityLimiter(settings.max_concurrent)
        self.torch_threads = settings.torch_threads

    async def run(self, fn: Callable[..., R], *args) -> R:
        # Cancelling the caller waits for the thread (anyio shields it) and then
        # raises, so a cancelled computation keeps its slot until it really ends.
        return await anyio.to_thread.run_sync(self._in_thread, fn, args, limiter=self.limiter)

    def _in_thread(self, fn: Callable[..., R], args: tuple) -> R:
        # Set in every computation thread: the intra-op thread count is per-thread state
        # under OpenMP, and one thread per computation keeps `max_concurrent`
        # computations from oversubscribing the cores.
        if torch.get_num_threads() != self.torch_threads:
            torch.set_num_threads(self.torch_threads)
        return fn(*args)

    @property
    def running(self) -> int:
        return int(self.limiter.borrowed_tokens)

    @property
    def waiting(self) -> int:
        return self.limiter.statistics().tasks_waiting


@dataclass
class Activity:
    """Counters shown by /healthz and read by the tests."""

    sessions: int = 0  # open websocket sessions
    runs: int = 0  # run and train requests numbered since start
    frames_sent: int = 0  # websocket frames sent since start


@dataclass
class Hub:
    """Everything the routes share: settings, the compute pool, the tracer, counters."""

    settings: Settings
    compute: Compute
    tracer: Callable  # Config -> engine.Trace
    activity: Activity
