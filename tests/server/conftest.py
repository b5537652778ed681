"""Fixtures for the server tests: an app with the real engine, and one with a gated tracer."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from server.app import create_app
from server.settings import Settings
from tests.server.ws_helpers import GatedTracer
from tests.shared import built_once


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


@pytest.fixture(scope="session")
def lessons_measured(tmp_path_factory):
    """Every lesson's document, its numbers measured (some lessons train for seconds), by the first worker that needs
    them; the other workers read that worker's documents instead of measuring the whole syllabus again.  What the
    numbers are is tests/engine's to check; here they are what the pages show."""
    from server.routes import lessons

    _, documents = built_once(tmp_path_factory, "lesson-documents", lambda folder: lessons.lesson_documents())
    for lesson_id, document in documents.items():
        lessons._documents.setdefault(lesson_id, document)
