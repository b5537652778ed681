"""Liveness and load: ``GET /healthz``."""

from __future__ import annotations

from fastapi import APIRouter, Request

from server.wire import StrictJSONResponse

router = APIRouter(tags=["health"])


@router.get("/healthz", response_class=StrictJSONResponse)
async def healthz(request: Request) -> StrictJSONResponse:
    """``{"status": "ok"}`` plus this process's load and its cache (see docs/protocol.md)."""
    hub = request.app.state.hub
    scheduler = hub.scheduler
    return StrictJSONResponse(
        {
            "status": "ok",
            "sessions": hub.activity.sessions,
            "computing": scheduler.running,
            "waiting": scheduler.queue_length,
            "queued_s": round(scheduler.queued_seconds, 3),
            "computations": scheduler.computations,
            "stalled_closed": hub.activity.stalled,
            "cache": hub.sharing.report(),
            "uploads": hub.uploads.report(),
        }
    )
