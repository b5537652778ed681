"""One websocket session: a receiver, a sender and at most one request in flight.

The receiver reads client messages and starts or cancels requests; a request subscribes to
its result through :class:`server.sharing.flights.Sharing` (the cache, or the one computation in
flight for the same key) and queues the units in a bounded outbox, labelled with this
socket's run number; the sender drains the outbox onto the socket.  All three live in one
task group, so a disconnect cancels everything the session started, and unsubscribes it
from shared computations without touching other sockets.

Cancellation (a newer run, ``stop``, a disconnect) is prompt: the request's task is
cancelled, frames it already queued are dropped by the sender, and ``cancelled`` is queued
behind them.  A text frame and its binary frame leave as one unit, so a client never sees a
binary frame without its header.  A socket whose frames stop draining for
``stall_seconds`` is closed with code 1008 and releases everything it held.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass

import anyio
import anyio.lowlevel
from anyio.abc import TaskGroup
from starlette.websockets import WebSocket, WebSocketDisconnect

from engine import Config
from engine.lab import Sweep
from server import sweeps
from server.hub import Hub
from server.scheduling import Busy
from server.scheduling.budgets import trace_too_long, training_too_long
from server.sharing import LAG, base_kind
from server.uploads import UPLOAD_MESSAGES, SocketUploads, UploadRefused, serve_private
from server.wire import Message, ProtocolError, Unit, dumps, parse_message

log = logging.getLogger(__name__)

# A run whose trace is estimated to take at least this long is announced with its estimate (a `computing` frame).
COMPUTING_FRAME_S = 0.15


@dataclass
class InFlight:
    run: int
    scope: anyio.CancelScope


@dataclass(frozen=True)
class Outgoing:
    run: int | None  # the run these units belong to; None for frames that are never dropped
    units: Sequence[Unit]  # their texts are labelled with `run` as they are sent
    ends: InFlight | None = None  # the request these are the last units of: it is over once they are sent


class Session:
    def __init__(self, ws: WebSocket, hub: Hub):
        self.ws: WebSocket | None = ws
        self.hub = hub
        self.settings = hub.settings
        self.outbox, self.outbox_reader = anyio.create_memory_object_stream[Outgoing](self.settings.outbox_size)
        self.runs = 0  # the per-socket run counter: run k is the k-th run or train request
        self.current: InFlight | None = None
        self.dropped_through = 0  # frames of runs numbered <= this are never sent
        self.tg: TaskGroup | None = None
        self.send_started: float | None = None  # time.monotonic() the send in progress began, if any
        self.prefetching: anyio.CancelScope | None = None  # the socket's one prefetch batch, if any
        # This socket's own model and series (server/uploads/socket.py); a client is its peer address.
        client = ws.client.host if ws.client else ""
        self.uploads = SocketUploads(hub.uploads, client, self.settings.max_frame_bytes, self.send_frame)

    async def serve(self) -> None:
        self.hub.activity.sessions += 1
        self.hub.watch(self)
        try:
            async with anyio.create_task_group() as tg:
                self.tg = tg
                tg.start_soon(self.sender)
                try:
                    await self.receiver()
                finally:
                    tg.cancel_scope.cancel()
        finally:
            self.hub.activity.sessions -= 1
            self.hub.unwatch(self)
            self.uploads.close()  # its uploads' memory goes now, not at the next garbage collection
            # The socket's graph (the websocket, uvicorn's protocol and its buffers, the task group) is let go of
            # here, so it is freed as the socket ends, not left to the cyclic collector, whose collections a room of
            # sockets would otherwise trigger again and again (docs/performance/classroom.md).  The session
            # itself may stay in a cycle a while: a sender cancelled while waiting leaves its frame in one of anyio's.
            self.tg = self.ws = None

    # -- receiving ---------------------------------------------------------------

    async def receiver(self) -> None:
        """Read messages until the client leaves.

        Every run or train request takes the next run number, valid or not, and cancels
        the run in flight: a client that counts its own requests knows which run to keep.
        """
        while True:
            message = await self.ws.receive()
            if message["type"] == "websocket.disconnect":
                return
            text = message.get("text")
            if text is None:
                await self.uploads.binary(message.get("bytes") or b"")
                continue
            await self.uploads.text()
            try:
                msg = parse_message(text, self.settings.max_message_bytes, self.settings.max_depth)
            except ProtocolError as e:
                run = await self.new_run() if e.request is not None else None
                await self.error(e.message, e.field, run)
                continue
            if msg.type == "stop":
                await self.cancel_current()
                continue
            if msg.type == "prefetch":
                self.prefetch(msg)
                continue
            if msg.type in UPLOAD_MESSAGES:
                await self.uploads.message(msg)
                continue
            run = await self.new_run()
            if msg.type == "sweep":
                await self.start_sweep(run, msg.sweep)
                continue
            try:
                config, own = self.uploads.for_run(msg.config)
            except UploadRefused as e:
                await self.error(e.message, e.field, run)
                continue
            too_long = (training_too_long(config, self.settings.max_train_seconds, msg.lag) if msg.type == "train"
                        else None)  # fmt: skip
            if too_long is not None:
                await self.error(too_long, "steps", run)
                continue
            refused = trace_too_long(config, self.settings.max_trace_seconds, msg.lag) if msg.type == "run" else None
            if refused is not None:
                await self.error(*refused, run)
                continue
            flight = InFlight(run, anyio.CancelScope())
            self.current = flight
            assert self.tg is not None
            kind = msg.type + LAG if msg.lag else msg.type
            self.tg.start_soon(self.request, flight, kind, config, own)

    async def send_frame(self, frame: dict) -> None:
        """Queue a frame that belongs to no run (an upload's answer): never dropped."""
        await self.outbox.send(Outgoing(None, (Unit(dumps(frame)),)))

    async def error(self, message: str, field: str | None, run: int | None = None) -> None:
        frame = {"type": "error", "run": run, "message": message, "field": field}
        await self.outbox.send(Outgoing(None, (Unit(dumps(frame)),)))  # already labelled; never dropped

    async def new_run(self) -> int:
        """Cancel the run in flight and number the new request."""
        await self.cancel_current()
        self.runs += 1
        self.hub.activity.runs += 1
        return self.runs

    async def cancel_current(self) -> None:
        """Cancel the run in flight, if any, and tell the client; a no-op when idle."""
        if self.current is None:
            return
        flight, self.current = self.current, None
        flight.scope.cancel()
        # Runs start in order, so every run up to this one has finished or is cancelled:
        # the sender drops what they queued, but not the cancelled frame (run None).
        self.dropped_through = flight.run
        await self.outbox.send(Outgoing(None, (Unit(dumps({"type": "cancelled", "run": flight.run})),)))

    # -- requests ----------------------------------------------------------------

    async def request(self, flight: InFlight, kind: str, config: Config, own=None) -> None:
        """Stream the result of a run or train request, shared with every socket that asks the same."""

        async def deliver(units: Sequence[Unit]) -> None:
            await self.outbox.send(Outgoing(flight.run, units))

        async def waiting(place: int) -> None:
            await self.outbox.send(Outgoing(flight.run, (Unit(dumps({"type": "queued", "position": place})),)))

        async def computing(seconds: float) -> None:
            # Only a run's trace, and only one long enough for a page to show its progress: a drag's quick runs
            # and a training (whose steps carry their own progress) send nothing more.
            if base_kind(kind) == "run" and seconds >= COMPUTING_FRAME_S:
                frame = {"type": "computing", "estimate_s": round(seconds, 3)}
                await self.outbox.send(Outgoing(flight.run, (Unit(dumps(frame)),)))

        with flight.scope:
            try:
                if own is None:
                    await self.hub.sharing.serve(kind, config, deliver, self, waiting, computing)
                else:  # the socket's own model or data: computed for it alone, never cached (server/uploads/runs.py)
                    await serve_private(self.hub.scheduler, kind, config, *own, deliver, self, computing)
            except Busy as e:
                await self.outbox.send(Outgoing(flight.run, (busy_unit(e),)))
            # Still the request in flight until the sender has sent its last unit: a stop meanwhile cancels it.
            await self.outbox.send(Outgoing(flight.run, (), ends=flight))

    async def start_sweep(self, run: int, spec: Sweep) -> None:
        """Refuse a sweep over the limits up front, else stream its points as run ``run`` (server/sweeps.py).

        A sweep is of the lab's own settings: the socket's uploaded model or series never enters one.
        """
        problem = sweeps.refusal(spec, self.settings)
        if problem is not None:
            await self.error(problem.message, problem.field, run)
            return
        flight = InFlight(run, anyio.CancelScope())
        self.current = flight
        assert self.tg is not None
        self.tg.start_soon(self.sweep, flight, spec)

    async def sweep(self, flight: InFlight, spec: Sweep) -> None:
        """Stream a sweep: ``sweep_start`` with its estimate, a ``sweep_point`` as each point ends, ``sweep_done``."""
        started = time.perf_counter()

        async def emit(point, result) -> None:
            await self.outbox.send(Outgoing(flight.run, (sweeps.point_frame(spec, point, result),)))

        with flight.scope:
            start = sweeps.start_frame(spec, sweeps.estimate_seconds(spec))
            await self.outbox.send(Outgoing(flight.run, (start,)))
            try:
                await sweeps.serve_sweep(self.hub.sharing, spec, emit, self)
                await self.outbox.send(Outgoing(flight.run, (sweeps.done_frame(spec, started),)))
            except Busy as e:
                await self.outbox.send(Outgoing(flight.run, (busy_unit(e),)))
            except sweeps.SweepFailed as e:
                await self.outbox.send(Outgoing(flight.run, (Unit(dumps({"type": "error", "message": str(e),
                                                                          "field": None})),)))  # fmt: skip
            await self.outbox.send(Outgoing(flight.run, (), ends=flight))

    def prefetch(self, msg: Message) -> None:
        """Compute a slider's neighbouring settings into the cache while the server is otherwise idle.

        One batch per socket (a new one replaces the one before: its computations stop unless a request joined
        them), at most MAX_PREFETCH settings, each refused unless a slot is idle and nothing waits.  Answered with
        one ``prefetched`` frame (no run): how many are ready, and ``busy`` with a retry hint when refused.
        """
        if self.prefetching is not None:
            self.prefetching.cancel()
        scope = self.prefetching = anyio.CancelScope()
        assert self.tg is not None
        self.tg.start_soon(self._prefetch, scope, msg)

    async def _prefetch(self, scope: anyio.CancelScope, msg: Message) -> None:
        kind = "run" + LAG if msg.lag else "run"
        frame: dict = {"type": "prefetched", "ready": 0}
        with scope:
            try:
                for config in msg.configs:
                    config, own = self.uploads.for_run(config)
                    if own is not None:  # the socket's own model or data is never cached: nothing to warm
                        break
                    if trace_too_long(config, self.settings.max_trace_seconds, msg.lag) is not None:
                        break  # a run of it would be refused: nothing to warm
                    await self.hub.sharing.prefetch(kind, config)
                    frame["ready"] += 1
            except Busy as e:
                frame.update(busy=True, retry_after_s=e.retry_after_s)
            except UploadRefused:
                pass
            await self.outbox.send(Outgoing(None, (Unit(dumps(frame)),)))

    def _finish(self, flight: InFlight) -> None:
        if self.current is flight:
            self.current = None

    # -- sending -----------------------------------------------------------------

    async def sender(self) -> None:
        """Drain the outbox onto the socket; a failed send ends the session."""
        activity = self.hub.activity
        sent = 0
        try:
            async for item in self.outbox_reader:
                for unit in item.units:
                    # Checked before every unit: a cancel that lands mid-item stops the rest of it.
                    if item.run is not None and item.run <= self.dropped_through:
                        break
                    self.send_started = time.monotonic()
                    if unit.text is not None:
                        await self.ws.send_text(unit.text_for(item.run) if item.run is not None else unit.text)
                        activity.frames_sent += 1
                    if unit.data is not None:
                        await self.ws.send_bytes(unit.data)
                        activity.frames_sent += 1
                    self.send_started = None
                    sent += 1
                    if unit.data is not None or sent % 16 == 0:
                        # A send into a socket with room does not yield; let a stop be read between messages.
                        await anyio.lowlevel.checkpoint()
                if item.ends is not None:
                    self._finish(item.ends)
        except (WebSocketDisconnect, OSError, RuntimeError):
            assert self.tg is not None
            self.tg.cancel_scope.cancel()

    def stalled(self, now: float) -> bool:
        """Whether one send has made no progress for ``stall_seconds`` (checked by the hub's watchdog)."""
        started = self.send_started
        return started is not None and now - started > self.settings.stall_seconds

    async def close_stalled(self) -> None:
        """Close with 1008 (policy violation) and end the session, releasing everything it held."""
        self.hub.activity.stalled += 1
        log.info("closing a socket whose frames stopped draining for %s s", self.settings.stall_seconds)
        if self.tg is not None:
            self.tg.cancel_scope.cancel()
        ws = self.ws  # None once the session has ended
        if ws is not None:
            with anyio.move_on_after(1.0):
                await ws.close(code=1008, reason="frames stopped draining")


def busy_unit(e: Busy) -> Unit:
    """The error frame of a request refused because the queue is full, with its retry hint."""
    return Unit(dumps({"type": "error", "message": e.message, "field": None, "busy": True,
                       "retry_after_s": e.retry_after_s}))  # fmt: skip

