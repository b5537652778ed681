"""Builds the FastAPI app: settings, the shared hub, the routers and the static files.

``app`` is what uvicorn serves (``uvicorn server.app:app``); tests build their
own with :func:`create_app` to swap settings or the tracer.  Each process keeps
its own queue and cache of finished results; ``--workers N`` and replicas scale
out, sharing results through Redis with ``--cache`` (see docs/protocol.md).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from engine import trace_config
from server import openapi
from server.guard import SecurityHeaders, TrustedHosts
from server.hub import Hub
from server.rooms import make_rooms
from server.rooms import router as rooms_router
from server.routes import api, cliff, docs, health, lessons, pages, script, stream
from server.settings import Settings

ROOT = Path(__file__).resolve().parent.parent


def create_app(settings: Settings | None = None, tracer: Callable | None = None) -> FastAPI:
    """The app; ``tracer`` (Config -> engine.Trace) defaults to ``engine.trace_config``."""
    settings = settings or Settings.from_env()
    app = FastAPI(
        title="Gradient Flow Lab",
        description="How gradients flow backward through RNN, LSTM and GRU networks, step by step.",
        version="0.1.0",
        docs_url=None,  # server/routes/docs.py serves /docs from an installed package, not a CDN
        redoc_url=None,
    )
    app.state.hub = Hub(settings, tracer or trace_config)
    app.state.rooms = make_rooms(settings)  # the follow links' rooms (server/rooms/)
    app.state.templates = Jinja2Templates(directory=str(ROOT / "templates"))
    for module in (health, pages, lessons, api, script, cliff, stream, docs):
        app.include_router(module.router)
    app.include_router(rooms_router)
    app.mount("/static", StaticFiles(directory=str(ROOT / "static"), check_dir=False), name="static")
    # Added innermost first.  Sockets skip the HTTP layers (the fast path) but not the Host check; the
    # headers go on every HTTP answer, the Host check's 400 too.
    app.add_middleware(stream.SocketFastPath)
    app.add_middleware(TrustedHosts, settings=settings)
    app.add_middleware(SecurityHeaders, settings=settings)
    openapi.install(app)
    return app


app = create_app()
