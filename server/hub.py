"""What every route shares: settings, the scheduler, single flight and the caches, counters."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass

from server.scheduling import Scheduler
from server.settings import Settings
from server.sharing import Sharing
from server.uploads import Uploads


@dataclass
class Activity:
    """Counters shown by /healthz and read by the tests."""

    sessions: int = 0  # open websocket sessions
    runs: int = 0  # run and train requests numbered since start
    frames_sent: int = 0  # websocket frames sent since start
    stalled: int = 0  # sockets closed because their frames stopped draining


class Hub:
    def __init__(self, settings: Settings, tracer: Callable):
        self.settings = settings
        self.tracer = tracer  # Config -> engine.Trace
        self.scheduler = Scheduler(settings)
        self.sharing = Sharing(self.scheduler, tracer, settings.cache_bytes, settings.cache_url)
        self.activity = Activity()
        self.sessions: set = set()  # open sessions, for the stall watchdog
        # Uploads: the parse pool, the byte budget and the reconnect store (server/uploads/); never the shared cache.
        self.uploads = Uploads(settings)
        self._watchdog: asyncio.Task | None = None

    def watch(self, session) -> None:
        """Track ``session`` for stalls; the one watchdog task starts with the first session of a loop."""
        self.sessions.add(session)
        if self._watchdog is None or self._watchdog.done():
            self._watchdog = asyncio.get_running_loop().create_task(self._watch_stalls())

    def unwatch(self, session) -> None:
        self.sessions.discard(session)

    async def _watch_stalls(self) -> None:
        """Close every socket whose send has made no progress for ``stall_seconds``.

        One task for the whole process, a few checks per limit: a timer around every send (or a
        watchdog per socket) would cost more than the sends themselves in a room of sockets.
        """
        while self.sessions:
            await asyncio.sleep(self.settings.stall_seconds / 4)
            now = time.monotonic()
            for session in [s for s in self.sessions if s.stalled(now)]:
                self.sessions.discard(session)
                asyncio.get_running_loop().create_task(session.close_stalled())
