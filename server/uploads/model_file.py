"""An uploaded model file: a ``torch.save``'d state_dict or a ``.safetensors`` file, read in a parse worker.

:func:`read_model` is the worker's job: the file's format by its first bytes, the format's own checks
(:mod:`server.uploads.torch_file`, :mod:`server.uploads.safetensors_file`), then the tensors' (string keys
of at most ``max_key_chars``, strided real tensors, every floating-point value finite), then the
recurrent module by :func:`engine.data.checkpoint.find_recurrent`.  It hands back only what the app uses (the
recurrent module's parameters and every ``nn.Linear``-shaped pair that could be its read-out) as float32
numpy arrays, plain data that crosses back to the server without unpickling anything of the file's.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
import torch

from engine.config import quote
from engine.data import CheckpointError, file_values, find_recurrent
from server.settings import Settings
from server.uploads.limits import UploadRefused, too_big
from server.uploads.safetensors_file import load_safetensors_file, looks_like_safetensors
from server.uploads.torch_file import load_torch_file

__all__ = ["OwnModel", "read_model", "read_state_dict"]

_REAL = (torch.float16, torch.bfloat16, torch.float32, torch.float64, torch.int64, torch.int32, torch.int16,
         torch.int8, torch.uint8, torch.bool)


@dataclass(frozen=True)
class OwnModel:
    """A socket's (or a request's) uploaded model, as runs use it."""

    state: dict[str, torch.Tensor]  # the recurrent module's parameters and Linear-shaped pairs, float32
    sha256: str
    nonlinearity: str | None  # a vanilla RNN's, as the client said

    @property
    def nbytes(self) -> int:
        return sum(t.numel() * t.element_size() for t in self.state.values())


def file_format(data: bytes) -> str:
    return "safetensors" if looks_like_safetensors(data) else "torch"


def read_state_dict(data: bytes, limits: Settings) -> dict[str, torch.Tensor]:
    """Every tensor of the file by key, checked as the module docstring says.  Raises :class:`UploadRefused`."""
    if len(data) > limits.max_model_bytes:
        raise too_big("model", "the model file", len(data), limits.max_model_bytes)
    if not data:
        raise UploadRefused("model", "the model file is empty")
    if file_format(data) == "safetensors":
        state = load_safetensors_file(data, limits)
    else:
        state = load_torch_file(data, limits)
    return check_state(state, limits)


def check_state(obj, limits: Settings) -> dict[str, torch.Tensor]:
    """``obj`` if it is a dict of finite real tensors under short string keys, else :class:`UploadRefused`."""
    if not isinstance(obj, dict):
        raise UploadRefused("model", "the model file must hold a state_dict (a dict of tensors); "
                                     f"got {type(obj).__name__}")
    if len(obj) > limits.max_upload_tensors:
        raise UploadRefused("model", f"the model file holds {len(obj):,} entries; at most "
                                     f"{limits.max_upload_tensors:,} are allowed (GFL_MAX_UPLOAD_TENSORS)", status=413)
    for key, value in obj.items():
        if not isinstance(key, str):
            raise UploadRefused("model", f"state_dict keys must be strings; got {quote(key)}")
        if len(key) > limits.max_key_chars:
            raise UploadRefused("model", f"the key {quote(key)} is longer than the {limits.max_key_chars} "
                                         "characters allowed")
        if not isinstance(value, torch.Tensor):
            raise UploadRefused("model", f"{quote(key)} must be a tensor; got {type(value).__name__}")
        if value.layout != torch.strided or value.dtype not in _REAL:
            raise UploadRefused("model", f"{quote(key)} is a {value.dtype} {str(value.layout).split('.')[-1]} "
                                         "tensor; only dense real (floating-point, integer or bool) tensors are read")
        if value.is_floating_point() and not bool(torch.isfinite(value).all()):
            where = tuple(torch.nonzero(~torch.isfinite(value))[0].tolist())
            raise UploadRefused("model", f"{quote(key)} holds a non-finite value ({value[where].item()}) at index "
                                         f"{where}: every number in the model must be finite")
    return obj


def read_model(data: bytes, limits: Settings, nonlinearity: str | None) -> tuple[dict[str, np.ndarray], dict]:
    """The parse worker's job for a model: (what the app uses, as float32 arrays; the ``model_loaded`` fields)."""
    state = read_state_dict(data, limits)
    try:
        ckpt = find_recurrent(state, 0)  # the read-out is matched per task, at each run
        fixes = file_values(ckpt, nonlinearity)  # raises when the RNN's nonlinearity was not given
    except CheckpointError as e:
        field = "nonlinearity" if e.key is None and "nonlinearity" in e.message else "model"
        raise UploadRefused("model", e.message, field) from None
    used = {}
    for key in _used_keys(state, ckpt.prefix, set(ckpt.rnn)):
        array = state[key].detach().to(torch.float32).numpy()
        if not np.isfinite(array).all():  # finite in float64, beyond float32's range
            big = float(state[key].double().abs().max())
            raise UploadRefused("model", f"{quote(key)} holds values up to {big:.3g}, beyond float32's range "
                                         "(3.4e38), which the app computes in")
        used[key] = np.ascontiguousarray(array)
    fields = {"type": "model_loaded", "sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data),
              "format": file_format(data), "prefix": ckpt.prefix.rstrip("."), "cell": ckpt.cell,
              "hidden_size": ckpt.hidden_size, "num_layers": ckpt.num_layers, "bidirectional": ckpt.bidirectional,
              "input_size": ckpt.input_size, "fixes": fixes}
    return used, fields


def _used_keys(state: dict[str, torch.Tensor], prefix: str, rnn: set[str]) -> list[str]:
    """The recurrent module's keys and every ``<name>.weight`` (O, K) with ``<name>.bias`` (O,): candidate read-outs."""
    keys = [prefix + name for name in rnn]
    for key, w in state.items():
        if key == "weight" or key.endswith(".weight"):
            bias = key[: -len("weight")] + "bias"
            b = state.get(bias)
            if w.dim() == 2 and b is not None and tuple(b.shape) == (w.shape[0],) and key not in keys:
                keys += [key, bias]
    return keys


def own_model(used: dict[str, np.ndarray], fields: dict, nonlinearity: str | None) -> OwnModel:
    """The server-side model from a worker's answer (its arrays become tensors without a copy)."""
    return OwnModel({k: torch.from_numpy(v) for k, v in used.items()}, fields["sha256"], nonlinearity)
