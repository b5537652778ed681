"""What a test session builds once and every test that needs it shares, also across pytest-xdist workers."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from filelock import FileLock


def built_once(tmp_path_factory, name: str, build: Callable[[Path], Any]) -> tuple[Path, Any]:
    """The folder ``name``, which ``build(folder)`` fills once per test session, and what ``build`` returned
    (JSON: kept beside the folder, so every worker gets it).

    Under pytest-xdist each worker has its own base temp dir, all in one parent: the folder goes there, and the
    first worker to ask builds it under a file lock while the others wait for it (the xdist documentation's
    recipe). A build that failed leaves no folder behind, so the next one to ask tries again and sees the error.
    """
    root = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        root = root.parent
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
