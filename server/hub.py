"""What every route shares: settings, the scheduler, single flight and the caches, counters."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from server.scheduler import Scheduler
from server.settings import Settings
from server.sharing import Sharing


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
