"""The exported lesson site for the browser tests, and the engine's trainings of its settings, each computed once.

The export trains every setting of a training lesson (server/export/site.py) with the engine's ``Trainer``; the
tests' reference for what a page shows after Train is the engine's training of that setting, ``Trainer(cfg)`` run
to its end.  A training is deterministic, so a session computes each once: while the export runs, every training it
makes from scratch (no model, no series given) is kept, its trained model and its result filed by the whole setting;
a test looks its setting up there and trains only what it does not find (any training when the site was not exported
by this session).  A training the export made with the lag map is kept too: the map changes nothing in the training
(tests/engine/test_training.py), so its model and result are ``Trainer(cfg)``'s.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import torch

import server.export.site as export
from engine import Config
from engine.lab import Trainer, TrainResult
from tests.shared import built_once


def setting_file(kept: Path, cfg: Config) -> Path:
    """Where the training of ``cfg`` is kept: named by a digest of every key of the setting."""
    digest = hashlib.sha256(json.dumps(cfg.to_dict(), sort_keys=True).encode()).hexdigest()[:24]
    return kept / f"train-{digest}.pt"


@contextmanager
def keeping_trainings(kept: Path) -> Iterator[None]:
    """While inside, the export's ``Trainer(cfg)`` runs (with the lag map or not) keep their trained model and result
    in ``kept``."""

    class Kept(export.Trainer):  # the session's (tests/conftest.py trainings_once)
        """The engine's Trainer, keeping what it trained when it was built as ``Trainer(cfg)`` or
        ``Trainer(cfg, lag_rows=rows)``."""

        def __init__(self, cfg: Config, model=None, series=None, lag_rows: int = 0):
            super().__init__(cfg, model, series, lag_rows)
            self.plain = model is None and series is None

        def steps(self):
            yield from super().steps()  # to its end: the result is set
            if self.plain:
                torch.save((self.model, self.result), setting_file(kept, self.cfg))

    kept.mkdir(parents=True, exist_ok=True)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(export, "Trainer", Kept)
        yield


def engine_training(cfg: Config, kept: Path | None) -> tuple[torch.nn.Module, TrainResult]:
    """``Trainer(cfg)`` run to its end: its trained model and result, as kept in ``kept`` if it is there."""
    if kept is not None and setting_file(kept, cfg).is_file():
        return torch.load(setting_file(kept, cfg), weights_only=False)
    trainer = Trainer(cfg)
    for _ in trainer.steps():
        pass
    return trainer.model, trainer.result


def exported_site(tmp_path_factory) -> tuple[Path, Path | None, dict]:
    """The site exported once per session (across pytest-xdist workers too), where its trainings are kept, and the
    export's report.  GFL_E2E_SITE=DIR: a site this checkout exported already (to iterate on the page alone)."""
    if os.environ.get("GFL_E2E_SITE"):
        out = Path(os.environ["GFL_E2E_SITE"])
        return out, None, {"bytes": sum(p.stat().st_size for p in out.rglob("*") if p.is_file()),
                           "pages": [p.name for p in out.glob("*.html")]}  # fmt: skip

    def build(folder: Path) -> dict:
        with keeping_trainings(folder / "trained"):
            return export.export_site(folder / "site", log=lambda _line: None)

    folder, report = built_once(tmp_path_factory, "site", build)
    return folder / "site", folder / "trained", report
