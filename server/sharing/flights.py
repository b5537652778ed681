"""Each distinct request is computed once: single flight in front of a byte-budgeted cache.

A request (``run``, ``train`` or a ``/api/trace`` document) is named by :func:`server.sharing.keys.request_key`.
:meth:`Sharing.serve` hands its caller the result's units in order:

1. from the in-process cache, if a finished recording is there;
2. else from the computation already in flight for the same key (a :class:`Flight`): every unit
   produced so far, then the rest as they come, so a student who joins late gets the same
   stream as the first;
3. else it starts that computation.  The flight first asks the shared Redis cache, if one is
   configured, and only computes on a miss.

A flight runs in its own task, not in any one socket's: one client's stop or disconnect only
unsubscribes that client.  When its last subscriber leaves, the flight is cancelled (a
computation already in a worker thread finishes there and is discarded).  A finished,
successful flight becomes a cache entry shared by every later request.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING

import anyio

from engine import Config
from engine.lab import Trainer, profiled, trace_trained
from server.scheduling import cost
from server.sharing.cache import CacheStats, MemoryCache, RedisCache
from server.sharing.keys import base_kind, lag_rows_for, request_key, with_lag
from server.wire import Recording, Unit, document_bytes, dumps, trace_document, trace_units
from server.wire import training_frames as training

__all__ = ["Sharing", "error_unit", "stream_training"]

if TYPE_CHECKING:
    from server.scheduling import Scheduler

log = logging.getLogger(__name__)

Deliver = Callable[[Sequence[Unit]], Awaitable[None]]  # called with the units available, in order
Waiting = Callable[[int], Awaitable[None]]  # told the flight's place in the queue while it waits
Computing = Callable[[float], Awaitable[None]]  # told the estimated seconds left when the answer must be computed


class Flight:
    """One computation in progress and the units it has produced so far."""

    def __init__(self, key: str, kind: str, owner: object | None = None):
        self.key = key
        self.kind = kind
        self.owner = owner  # the client that started it
        self.units: list[Unit] = []
        self.finished = False  # no more units will come
        self.subscribers = 0
        self.task: asyncio.Task | None = None
        # Cancelled through anyio, not task.cancel(): anyio's worker-thread wait is shielded only
        # from anyio cancellation, and the slot must stay held until the thread really ends.
        self.scope = anyio.CancelScope()
        self.cancelled = False
        self.changed = anyio.Event()
        self.born = time.monotonic()

    def append(self, unit: Unit) -> None:
        self.units.append(unit)
        self._notify()

    def extend(self, units) -> None:
        self.units.extend(units)
        self._notify()

    def finish(self) -> None:
        self.finished = True
        self._notify()

    def _notify(self) -> None:
        self.changed.set()
        self.changed = anyio.Event()


async def _discard(units: Sequence[Unit]) -> None:
    """A prefetch's subscriber: the units go to the cache, not to a socket."""


def error_unit(message: str) -> Unit:
    return Unit(dumps({"type": "error", "message": message, "field": None}))


