"""What identifies a request's result: its kind, its normalised config, and the code that computes it.

Traces and training runs are deterministic, so two requests with the same key get the same
frames bit for bit, and one computation (or one cached recording) serves them all.

The key also names the code: :data:`SOURCE`, a hash of the source of the ``engine`` package (the
numbers; its code and data files) and of the ``server`` package (the frame encoders, the recording
format), read once at import; and torch's and numpy's versions.  A redeploy that changes any of
them, even without a new version number, files its results under new keys, so a shared Redis never
serves a recording computed by other code: replicas running different code keep theirs side by
side until they expire.  Hashing whole packages rather than a list of the files that matter means a
new module can never be forgotten; the price is that any change to them starts a cold cache.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy
import orjson
import torch

from engine import Config
from engine.tracing import rows_for

__all__ = ["LAG", "base_kind", "lag_rows_for", "request_key", "with_lag"]

# Bumped when the recorded frames change shape (the wire protocol) or the entry format (server/sharing/entry.py).
RECORDING_FORMAT = 3

ROOT = Path(__file__).resolve().parents[2]  # the checkout: engine/ and server/ beside each other


def source_hash(root: Path = ROOT) -> str:
    """SHA-256 (hex, 16 digits) of the code that determines a result: the ``.py`` and ``.json`` files under
    ``root/engine`` and the ``.py`` files under ``root/server``, each by its path and its bytes."""
    digest = hashlib.sha256()
    files = [*(root / "engine").rglob("*.py"), *(root / "engine").rglob("*.json"), *(root / "server").rglob("*.py")]
    for path in sorted(files):
        name, data = path.relative_to(root).as_posix().encode(), path.read_bytes()
        digest.update(b"%d:%s%d:" % (len(name), name, len(data)) + data)
    return digest.hexdigest()[:16]


SOURCE = source_hash()
CODE = {"format": RECORDING_FORMAT, "source": SOURCE, "torch": torch.__version__, "numpy": numpy.__version__}


# A run or document asked with the lag map is its own result (more numbers, more work): kind "run+lag".
LAG = "+lag"


def with_lag(kind: str) -> bool:
    return kind.endswith(LAG)


def base_kind(kind: str) -> str:
    """'run', 'train' or 'document', without the lag map's suffix."""
    return kind.removesuffix(LAG)


def lag_rows_for(config: Config) -> int:
    """How many output steps the lag map of ``config`` itemises (engine.tracing.lagmap.rows_for its state values)."""
    return rows_for(config.trace_cells)


def request_key(kind: str, config: Config) -> str:
    """A hex digest naming the result of a ``kind`` ('run', 'train', 'document') request for ``config``.

    Asked once per request, so once per socket of a room that opens one link: orjson, not the standard encoder.
    """
    text = orjson.dumps({"kind": kind, "config": config.to_dict(), "code": CODE}, option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(text).hexdigest()
