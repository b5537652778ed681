"""The page's files: ``static/`` and Plotly's bundle, versioned, compressed once and revalidated (server/assets.py)."""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path

from fastapi import APIRouter, HTTPException, Request, Response

from server.assets import IMMUTABLE, REVALIDATE, Asset, StaticTree, package_asset

router = APIRouter(include_in_schema=False)
_VERSION = re.compile(r"[0-9a-f]{12,16}")


def plotly_path() -> Path:
    return Path(str(resources.files("plotly") / "package_data" / "plotly.min.js"))


async def answer(request: Request, asset: Asset, cache_control: str) -> Response:
    """``asset`` as this request accepts it: 304 when ``If-None-Match`` names it, else its best representation."""
    headers = {"Cache-Control": cache_control}
    if asset.compressible:
        headers["Vary"] = "Accept-Encoding"
    held = asset.matching_tag(request.headers.get("if-none-match", ""))
    if held is not None:  # the client has this content, in the representation its tag names
        return Response(status_code=304, headers={**headers, "ETag": held})
    coding, body = await asset.representation(request.headers.get("accept-encoding", ""))
    headers["ETag"] = asset.etag(coding)
    if coding is not None:
        headers["Content-Encoding"] = coding
    return Response(body, media_type=asset.media_type, headers=headers)


def _versioned(path: str, current: str) -> tuple[str, str]:
    """The file's name and its lifetime: a year for the current version, revalidated for a plain or older URL."""
    first, _, rest = path.partition("/")
    if first == current:
        return rest, IMMUTABLE
    if rest and _VERSION.fullmatch(first):  # a page from before a deploy: today's file, never kept
        return rest, "no-store"
    return path, REVALIDATE


@router.api_route("/static/{path:path}", methods=["GET", "HEAD"])
async def static_file(path: str, request: Request) -> Response:
    tree: StaticTree = request.app.state.static_tree
    name, cache_control = _versioned(path, tree.version)
    asset = tree.get(name)
    if asset is None:
        raise HTTPException(404, f"no static file {name!r}")
    return await answer(request, asset, cache_control)


@router.api_route("/vendor/plotly.min.js", methods=["GET", "HEAD"])
@router.api_route("/vendor/{version}/plotly.min.js", methods=["GET", "HEAD"])
async def plotly_bundle(request: Request, version: str | None = None) -> Response:
    """Plotly from the installed ``plotly`` package: the page loads nothing from a CDN."""
    asset = package_asset(plotly_path())
    if asset is None:
        raise HTTPException(404, "plotly.min.js is not in the installed plotly package")
    lifetime = REVALIDATE if version is None else IMMUTABLE if version == asset.digest else "no-store"
    return await answer(request, asset, lifetime)