class Sharing:
    """Single flight and the caches, for every socket and HTTP request of this process."""

    def __init__(self, scheduler: Scheduler, tracer: Callable, cache_bytes: int, redis_url: str | None = None):
        self.scheduler = scheduler
        self.tracer = tracer  # Config -> engine.Trace
        self.memory = MemoryCache(cache_bytes)
        self.redis = RedisCache(redis_url) if redis_url else None
        self.flights: dict[str, Flight] = {}
        self.stats = CacheStats()

    # -- serving -------------------------------------------------------------------

    async def serve(
        self, kind: str, config: Config, deliver: Deliver, owner: object | None = None, waiting: Waiting | None = None,
        computing: Computing | None = None,
    ) -> None:
        """Deliver every unit of ``kind``'s result for ``config``, in order.

        ``computing`` is told, before anything is delivered, the estimated seconds the computation still takes
        (server/scheduling/cost.py) when the answer is not in the cache: a new flight's whole estimate, a joined
        one's estimate less the time it has run.  Raises :class:`server.scheduling.scheduler.Busy` when it would
        have to start a computation and the queue is full.  Cancelling the caller unsubscribes it (and cancels the
        flight if it was the last one waiting for it).
        """
        key = request_key(kind, config)
        rec = self.memory.get(key)
        if rec is not None:
            self.stats.hits += 1
            await deliver(rec.units)  # one hand-over for the whole recording: a room asks for the same at once
            return
        flight = self.flights.get(key)
        if flight is None:
            self.scheduler.admit(self._first_cost(kind, config))
            flight = self._start(key, kind, config, owner)
        else:
            self.stats.shared += 1
        announce = None
        if computing is not None:
            estimate = self._first_cost(kind, config)
            announce = lambda: computing(max(0.0, estimate - (time.monotonic() - flight.born)))  # noqa: E731
        await self._subscribe(flight, deliver, waiting, announce)

    async def prefetch(self, kind: str, config: Config) -> None:
        """Compute ``kind``'s result for ``config`` into the cache, delivering nothing: a slider's neighbouring
        value, asked for before the student gets there.

        Returns at once when the result is cached or already computing.  Raises
        :class:`server.scheduling.scheduler.Busy` unless a computation slot is idle and nothing waits for one
        (:meth:`Scheduler.admit_low_priority`).  Cancelling the caller cancels the computation unless a real
        request has joined it meanwhile.
        """
        key = request_key(kind, config)
        if self.memory.get(key) is not None or key in self.flights:
            return
        self.scheduler.admit_low_priority()
        await self._subscribe(self._start(key, kind, config, None), _discard, None)

    async def _subscribe(self, flight: Flight, deliver: Deliver, waiting: Waiting | None,
                         announce: Callable[[], Awaitable[None]] | None = None) -> None:
        flight.subscribers += 1
        try:
            if announce is not None:  # the computing frame, before anything is delivered
                await announce()
            await self._follow(flight, deliver, waiting)
        finally:
            flight.subscribers -= 1
            if flight.subscribers == 0 and not flight.finished:
                self._cancel(flight)

    async def _follow(self, flight: Flight, deliver: Deliver, waiting: Waiting | None) -> None:
        sent = 0
        while True:
            if sent < len(flight.units):
                ready = flight.units[sent:]
                await deliver(ready)
                sent += len(ready)
                continue
            if flight.finished:
                return
            changed = flight.changed
            if sent == 0 and waiting is not None:
                # Before anything arrives, say where the work stands in the queue once a second.
                with anyio.move_on_after(1.0):
                    await changed.wait()
                if not changed.is_set():
                    place = self.scheduler.position(flight)
                    if place is not None:
                        await waiting(place)
            else:
                await changed.wait()

    def _first_cost(self, kind: str, config: Config) -> float:
        return cost.trace_seconds(config, lag=with_lag(kind))

    def _start(self, key: str, kind: str, config: Config, owner: object | None) -> Flight:
        flight = Flight(key, kind, owner)
        self.flights[key] = flight
        produce = {"run": self._produce_run, "document": self._produce_document, "train": self._produce_training}
        task = self._produce(flight, produce[base_kind(kind)], config, owner)
        flight.task = asyncio.get_running_loop().create_task(task)
        return flight

    def _trace(self, flight: Flight, config: Config):
        """The tracer's Trace of ``config``, with the lag map when the request asked for it."""
        if with_lag(flight.kind):
            return self.tracer(config, lag_rows=lag_rows_for(config))
        return self.tracer(config)

    def _cancel(self, flight: Flight) -> None:
        if self.flights.get(flight.key) is flight:
            del self.flights[flight.key]
        flight.finished = True
        flight.cancelled = True
        flight.scope.cancel()

    # -- producing -----------------------------------------------------------------

    async def _produce(self, flight: Flight, produce, config: Config, owner: object | None) -> None:
        with flight.scope:
            await self._produce_in_scope(flight, produce, config, owner)

    async def _produce_in_scope(self, flight: Flight, produce, config: Config, owner: object | None) -> None:
        complete = False
        try:
            rec = await self._remote_get(flight.key, flight.kind, config)
            if rec is not None:
                flight.extend(rec.units)
                complete = True
                self.memory.put(flight.key, rec)
                return
            self.stats.misses += 1
            await produce(flight, config, owner)
            complete = True
        except Exception as e:  # the engine failed on a valid config: a bug, reported to this request's clients
            log.exception("%s failed for %s", flight.kind, config)
            verb = "training" if base_kind(flight.kind) == "train" else "the trace"
            flight.append(error_unit(f"{verb} failed: {type(e).__name__}: {e}"))
        finally:
            if self.flights.get(flight.key) is flight:
                del self.flights[flight.key]
            flight.finish()
        if complete:
            rec = Recording.of(flight.units)
            if self.memory.put(flight.key, rec) and self.redis is not None:
                await self.redis.put(flight.key, rec)

    async def _remote_get(self, key: str, kind: str, config: Config) -> Recording | None:
        if self.redis is None:
            return None
        rec = await self.redis.get(key, kind, config)
        if rec is not None:
            self.stats.hits += 1
            self.stats.redis_hits += 1
        return rec

    async def _compute(self, flight: Flight, fn: Callable, *args, cost_s: float, owner: object | None):
        # One core per client applies to a client's own work; a computation several sockets follow serves a
        # room, and must not wait behind whatever its first client does next.
        owner = owner if flight.subscribers <= 1 else None
        return await self.scheduler.run(fn, *args, cost=cost_s, owner=owner, tag=flight)

    async def _produce_run(self, flight: Flight, config: Config, owner: object | None) -> None:
        def encode() -> list[Unit]:
            started = time.perf_counter()
            return trace_units(self._trace(flight, config), started)

        cost_s = cost.trace_seconds(config, lag=with_lag(flight.kind))
        flight.extend(await self._compute(flight, encode, cost_s=cost_s, owner=owner))

    async def _produce_document(self, flight: Flight, config: Config, owner: object | None) -> None:
        def document() -> Unit:
            started = time.perf_counter()
            return Unit(None, document_bytes(trace_document(self._trace(flight, config), started)))

        cost_s = cost.trace_seconds(config, lag=with_lag(flight.kind))
        flight.append(await self._compute(flight, document, cost_s=cost_s, owner=owner))

    async def _produce_training(self, flight: Flight, config: Config, owner: object | None) -> None:
        async def compute(fn, *args, cost_s: float):
            return await self._compute(flight, fn, *args, cost_s=cost_s, owner=owner)

        async def emit(units: Sequence[Unit]) -> None:
            flight.extend(units)

        await stream_training(compute, emit, config, with_lag(flight.kind),
                              lambda rows: Trainer(config, lag_rows=rows),
                              lambda model, rows: trace_trained(model, config, lag_rows=rows))

    # -- reporting -----------------------------------------------------------------

    def report(self) -> dict:
        s = self.stats
        return {
            "hits": s.hits,
            "redis_hits": s.redis_hits,
            "misses": s.misses,
            "shared": s.shared,
            "in_flight": len(self.flights),
            "entries": len(self.memory),
            "bytes": self.memory.bytes,
            "budget_bytes": self.memory.budget,
            "evictions": self.memory.evictions,
            "redis": None if self.redis is None else ("down" if self.redis.down_since is not None else "up"),
            "redis_refused": 0 if self.redis is None else self.redis.refused,
        }


