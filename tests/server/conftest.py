"""Fixtures for the server tests: an app with the real engine, and one with a gated tracer."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from server.app import create_app
from server.settings import Settings
from tests.server.ws_helpers import GatedTracer


@pytest.fixture(scope="module")
def client():
    with TestClient(create_app(Settings(max_concurrent=2))) as c:
        yield c


@pytest.fixture
def gated():
    tracer = GatedTracer()
    app = create_app(Settings(max_concurrent=2), tracer=tracer)
    with TestClient(app) as c:
        yield c, tracer, app.state.hub
        tracer.gate.set()
