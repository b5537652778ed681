"""Fixtures shared by the test packages: what is expensive is built once per session (tests/shared.py)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from tests.shared import built_once, compute_unless_busy, computed_once, shared_root

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


@pytest.fixture(scope="session", autouse=True)
def sweep_points_once(tmp_path_factory):
    """Each sweep point computed once per session, across pytest-xdist workers: a lesson's sweep (the adding problem's
    trains 160 runs) is measured by its claims (tests/engine), its prose's numbers (the lesson documents) and the
    static site's export alike.  A point is deterministic, what its setting and the sweep's kind say
    (engine.lab.sweep.point_result); tests/engine/test_sweep.py, which checks that function, computes its own."""
    from engine.lab import sweep
    from server.notebook import frames

    computed = sweep.point_result
    folder = shared_root(tmp_path_factory) / "sweep-points"

    def point_key(spec, point) -> dict:
        return {"kind": spec.kind, "config": point.config.to_dict()}

    def point_result(spec, point):
        # First every point of the sweep that no one has computed or is computing: workers that meet the same sweep at
        # once share its points out between them instead of one waiting on the other's.
        for other in spec.points():
            compute_unless_busy(folder, point_key(spec, other), lambda o=other: computed(spec, o))
        return computed_once(folder, point_key(spec, point), lambda: computed(spec, point))

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(sweep, "point_result", point_result)
        patch.setattr(frames, "point_result", point_result)
        yield computed


@pytest.fixture(scope="session", autouse=True)
def trainings_once(tmp_path_factory):
    """Each training of a lesson's setting run once per session, across pytest-xdist workers: the lessons' claims
    (engine.lessons.lab), their documents' numbers and the static site's export (server.export.site) train the same
    settings.  A training built as ``Trainer(cfg)`` (with or without a lag map) is deterministic: its steps' reports,
    its trained weights and its end are kept by the whole setting and handed to the next asking for it; the engine's
    Trainer itself (engine.lab.training), which tests/engine checks, is left as it is."""
    from engine.lab import Trainer, TrainResult
    from engine.lessons import lab
    from server.export import site

    folder = shared_root(tmp_path_factory) / "trainings"

    class TrainedOnce(Trainer):
        """The engine's Trainer, its run to the end read from the session's trainings when it was built from ``cfg``."""

        def __init__(self, cfg, model=None, series=None, lag_rows: int = 0):
            super().__init__(cfg, model, series, lag_rows)
            self.own = model is None and series is None

        def trained(self) -> tuple:
            reports = list(super().steps())
            r = self.result
            return reports, self.model.state_dict(), (r.steps_done, r.stopped, r.diverged_at, r.message, r.final_loss)

        def steps(self):
            if not self.own:
                yield from super().steps()
                return
            key = {"config": self.cfg.to_dict(), "lag_rows": self.lag_rows}
            reports, weights, end = computed_once(folder, key, self.trained)
            for report in reports:
                self.last = report
                yield report
            self.model.load_state_dict(weights)
            self.result = TrainResult(*end, model=self.model)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(lab, "Trainer", TrainedOnce)
        patch.setattr(site, "Trainer", TrainedOnce)
        yield


@pytest.fixture(scope="session")
def lesson_documents_file(tmp_path_factory) -> Path:
    """Every lesson's document, its numbers measured (some lessons train for seconds), as JSON: measured by the first
    worker that needs them; the others, and the browser tests' servers (tests/e2e/measured_server.py), read it instead
    of measuring the whole syllabus again.  What the numbers are is tests/engine's to check."""
    from server.routes import lessons

    def build(folder: Path) -> None:
        (folder / "documents.json").write_text(json.dumps(lessons.lesson_documents()), encoding="utf-8")

    folder, _ = built_once(tmp_path_factory, "lesson-documents", build)
    return folder / "documents.json"


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


@pytest.fixture(scope="session")
def lessons_measured(lesson_documents_file):
    """Every lesson's document, as measured once this session, for the pages the app serves, the static site's
    export and the tests that read a lesson's document (server.routes.lessons.lesson_documents)."""
    from server.routes import lessons

    for lesson_id, document in json.loads(lesson_documents_file.read_text(encoding="utf-8")).items():
        lessons._documents.setdefault(lesson_id, document)