async def stream_training(compute: Callable[..., Awaitable], emit: Deliver, config: Config, lag: bool,
                          make_trainer: Callable[[int], Trainer], trace_trained_model: Callable) -> None:  # fmt: skip
    """A training's units, handed to ``emit`` in order: ``train_start``, each step's (with its ``lag`` frame when
    ``lag`` and the step is profiled), ``train_done``, then the trained model's trace (with its ``lag`` frame).

    Each optimizer step is its own computation, so a class of trainers and tracers take turns:
    ``compute(fn, *args, cost_s=s)`` runs ``fn(*args)`` in a worker slot, priced ``s``.  ``make_trainer(rows)``
    builds the Trainer and ``trace_trained_model(model, rows)`` traces the trained model, ``rows`` = the lag map's
    rows (0 without it).  Shared trainings (:class:`Sharing`) and an upload's own (server/uploads/runs.py) alike.
    """
    rows = lag_rows_for(config) if lag else 0
    trainer = await compute(make_trainer, rows, cost_s=cost.train_step_seconds(config))
    await emit((Unit(training.start_frame(trainer)),))
    steps, k = trainer.steps(), 1  # k: the step the next call computes (past the last: the call that ends)

    def step_s() -> float:
        return cost.train_step_seconds(config, lag=lag and k <= config.steps and profiled(k, config.steps))

    while (report := await compute(next, steps, None, cost_s=step_s())) is not None:
        await emit(training.step_units(report, config.steps))
        k += 1
    await emit((Unit(training.done_frame(trainer.result)),))

    def trained() -> list[Unit]:
        started = time.perf_counter()
        return trace_units(trace_trained_model(trainer.model, rows), started)

    await emit(await compute(trained, cost_s=cost.trace_seconds(config, lag=lag)))
