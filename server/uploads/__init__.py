"""Uploads: a user's own model (``torch.save`` or ``.safetensors``) and series (CSV), from the edge inwards.

Every byte of a file is hostile until checked, and checked before it is parsed.  By concept:

* file readers and their checks (``limits``, ``torch_file`` + ``pickle_scan``, ``safetensors_file``,
  ``model_file``, ``series_file``, ``trace_file`` for a saved trace file): caps on declared sizes and nesting
  first, then parsing, then values;
* the parse pool (``pool``): worker processes with a time limit, so a crash or a hang costs one upload;
* the budget and the store (``budget``, ``store``, ``service``): the bytes every upload holds, per process
  and per client, and the uploads kept for a reconnect;
* the HTTP multipart handler (``http``) and the socket's upload messages (``socket``);
* runs on an upload, computed for its owner alone (``runs``).
"""

import sys

from server.uploads.budget import *
from server.uploads.http import *
from server.uploads.limits import *
from server.uploads.model_file import *
from server.uploads.pool import *
from server.uploads.runs import *
from server.uploads.series_file import *
from server.uploads.service import *
from server.uploads.socket import *
from server.uploads.store import *

_MODULES = (  # whose __all__ this package re-exports
    "budget", "http", "limits", "model_file", "pool", "runs", "series_file", "service", "socket", "store",
)
__all__ = [name for sub in _MODULES for name in sys.modules[f"{__name__}.{sub}"].__all__]
