"""gzip for the server's own answers (pages, ``/api/config``, trace documents) over a minimum size.

Starlette's middleware does the work, in a worker thread for large bodies; never for a socket, nor for the page's
files (``/static/``, ``/vendor/``), which come compressed from server/assets.py.  It drops
the ``http.response.debug`` message a test client reads a rendered page's template and context from; this layer
hands that message past it, so a test sees the page as it was rendered.
"""

from __future__ import annotations

from starlette.middleware.gzip import GZipMiddleware

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
