"""Builds the FastAPI app: settings, the shared hub, the routers and the static files.

``app`` is what uvicorn serves (``uvicorn server.app:app``); tests build their
own with :func:`create_app` to swap settings or the tracer.  Each process keeps
its own queue and cache of finished results; ``--workers N`` and replicas scale
out, sharing results through Redis with ``--cache`` (see docs/protocol.md).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from fastapi.templating import Jinja2Templates

from engine import trace_config
from server import openapi
from server.assets import StaticTree, package_asset, page_urls
from server.compression import AnswerCompression
from server.guard import SecurityHeaders, TrustedHosts
from server.hub import Hub
from server.memory import freeze_startup_objects
from server.rooms import make_rooms
from server.rooms import router as rooms_router
from server.routes import api, assets, cliff, docs, health, lessons, pages, script, stream, sweep, trace_file
from server.settings import Settings

ROOT = Path(__file__).resolve().parent.parent


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    freeze_startup_objects()  # everything imported and built by now lives as long as the process
    yield


def create_app(settings: Settings | None = None, tracer: Callable | None = None,
               static_dir: Path = ROOT / "static", freeze_at_start: bool = False) -> FastAPI:
    """The app; ``tracer`` (Config -> engine.Trace) defaults to ``engine.trace_config``; ``static_dir`` is read once,
    here (server/assets.py).  ``freeze_at_start``: the objects alive when it starts are frozen out of the cyclic
    collector (server/memory.py), as the served app's are; not the tests' apps, many to a process, whose cycles
    (an app's own, its cache's) would then never be collected."""
    settings = settings or Settings.from_env()
    app = FastAPI(
        title="Gradient Flow Lab",
        description="How gradients flow backward through RNN, LSTM and GRU networks, step by step.",
        version="0.1.0",
        docs_url=None,  # server/routes/docs.py serves /docs from an installed package, not a CDN
        redoc_url=None,
        lifespan=lifespan if freeze_at_start else None,
        # The lab exports no telemetry; left on, FastAPI asks OpenTelemetry's three providers on every connection,
        # a share of what a room's hundred sockets opening at once cost.
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    app.state.hub = Hub(settings, tracer or trace_config)
    app.state.static_tree = StaticTree(static_dir)
    app.state.rooms = make_rooms(settings, app.state.hub.sharing)  # the follow links' rooms (server/rooms/)
    app.state.templates = Jinja2Templates(directory=str(ROOT / "templates"))
    app.state.templates.env.globals.update(page_urls(app.state.static_tree, package_asset(assets.plotly_path())))
    for module in (health, pages, lessons, api, sweep, trace_file, script, cliff, stream, docs, assets):
        app.include_router(module.router)
    app.include_router(rooms_router)
    # Added innermost first.  Sockets skip the HTTP layers (the fast path) but not the Host check; the
    # headers go on every HTTP answer, the Host check's 400 too.
    app.add_middleware(stream.SocketFastPath)
    # Answers and pages over 1 KB, gzipped in a worker thread when large; the page's files come compressed already
    # (a Content-Encoding the middleware leaves alone), sockets pass through.
    app.add_middleware(AnswerCompression)
    app.add_middleware(TrustedHosts, settings=settings)
    app.add_middleware(SecurityHeaders, settings=settings)
    openapi.install(app)
    return app


app = create_app(freeze_at_start=True)  # what uvicorn serves (python -m server)
