"""What a test session builds once and every test that needs it shares, also across pytest-xdist workers."""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout


def shared_root(tmp_path_factory) -> Path:
    """The session's base temp dir, which under pytest-xdist is the parent every worker's own base temp dir is in."""
    root = tmp_path_factory.getbasetemp()
    return root.parent if os.environ.get("PYTEST_XDIST_WORKER") else root


def computed_once(folder: Path, key: Any, compute: Callable[[], Any]) -> Any:
    """``compute()``, for what determines it (``key``, JSON), computed once per session across pytest-xdist workers:
    the first to ask computes it under a file lock while the others asking for the same key wait, then read it back
    (pickled, so its types are exactly what ``compute`` returned).  Only for a deterministic computation."""
    path = _computing(folder, key, compute, wait=True)
    return pickle.loads(path.read_bytes())


def compute_unless_busy(folder: Path, key: Any, compute: Callable[[], Any]) -> None:
    """As :func:`computed_once`, but only if no one has computed it or is computing it now; never waits."""
    _computing(folder, key, compute, wait=False)


def _computing(folder: Path, key: Any, compute: Callable[[], Any], wait: bool) -> Path:
    folder.mkdir(exist_ok=True)
    name = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:24]
    path = folder / f"{name}.pickle"
    if path.exists():
        return path
    try:
        with FileLock(str(folder / f"{name}.lock"), timeout=-1 if wait else 0):
            if not path.exists():
                part = folder / f"{name}.part"
                part.write_bytes(pickle.dumps(compute()))
                part.replace(path)
    except Timeout:
        pass  # only when not waiting: another is computing it
    return path


def built_once(tmp_path_factory, name: str, build: Callable[[Path], Any]) -> tuple[Path, Any]:
    """The folder ``name``, which ``build(folder)`` fills once per test session, and what ``build`` returned
    (JSON: kept beside the folder, so every worker gets it).

    Under pytest-xdist each worker has its own base temp dir, all in one parent: the folder goes there, and the
    first worker to ask builds it under a file lock while the others wait for it (the xdist documentation's
    recipe). A build that failed leaves no folder behind, so the next one to ask tries again and sees the error.
    """
    root = shared_root(tmp_path_factory)
    out = root / name
    result = root / f"{name}.json"
    with FileLock(str(root / f"{name}.lock")):
        if not result.exists():
            shutil.rmtree(out, ignore_errors=True)
            out.mkdir()
            try:
                value = build(out)
            except BaseException:
                shutil.rmtree(out, ignore_errors=True)
                raise
            result.write_text(json.dumps(value), encoding="utf-8")
    return out, json.loads(result.read_text(encoding="utf-8"))
