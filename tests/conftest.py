"""Fixtures shared by the test packages: what is expensive is built once per session (tests/shared.py)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tests.shared import built_once

# What a session builds once (tests/shared.py): the tests that use it run first, so that under pytest-xdist the
# worker that builds it is the one that starts on them (each worker starts on its share of the tests in order,
# tests/run.sh) and no other worker waits on the build while it has work of its own.
BUILT_ONCE = ("site", "lessons_measured", "executed_notebook")  # the site's export measures every lesson too


def pytest_collection_modifyitems(items):
    def rank(item) -> int:
        return next((k for k, name in enumerate(BUILT_ONCE) if name in item.fixturenames), len(BUILT_ONCE))

    items.sort(key=rank)  # stable: in collection order within each rank


def pytest_configure(config):
    """Every test computes on one torch thread, as the server does per computation (GFL_TORCH_THREADS, default 1).

    Set before collection: what a test module computes on import (its parameters, a lesson's measured numbers) is
    computed in every pytest-xdist worker, and torch's default pool of a spinning thread per core in each worker
    (or beside a browser) makes each step many times slower; a reference computed with the server's thread count
    also sums in the server's order.
    """
    import torch

    torch.set_num_threads(1)


E2E = Path(__file__).parent / "e2e"


@pytest.fixture(autouse=True)
def thread_without_an_event_loop(request):
    """A test outside tests/e2e runs in a thread with no event loop running, as any caller of asyncio.run expects.

    Playwright's sync API (the browser a worker keeps for its e2e tests) leaves its loop marked running in the worker's
    main thread between calls; a server or engine test the same worker runs later would find it there and fail in
    anyio.run or asyncio.run, depending on which worker took which test.  The mark is put back after the test.
    """
    loop = asyncio._get_running_loop()
    if loop is None or E2E in request.node.path.parents:
        yield
        return
    asyncio._set_running_loop(None)
    try:
        yield
    finally:
        asyncio._set_running_loop(loop)


@pytest.fixture(scope="session")
def executed_notebook(tmp_path_factory):
    """docs/notebook.ipynb run once in a real kernel (tests/server/notebook_helpers.py): the executed notebook
    and what its model, data and kernel saved, for tests/server/test_notebook.py and the e2e rendering of it."""
    pytest.importorskip("nbclient", reason="executing the notebook needs nbclient and ipykernel")
    pytest.importorskip("ipykernel", reason="executing the notebook needs nbclient and ipykernel")
    import nbformat
    import torch

    from tests.server.notebook_helpers import NOTEBOOK, execute_notebook

    def build(out):
        nbformat.write(execute_notebook(NOTEBOOK, out / "model.pt"), out / "notebook.ipynb")

    out, _ = built_once(tmp_path_factory, "notebook", build)
    return nbformat.read(out / "notebook.ipynb", as_version=4), torch.load(out / "model.pt", weights_only=False)
