"""Fixtures: one real server and one headless Chromium for the whole session, a fresh page per test."""

from __future__ import annotations

import os

import pytest

from tests.e2e.harness import CHROMIUM, VIEWPORT, PageLog, launch, new_context, running_server

sync_api = pytest.importorskip("playwright.sync_api", reason="the e2e tests need the playwright package")


@pytest.fixture(scope="session")
def server_url():
    with running_server() as base:
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
def page(chromium):
    context = new_context(chromium, viewport=VIEWPORT)
    pg = context.new_page()
    pg.set_default_timeout(60_000)
    pg.log = PageLog(pg)
    yield pg
    context.close()


@pytest.fixture
def screen(chromium):
    """A page on a context of one's choosing, e.g. screen(PHONE) or screen({..., "color_scheme": "dark"}); an
    ``init_script`` runs in the page before its own scripts."""
    contexts = []

    def open_page(options, init_script=None):
        context = new_context(chromium, **options)
        contexts.append(context)
        pg = context.new_page()
        pg.set_default_timeout(60_000)
        pg.log = PageLog(pg)
        if init_script:
            pg.add_init_script(init_script)
        return pg

    yield open_page
    for context in contexts:
        context.close()
