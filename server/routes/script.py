"""``GET /api/script?<a teaching link's query>``: the setting as a standalone PyTorch script."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from engine import ConfigError
from server.script import filename, render_script, strict_config
from server.wire import error_response

router = APIRouter(prefix="/api", tags=["api"])

MEDIA_TYPE = "text/x-python"


# Its statuses are documented in server/openapi.py.
@router.get("/script")
async def script(request: Request) -> Response:
    """The script for the link's setting (text/x-python): torch and numpy only, same numbers as ``/api/trace``.

    400 when a key is given twice, 422 for an unknown key, a bad value or a setting the script cannot write
    out; each ``{"message", "field"}``.
    Rendering the template takes well under a millisecond, so it runs on the event loop.
    """
    items = request.query_params.multi_items()
    keys = [k for k, _ in items]
    repeated = next((k for k in keys if keys.count(k) > 1), None)
    if repeated is not None:
        return error_response(400, f"link key {repeated!r} is given more than once", repeated)
    try:
        config = strict_config(dict(items))
        text = render_script(config, str(request.base_url))
    except ConfigError as e:  # a bad value, or a setting the script cannot write out: the key at fault
        return error_response(422, e.message, e.field)
    return Response(
        text,
        media_type=MEDIA_TYPE,
        headers={"Content-Disposition": f'inline; filename="{filename(config)}"'},
    )
