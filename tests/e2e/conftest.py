"""Fixtures: one real server and one headless Chromium for the whole session, a fresh page per test."""

from __future__ import annotations

import os

import pytest

from tests.e2e.harness import CHROMIUM, INSTANT, VIEWPORT, PageLog, launch, new_context, running_server

sync_api = pytest.importorskip("playwright.sync_api", reason="the e2e tests need the playwright package")

def open_page(chromium, request, options: dict, init_script: str | None = None):
    """A page on a new context of ``chromium`` (closed with it), showing runs whole unless the test plays them."""
    context = new_context(chromium, **options)
    pg = context.new_page()
    pg.set_default_timeout(60_000)
    pg.log = PageLog(pg)
    if request.node.get_closest_marker("playback") is None:
        pg.add_init_script(INSTANT)
    if init_script:
        pg.add_init_script(init_script)
    return pg


@pytest.fixture(scope="session")
def server_url(lesson_documents_file):
    """The worker's server, its lesson documents those measured once this session (tests/e2e/measured_server.py)."""
    env = {"GFL_E2E_DOCUMENTS": str(lesson_documents_file)}
    with running_server(module="tests.e2e.measured_server", env=env) as base:
        yield base


@pytest.fixture(scope="session")
def chromium():
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"no Chromium at {CHROMIUM} (set GFL_CHROMIUM)")
    with sync_api.sync_playwright() as p:
        b = launch(p)
        yield b
        b.close()


@pytest.fixture
def page(chromium, request):
    pg = open_page(chromium, request, {"viewport": VIEWPORT})
    yield pg
    pg.context.close()


@pytest.fixture
def screen(chromium, request):
    """A page on a context of one's choosing, e.g. screen(PHONE) or screen({..., "color_scheme": "dark"}); an
    ``init_script`` runs in the page before its own scripts."""
    pages = []

    def opened(options, init_script=None):
        pages.append(open_page(chromium, request, options, init_script))
        return pages[-1]

    yield opened
    for pg in pages:
        pg.context.close()
