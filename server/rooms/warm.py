"""A follow frame's setting, traced as the frame reaches a process with followers of its room.

Every follower's page asks for the presenter's new setting at once, as its link would: that request comes only
after the frame has gone out to each follower and back.  Started as the frame goes out, the one computation the
single-flight cache shares runs meanwhile, so the followers' requests find it in flight, or done.  Frames still
carry settings only.  Low priority, as a slider's prefetch: started only when a computation slot is idle (else the
followers' own requests start it) and never for a setting the server would refuse to trace.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable

from engine.config import parse_query
from server.scheduling import Busy
from server.scheduling.budgets import trace_too_long


def trace_warmer(sharing, max_trace_seconds: float) -> Callable[[str], None]:
    """``warm(frame)``: start tracing the setting of follow frame ``frame`` (its text) into ``sharing``'s cache."""
    running: set[asyncio.Task] = set()  # at most one a computation slot: a busy server refuses the rest at once

    async def trace(config) -> None:
        try:
            await sharing.prefetch("run", config)
        except Busy:
            pass

    def warm(frame: str) -> None:
        try:
            query = json.loads(frame)["state"]["query"]
        except (ValueError, KeyError, TypeError):
            return  # a closing frame, or one this process cannot read: nothing to trace
        config, _ = parse_query(query)  # as the follower's page reads the link, defaults for what it cannot
        if trace_too_long(config, max_trace_seconds) is not None:
            return
        task = asyncio.get_running_loop().create_task(trace(config))
        running.add(task)
        task.add_done_callback(running.discard)

    return warm
