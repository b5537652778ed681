"""gzip for the server's own answers (pages, ``/api/config``, trace documents) over a minimum size.

A trace document is one answer for every client that asks for its setting, so its gzip is computed once
(:func:`shared_answer`) and kept with the page's compressed files, within their byte budget; the other answers are
compressed as they leave.

Starlette's middleware does the work, in a worker thread for large bodies; never for a socket, nor for the page's
files (``/static/``, ``/vendor/``), which come compressed from server/assets.py.  It drops
the ``http.response.debug`` message a test client reads a rendered page's template and context from; this layer
hands that message past it, so a test sees the page as it was rendered.
"""

from __future__ import annotations

import anyio
from fastapi import Request, Response
from starlette.middleware.gzip import GZipMiddleware

from server.assets import ENCODINGS, accepted_codings

_OWN_ENCODING = ("/static/", "/vendor/")
_SEND = "gfl.send"  # the scope key that carries the outer send past the gzip layer


class AnswerCompression:
    def __init__(self, app, minimum_size: int = 1024, compresslevel: int = 6):
        self.app = app
        self.gzip = GZipMiddleware(self._inner, minimum_size=minimum_size, compresslevel=compresslevel)

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["path"].startswith(_OWN_ENCODING):
            await self.app(scope, receive, send)
            return
        await self.gzip({**scope, _SEND: send}, receive, send)

    async def _inner(self, scope, receive, send):
        outer = scope[_SEND]

        async def forward(message):
            await (outer if message["type"] == "http.response.debug" else send)(message)

        await self.app(scope, receive, forward)


async def shared_answer(request: Request, key: str, body: bytes, media_type: str) -> Response:
    """``body``, the answer named ``key`` (the same bytes for everyone who asks), gzipped once for all who accept it."""
    if len(body) >= 1024 and "gzip" in accepted_codings(request.headers.get("accept-encoding", "")):
        data = await anyio.to_thread.run_sync(ENCODINGS.compute, (key, "gzip"), body)
        if data is not None:
            headers = {"Content-Encoding": "gzip", "Vary": "Accept-Encoding"}
            return Response(data, media_type=media_type, headers=headers)
    return Response(body, media_type=media_type)  # AnswerCompression says Vary for it
