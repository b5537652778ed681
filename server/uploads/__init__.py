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

from server.uploads.budget import UploadBudget
from server.uploads.http import is_multipart, trace_with_upload
from server.uploads.limits import KINDS, UploadRefused
from server.uploads.model_file import OwnModel, read_model, read_state_dict
from server.uploads.pool import ParseFailed, ParsePool, shared_pool
from server.uploads.runs import serve_private, shape_own
from server.uploads.series_file import read_series
from server.uploads.service import Uploads, held_bytes
from server.uploads.socket import UPLOAD_MESSAGES, SocketUploads, loaded_frame
from server.uploads.store import Kept, UploadStore

__all__ = [
    "KINDS", "UPLOAD_MESSAGES", "Kept", "OwnModel", "ParseFailed", "ParsePool", "SocketUploads", "UploadBudget",
    "UploadRefused", "UploadStore", "Uploads", "held_bytes", "is_multipart", "loaded_frame",
    "read_model", "read_series", "read_state_dict", "serve_private", "shape_own", "shared_pool", "trace_with_upload",
]  # fmt: skip
