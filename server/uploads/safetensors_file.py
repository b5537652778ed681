"""A ``.safetensors`` file, its header checked against the file before anything is loaded.

The format has no pickle at all: 8 bytes (little-endian u64) give the length N of a JSON header,
the header maps each tensor's name to ``{"dtype", "shape", "data_offsets": [begin, end]}`` (and an
optional ``"__metadata__"`` of strings), and the data follows.  Checked, in order, before the
``safetensors`` package reads a byte of data: N against ``max_safetensors_header_bytes`` and the
file; the header as JSON (one object of objects, nothing nested deeper than a shape's list); the
tensor count; each dtype (floating point and the plain integer types); each shape (non-negative
integers, product × item size = its byte range); the byte ranges (in order, back to back, covering
the data exactly, at most ``max_unpacked_bytes``).  This is the safest format to upload.
"""

from __future__ import annotations

import json
import math

from engine.config import quote
from server.settings import Settings
from server.uploads.limits import UploadRefused

ITEM_BYTES = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I32": 4, "I16": 2, "I8": 1, "U8": 1, "BOOL": 1}
MAX_DIMS = 8


def _refuse(message: str, status: int = 422) -> UploadRefused:
    return UploadRefused("model", f"the .safetensors file {message}", status=status)


def looks_like_safetensors(data: bytes) -> bool:
    """Eight bytes of header length, then ``{``: what every safetensors file starts with."""
    return len(data) >= 10 and data[8:9] == b"{"


def check_header(data: bytes, limits: Settings) -> dict[str, dict]:
    """The header's tensor entries, every one checked as the module docstring says.  Raises UploadRefused."""
    size = int.from_bytes(data[:8], "little")
    if size > len(data) - 8:
        raise _refuse(f"declares a header of {size:,} bytes but holds {len(data) - 8:,} after the length: was the "
                      "upload complete?")
    if size > limits.max_safetensors_header_bytes:
        raise _refuse(f"declares a header of {size:,} bytes; at most {limits.max_safetensors_header_bytes:,} are "
                      "allowed (GFL_MAX_SAFETENSORS_HEADER_BYTES)", status=413)
    try:
        header = json.loads(data[8 : 8 + size].decode("utf-8"), parse_constant=_no_constant)
    except RecursionError:
        raise _refuse("has a header nested too deeply") from None
    except (UnicodeDecodeError, ValueError) as e:
        raise _refuse(f"has a header that is not JSON: {quote(str(e))}") from None
    if not isinstance(header, dict):
        raise _refuse("has a header that is not a JSON object")
    metadata = header.pop("__metadata__", {})
    if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
        raise _refuse("has __metadata__ that is not an object of strings")
    if len(header) > limits.max_upload_tensors:
        raise _refuse(f"holds {len(header):,} tensors; at most {limits.max_upload_tensors:,} are allowed "
                      "(GFL_MAX_UPLOAD_TENSORS)", status=413)
    data_bytes = len(data) - 8 - size
    ranges = []
    for name, entry in header.items():
        if len(name) > limits.max_key_chars:
            raise _refuse(f"names a tensor {quote(name)}, longer than {limits.max_key_chars} characters")
        _check_entry(name, entry)
        begin, end = entry["data_offsets"]
        ranges.append((begin, end, name))
    ranges.sort()
    at = 0
    for begin, end, name in ranges:
        if begin != at:
            raise _refuse(f"has tensor {quote(name)} at bytes {begin:,}..{end:,}, not right after the previous "
                          f"one (byte {at:,}): the data must be back to back")
        at = end
    if at > limits.max_unpacked_bytes:
        raise _refuse(f"holds {at:,} bytes of tensors; at most {limits.max_unpacked_bytes:,} are allowed "
                      "(GFL_MAX_UNPACKED_BYTES)", status=413)
    if at != data_bytes:
        raise _refuse(f"declares {at:,} bytes of tensors but has {data_bytes:,} after its header: was the "
                      "upload complete?")
    return header


def _check_entry(name: str, entry) -> None:
    if not isinstance(entry, dict) or set(entry) != {"dtype", "shape", "data_offsets"}:
        raise _refuse(f"entry {quote(name)} must be an object of dtype, shape and data_offsets")
    dtype, shape, offsets = entry["dtype"], entry["shape"], entry["data_offsets"]
    if not isinstance(dtype, str) or dtype not in ITEM_BYTES:
        raise _refuse(f"tensor {quote(name)} has dtype {quote(dtype)}; allowed: {', '.join(ITEM_BYTES)}")
    if (not isinstance(shape, list) or len(shape) > MAX_DIMS
            or not all(type(d) is int and 0 <= d < 2**40 for d in shape)):
        raise _refuse(f"tensor {quote(name)} has shape {quote(str(shape)[:100])}; a shape is a list of at most "
                      f"{MAX_DIMS} non-negative integers")
    if (not isinstance(offsets, list) or len(offsets) != 2 or not all(type(o) is int and o >= 0 for o in offsets)
            or offsets[0] > offsets[1]):
        raise _refuse(f"tensor {quote(name)} has data_offsets {quote(str(offsets)[:100])}; expected [begin, end]")
    if math.prod(shape) * ITEM_BYTES[dtype] != offsets[1] - offsets[0]:
        raise _refuse(f"tensor {quote(name)} of shape {tuple(shape)} and dtype {dtype} needs "
                      f"{math.prod(shape) * ITEM_BYTES[dtype]:,} bytes; its data_offsets give "
                      f"{offsets[1] - offsets[0]:,}")


def _no_constant(name: str):
    raise ValueError(f"{name} is not valid JSON")


def load_safetensors_file(data: bytes, limits: Settings):
    """The file's tensors by name (a dict), after :func:`check_header`.  Raises :class:`UploadRefused`."""
    check_header(data, limits)
    from safetensors import SafetensorError
    from safetensors.torch import load

    try:
        return load(data)
    except (SafetensorError, ValueError, RuntimeError, TypeError) as e:
        raise _refuse(f"could not be read: {quote(str(e))}") from None
