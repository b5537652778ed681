"""HTTP responses whose JSON goes through the strict encoder (:mod:`server.wire`)."""

from __future__ import annotations

from typing import Any

from fastapi.responses import JSONResponse

from server.wire.encoding import dumps_bytes

__all__ = ["StrictJSONResponse", "busy_response", "error_response"]


class StrictJSONResponse(JSONResponse):
    """JSON with non-finite numbers written as "inf"/"-inf"/"nan", never as bare tokens."""

    def render(self, content: Any) -> bytes:
        return dumps_bytes(content)


def error_response(status: int, message: str, field: str | None) -> StrictJSONResponse:
    return StrictJSONResponse({"message": message, "field": field}, status_code=status)


def busy_response(busy) -> StrictJSONResponse:
    """503 for a full queue (:class:`server.scheduling.scheduler.Busy`), with ``Retry-After``."""
    return StrictJSONResponse(
        {"message": busy.message, "field": None, "retry_after_s": busy.retry_after_s},
        status_code=503,
        headers={"Retry-After": str(busy.retry_after_s)},
    )
