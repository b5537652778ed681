"""The API's own page, ``GET /docs``: Swagger UI served from an installed package, never from a CDN.

The assets come from the ``fastapi-offline`` wheel (Swagger UI 5, which reads OpenAPI 3.1, the
version FastAPI writes).  FastAPI's own docs page starts Swagger UI with an inline script, which the
Content-Security-Policy forbids; this page loads ``static/js/docs.js`` instead.  ReDoc is off: it
would need a second bundle and fonts from a CDN.
"""

from __future__ import annotations

from html import escape
from importlib import resources

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import FileResponse, HTMLResponse

router = APIRouter(tags=["docs"])

# Served name -> media type; nothing else of the package is reachable.
ASSETS = {"swagger-ui-bundle.js": "text/javascript", "swagger-ui.css": "text/css", "favicon.png": "image/png"}

PAGE = """<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>{title} — API</title>
  <link rel="icon" href="/vendor/swagger-ui/favicon.png">
  <link rel="stylesheet" href="/vendor/swagger-ui/swagger-ui.css">
</head>
<body>
  <div id="swagger-ui" data-openapi-url="{openapi_url}"></div>
  <script src="/vendor/swagger-ui/swagger-ui-bundle.js"></script>
  <script src="/static/js/docs.js"></script>
</body>
</html>
"""


@router.get("/docs", response_class=HTMLResponse, include_in_schema=False)
async def docs_page(request: Request) -> HTMLResponse:
    app = request.app
    root = request.scope.get("root_path", "")
    return HTMLResponse(PAGE.format(title=escape(app.title), openapi_url=escape(f"{root}{app.openapi_url}")))


@router.get("/vendor/swagger-ui/{name}", include_in_schema=False)
async def swagger_asset(name: str) -> FileResponse:
    if name not in ASSETS:
        raise HTTPException(404, f"no Swagger UI asset {name!r}")
    path = resources.files("fastapi_offline") / "static" / name
    if not path.is_file():
        raise HTTPException(404, f"{name} is not in the installed fastapi-offline package")
    return FileResponse(str(path), media_type=ASSETS[name], headers={"Cache-Control": "public, max-age=86400"})
