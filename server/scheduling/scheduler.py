"""Where computations run: worker threads, fairly shared, with a bounded queue.

A trace or a training step is one blocking call into the engine (milliseconds to seconds), so
it runs in a worker thread and the event loop keeps serving every socket.  At most
``max_concurrent`` run at once; the others wait in a queue ordered so that a room stays
responsive:

* **Highest response ratio next**: a waiting job's priority is (wait + cost) / cost, its
  estimated cost (:mod:`server.scheduling.cost`) in seconds.  Short jobs go first, and a long job's
  priority grows as it waits, so nothing starves.
* **A lane for small work**: jobs estimated over ``big_job_seconds`` hold at most
  ``max_concurrent - 1`` slots (when there are two or more), so one slot always serves
  small requests even while the largest configs are computing; within that limit a big job
  takes the next free slot first, so a stream of small requests cannot starve it.
* **One core per client**: a job whose owner (a socket) already has a computation running
  waits until it ends, so a client that cancels and re-asks cannot pile abandoned work onto
  every core.
* **A bounded queue**: a new job that would bring the queued estimated cost over
  ``max_queued_seconds`` is refused with :class:`Busy` and a retry hint, instead of a wait
  of minutes.

A computation cancelled while it runs is not abandoned: its thread finishes, the result is
discarded, and only then is its slot released, so the bound counts real work.
"""

from __future__ import annotations

import itertools
import math
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import anyio
import anyio.to_thread
import torch

from server.memory import release_free_memory
from server.settings import Settings

__all__ = ["Busy", "Scheduler"]

R = TypeVar("R")


class Busy(Exception):
    """The queue is full: retry in about ``retry_after_s`` seconds."""

    def __init__(self, queued_s: float, retry_after_s: int):
        super().__init__(
            f"the server is busy: about {queued_s:.0f} s of computation is queued ahead of this request; "
            f"try again in {retry_after_s} s"
        )
        self.message = str(self)
        self.retry_after_s = retry_after_s


@dataclass(eq=False)
class Job:
    cost: float  # estimated seconds
    owner: object | None  # the client the job is for; None for one-off requests
    tag: object | None  # what the job is part of (a shared flight), for reporting its place in the queue
    seq: int
    enqueued: float
    big: bool
    granted: anyio.Event = field(default_factory=anyio.Event)

    def priority(self, now: float) -> tuple[float, int]:
        return ((now - self.enqueued + self.cost) / self.cost, -self.seq)


class Scheduler:
    """Runs blocking functions in worker threads, fairly, at most ``settings.max_concurrent`` at once."""

    def __init__(self, settings: Settings):
        self.slots = settings.max_concurrent
        self.big_slots = max(1, self.slots - 1)
        self.big_job_seconds = settings.big_job_seconds
        self.max_queued_seconds = settings.max_queued_seconds
        self.torch_threads = settings.torch_threads
        self.waiting: list[Job] = []
        self.running = 0
        self.running_big = 0
        self.running_by_owner: Counter = Counter()
        self.computations = 0  # jobs started since start
        self._seq = itertools.count()

    # -- admission -----------------------------------------------------------------

    @property
    def queued_seconds(self) -> float:
        return sum(j.cost for j in self.waiting)

    def admit(self, cost: float) -> None:
        """Raise :class:`Busy` when a job of ``cost`` would overfill the queue (an empty queue takes any job)."""
        queued = self.queued_seconds
        if self.waiting and queued + cost > self.max_queued_seconds:
            raise Busy(queued, max(1, math.ceil(queued / self.slots)))

    def admit_low_priority(self) -> None:
        """Raise :class:`Busy` unless a slot is free and no job waits: a prefetch never queues, so it never
        delays anyone's own request (it only ever takes a slot that would otherwise sit idle)."""
        if self.waiting or self.running >= self.slots:
            queued = self.queued_seconds
            raise Busy(queued, max(1, math.ceil(queued / self.slots)))

    # -- running -------------------------------------------------------------------

    async def run(
        self, fn: Callable[..., R], *args: Any, cost: float, owner: object | None = None, tag: object | None = None
    ) -> R:
        """Run ``fn(*args)`` in a worker thread once a slot is free; ``cost`` in estimated seconds."""
        cost = max(cost, 1e-4)
        job = Job(cost, owner, tag, next(self._seq), time.monotonic(), cost > self.big_job_seconds)
        self.waiting.append(job)
        self._dispatch()
        try:
            await job.granted.wait()
        except BaseException:
            if job in self.waiting:
                self.waiting.remove(job)
            else:  # granted just as it was cancelled: give the slot back
                self._release(job)
            raise
        try:
            # Cancelling the caller waits for the thread (anyio shields it) and then raises,
            # so a cancelled computation keeps its slot until it really ends.
            return await anyio.to_thread.run_sync(self._in_thread, fn, args, job.big)
        finally:
            self._release(job)

    def _in_thread(self, fn: Callable[..., R], args: tuple, big: bool) -> R:
        # Set in every computation thread: the intra-op thread count is per-thread state under
        # OpenMP, and one thread per computation keeps the slots from oversubscribing the cores.
        if torch.get_num_threads() != self.torch_threads:
            torch.set_num_threads(self.torch_threads)
        try:
            return fn(*args)
        finally:
            if big:  # its temporaries are freed now; don't let the allocator sit on them
                release_free_memory()

    def _eligible(self, job: Job) -> bool:
        if job.big and self.running_big >= self.big_slots:
            return False
        return job.owner is None or self.running_by_owner[job.owner] == 0

    def _dispatch(self) -> None:
        now = time.monotonic()
        while self.running < self.slots:
            ready = [j for j in self.waiting if self._eligible(j)]
            if not ready:
                return
            # A big job only ever takes a slot that leaves another for small work, so when the big lane
            # has room it goes first: otherwise a steady stream of small jobs would starve it.
            big = [j for j in ready if j.big] if self.slots > 1 else []
            job = max(big or ready, key=lambda j: j.priority(now))
            self.waiting.remove(job)
            self.running += 1
            self.running_big += job.big
            if job.owner is not None:
                self.running_by_owner[job.owner] += 1
            self.computations += 1
            job.granted.set()

    def _release(self, job: Job) -> None:
        self.running -= 1
        self.running_big -= job.big
        if job.owner is not None:
            self.running_by_owner[job.owner] -= 1
            if self.running_by_owner[job.owner] <= 0:
                del self.running_by_owner[job.owner]
        self._dispatch()

    def position(self, tag: object) -> int | None:
        """1-based place in the queue of the job tagged ``tag``, by current priority; None when none waits."""
        now = time.monotonic()
        order = sorted(self.waiting, key=lambda j: j.priority(now), reverse=True)
        for i, j in enumerate(order):
            if j.tag is tag:
                return i + 1
        return None

    @property
    def queue_length(self) -> int:
        return len(self.waiting)
