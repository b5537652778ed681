"""One websocket session: a receiver, a sender and at most one run in flight.

The receiver reads client messages and starts or cancels runs; each run
computes its trace in a worker thread and queues its frames in a bounded
outbox; the sender drains the outbox onto the socket.  All three live in one
task group, so a disconnect cancels everything the session started.

Cancellation (a newer run, ``stop``, a disconnect) is prompt: the run's task is
cancelled, frames it already queued are dropped by the sender, and
``cancelled`` is queued behind them.  A text frame and its binary frame leave
as one unit, so a client never sees a binary frame without its header.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import anyio
from anyio.abc import TaskGroup
from starlette.websockets import WebSocket, WebSocketDisconnect

from engine import Config
from engine.experiment import trace_trained
from engine.training import Trainer
from server import training
from server.compute import Hub
from server.frames import FramePlan, plan_frames
from server.messages import ProtocolError, parse_message
from server.wire import dumps

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Outgoing:
    run: int | None  # the run these frames belong to; None for frames that are never dropped
    frames: tuple[str] | tuple[str, bytes]


@dataclass
class InFlight:
    run: int
    scope: anyio.CancelScope


class Session:
    def __init__(self, ws: WebSocket, hub: Hub):
        self.ws = ws
        self.hub = hub
        self.settings = hub.settings
        self.outbox, self.outbox_reader = anyio.create_memory_object_stream[Outgoing](self.settings.outbox_size)
        self.runs = 0  # the per-socket run counter: run k is the k-th run or train request
        self.current: InFlight | None = None
        self.dropped_through = 0  # frames of runs numbered <= this are never sent
        self.tg: TaskGroup | None = None

    async def serve(self) -> None:
        self.hub.activity.sessions += 1
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
                await self.error("binary frames are not accepted; send JSON text", None)
                continue
            try:
                msg = parse_message(text, self.settings.max_message_bytes, self.settings.max_depth)
            except ProtocolError as e:
                run = await self.new_run() if e.request is not None else None
                await self.error(e.message, e.field, run)
                continue
            if msg.type == "stop":
                await self.cancel_current()
            else:
                flight = InFlight(await self.new_run(), anyio.CancelScope())
                self.current = flight
                assert self.tg is not None
                self.tg.start_soon(self.train if msg.type == "train" else self.run, flight, msg.config)

    async def error(self, message: str, field: str | None, run: int | None = None) -> None:
        frame = dumps({"type": "error", "run": run, "message": message, "field": field})
        await self.outbox.send(Outgoing(None, (frame,)))

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
        await self.outbox.send(Outgoing(None, (dumps({"type": "cancelled", "run": flight.run}),)))

    # -- running -----------------------------------------------------------------

    async def run(self, flight: InFlight, config: Config) -> None:
        with flight.scope:
            try:
                plan = await self.hub.compute.run(self._plan, config, flight.run)
            except Exception as e:  # the engine failed on a valid config: a bug, reported to this run only
                log.exception("trace failed for %s", config)
                message = f"the trace failed: {type(e).__name__}: {e}"
                frame = dumps({"type": "error", "run": flight.run, "message": message, "field": None})
                await self.outbox.send(Outgoing(flight.run, (frame,)))  # dropped, like its frames, if cancelled
                self._finish(flight)
                return
            for unit in plan.frames():
                await self.outbox.send(Outgoing(flight.run, unit))
            self._finish(flight)

    async def train(self, flight: InFlight, config: Config) -> None:
        """Stream training step by step, then the trained model's trace as an ordinary run's frames."""
        with flight.scope:
            try:
                trainer = await self.hub.compute.run(Trainer, config)
                await self.outbox.send(Outgoing(flight.run, (training.start_frame(trainer, flight.run),)))
                steps = trainer.steps()
                while (report := await self.hub.compute.run(next, steps, None)) is not None:
                    await self.outbox.send(
                        Outgoing(flight.run, (training.step_frame(report, config.steps, flight.run),))
                    )
                done = training.done_frame(trainer.result, flight.run)
                await self.outbox.send(Outgoing(flight.run, (done,)))
                started = time.perf_counter()
                plan = await self.hub.compute.run(
                    lambda: plan_frames(trace_trained(trainer.model, config), flight.run, started)
                )
            except Exception as e:  # a bug in the engine, reported to this run only
                log.exception("training failed for %s", config)
                message = f"training failed: {type(e).__name__}: {e}"
                frame = dumps({"type": "error", "run": flight.run, "message": message, "field": None})
                await self.outbox.send(Outgoing(flight.run, (frame,)))
                self._finish(flight)
                return
            for unit in plan.frames():
                await self.outbox.send(Outgoing(flight.run, unit))
            self._finish(flight)

    def _plan(self, config: Config, run: int) -> FramePlan:
        started = time.perf_counter()
        return plan_frames(self.hub.tracer(config), run, started)

    def _finish(self, flight: InFlight) -> None:
        if self.current is flight:
            self.current = None

    # -- sending -----------------------------------------------------------------

    async def sender(self) -> None:
        """Drain the outbox onto the socket; a failed send ends the session."""
        activity = self.hub.activity
        try:
            async for item in self.outbox_reader:
                if item.run is not None and item.run <= self.dropped_through:
                    continue
                for frame in item.frames:
                    if isinstance(frame, str):
                        await self.ws.send_text(frame)
                    else:
                        await self.ws.send_bytes(frame)
                    activity.frames_sent += 1
        except (WebSocketDisconnect, OSError, RuntimeError):
            assert self.tg is not None
            self.tg.cancel_scope.cancel()
