"""Liveness and load: ``GET /healthz``."""

from __future__ import annotations

from fastapi import APIRouter, Request

from server.responses import StrictJSONResponse

router = APIRouter(tags=["health"])


@router.get("/healthz", response_class=StrictJSONResponse)
async def healthz(request: Request) -> StrictJSONResponse:
    """``{"status": "ok"}`` plus this process's load: open sessions, computations running and waiting."""
    hub = request.app.state.hub
    return StrictJSONResponse(
        {
            "status": "ok",
            "sessions": hub.activity.sessions,
            "computing": hub.compute.running,
            "waiting": hub.compute.waiting,
        }
    )
