"""What identifies a request's result: its kind, its normalised config, and the code that computes it.

Traces and training runs are deterministic, so two requests with the same key get the same
frames bit for bit, and one computation (or one cached recording) serves them all.  The key
also names the project's and torch's versions: an upgrade that could change a number never
serves an old recording.  A shared Redis may hold recordings of other versions side by side.
"""

from __future__ import annotations

import hashlib
import json
from importlib import metadata

import numpy
import torch

from engine import Config

# Bumped when the recorded frames change shape (the wire protocol), independently of the package version.
RECORDING_FORMAT = 2


def _version() -> str:
    try:
        return metadata.version("gradient-flow-lab")
    except metadata.PackageNotFoundError:
        return "unknown"


CODE = {"format": RECORDING_FORMAT, "lab": _version(), "torch": torch.__version__, "numpy": numpy.__version__}


def request_key(kind: str, config: Config) -> str:
    """A hex digest naming the result of a ``kind`` ('run', 'train', 'document') request for ``config``."""
    text = json.dumps({"kind": kind, "config": config.to_dict(), "code": CODE}, sort_keys=True)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
