"""Saved traces: one file holding what :func:`engine.trace_submodules` returned, read back with strict checks.

The format is documented in docs/trace-file.md.  In short: the 8 bytes ``GFLTRACE``, a little-endian uint32
header length, a UTF-8 JSON header (format name, version, the data section's length, and per trace its key,
call index, kind, cell and arrays, each with its dtype, shape and offset), then the data section: raw
little-endian arrays at 8-byte aligned offsets.  No pickle: the reader parses nothing but that JSON and
numbers.

:func:`load_traces` treats every byte as hostile: the file's size, the header's length, the header's nesting
depth, the number of traces and arrays, each array's dimensions and bytes are checked against
:class:`TraceFileLimits` before the header is parsed or any array read, and then every array's shape against
the others (a trace's layers, directions, steps, batch and units agree) and every integer against its range.
Anything else raises :class:`TraceFileError` (a ``ValueError``) naming what is wrong.
"""

from __future__ import annotations

import json
import math
import struct
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np
import torch
from torch.nn.utils.rnn import PackedSequence

from engine.models import GATES
from engine.tracing.trace import ModuleTrace

__all__ = ["TraceFileError", "TraceFileLimits", "load_traces", "save_traces"]

MAGIC = b"GFLTRACE"
FORMAT = "gradient-flow-lab/traces"
VERSION = 1
_PREFIX = len(MAGIC) + 4
_ALIGN = 8
KINDS = ("module", "cell", "custom", "marked")
CELLS = ("rnn", "lstm", "gru", "custom")
_DTYPES = {"<f2": np.float16, "<f4": np.float32, "<f8": np.float64, "<i8": np.int64}
# ModuleTrace fields saved as arrays of their own name; gates are "gate.<name>", a PackedSequence output's parts
# "output.<part>", the loss a () float64 array.
_ARRAYS = ("hidden", "cell_state", "grad_h", "grad_c", "grad_h_norm", "grad_c_norm", "grad_out_norm", "grad_h0",
           "grad_c0", "lengths", "output_steps", "grad_h_by_output", "grad_x_by_output")
_PACKED = ("batch_sizes", "sorted_indices", "unsorted_indices")
_INTS = {"lengths", "output_steps", "output.batch_sizes", "output.sorted_indices", "output.unsorted_indices"}


class TraceFileError(ValueError):
    """A trace file that is malformed, or beyond the reader's limits; the message names the field."""


@dataclass(frozen=True)
class TraceFileLimits:
    """What :func:`load_traces` accepts at most."""

    max_bytes: int = 64 * 1024 * 1024  # the whole file
    max_header_bytes: int = 1024 * 1024  # the JSON header
    max_depth: int = 6  # nesting of the header's objects and arrays
    max_traces: int = 256
    max_arrays: int = 40  # per trace
    max_ndim: int = 6  # per array
    max_key_chars: int = 200  # a trace's key, a gate's name


def _array(value) -> tuple[str, np.ndarray]:
    a = value.detach().cpu().numpy() if isinstance(value, torch.Tensor) else np.asarray(value)
    if a.dtype.kind == "f":
        a = a.astype(a.dtype.newbyteorder("<") if a.dtype.itemsize in (2, 4, 8) else np.float32)
        return a.dtype.str, a
    return "<i8", a.astype("<i8")


def _arrays_of(trace: ModuleTrace) -> dict[str, np.ndarray]:
    out = {name: getattr(trace, name) for name in _ARRAYS if getattr(trace, name) is not None}
    out.update({f"gate.{k}": v for k, v in trace.gates.items()})
    out["loss"] = np.float64(trace.loss)
    if isinstance(trace.output, PackedSequence):
        out["output"] = trace.output.data
        out.update({f"output.{p}": getattr(trace.output, p) for p in _PACKED if getattr(trace.output, p) is not None})
    else:
        out["output"] = trace.output
    return out


def encode_traces(traces: Mapping[str, ModuleTrace | list[ModuleTrace]] | ModuleTrace) -> bytes:
    """The file's bytes for ``traces`` (what :func:`engine.trace_submodules` returns, or one trace, keyed "")."""
    if isinstance(traces, ModuleTrace):
        traces = {"": traces}
    entries, chunks, offset = [], [], 0
    for key, value in traces.items():
        calls = list(enumerate(value)) if isinstance(value, list | tuple) else [(None, value)]
        for call, trace in calls:
            arrays = {}
            for name, raw in _arrays_of(trace).items():
                dtype, a = _array(raw)
                data = np.ascontiguousarray(a).tobytes()
                arrays[name] = {"dtype": dtype, "shape": list(a.shape), "offset": offset}
                pad = -len(data) % _ALIGN
                chunks.append(data + b"\0" * pad)
                offset += len(data) + pad
            entries.append({"key": str(key), "call": call, "kind": trace.kind, "cell": trace.cell, "arrays": arrays})
    header = json.dumps({"format": FORMAT, "version": VERSION, "data_bytes": offset, "traces": entries},
                        separators=(",", ":")).encode()
    return MAGIC + struct.pack("<I", len(header)) + header + b"".join(chunks)


def save_traces(traces: Mapping[str, ModuleTrace | list[ModuleTrace]] | ModuleTrace, path: str | Path) -> None:
    """Write ``traces`` to ``path`` in the trace-file format (docs/trace-file.md)."""
    Path(path).write_bytes(encode_traces(traces))


def _depth(header: bytes, most: int) -> None:
    """Refuse a header nested deeper than ``most`` before any JSON parser sees it (strings skipped)."""
    depth, in_string, escaped = 0, False, False
    for byte in header:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:  # backslash
                escaped = True
            elif byte == 0x22:
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in (0x5B, 0x7B):
            depth += 1
            if depth > most:
                raise TraceFileError(f"header: nested deeper than {most} levels")
        elif byte in (0x5D, 0x7D):
            depth -= 1


def _strict(pairs):
    keys = [k for k, _ in pairs]
    if len(set(keys)) != len(keys):
        raise TraceFileError(f"header: a key appears twice in one object ({sorted(keys)[:5]})")
    return dict(pairs)


def _refuse_constant(name):
    raise TraceFileError(f"header: {name} is not JSON")


def _expect(cond: bool, where: str, what: str) -> None:
    if not cond:
        raise TraceFileError(f"{where}: {what}")


def _int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _declared(entry, where: str, limits: TraceFileLimits, data_bytes: int) -> dict[str, tuple]:
    """An entry's arrays as declared: {name: (dtype, shape, offset, nbytes)}, sizes checked, nothing read."""
    arrays = entry.get("arrays")
    _expect(isinstance(arrays, dict), f"{where}.arrays", "must be an object")
    _expect(len(arrays) <= limits.max_arrays, f"{where}.arrays", f"{len(arrays)} arrays; at most {limits.max_arrays}")
    out = {}
    for name, spec in arrays.items():
        at = f"{where}.arrays.{name[:limits.max_key_chars]}"
        known = name in _ARRAYS or name in ("loss", "output") or name in {f"output.{p}" for p in _PACKED}
        gate = name.startswith("gate.") and 5 < len(name) <= limits.max_key_chars
        _expect(known or gate, at, "not an array a trace has")
        _expect(isinstance(spec, dict) and set(spec) == {"dtype", "shape", "offset"}, at,
                "must be an object with exactly dtype, shape and offset")
        _expect(isinstance(spec["dtype"], str) and spec["dtype"] in _DTYPES, f"{at}.dtype",
                f"must be one of {sorted(_DTYPES)}")
        want_int = name in _INTS
        _expect((spec["dtype"] == "<i8") == want_int, f"{at}.dtype", "<i8" if want_int else "a float dtype")
        shape = spec["shape"]
        _expect(isinstance(shape, list) and len(shape) <= limits.max_ndim, f"{at}.shape",
                f"must be a list of at most {limits.max_ndim} sizes")
        _expect(all(_int(n) and 0 <= n <= limits.max_bytes for n in shape), f"{at}.shape",
                f"sizes must be integers in [0, {limits.max_bytes}]")
        nbytes = math.prod(shape) * np.dtype(_DTYPES[spec["dtype"]]).itemsize
        offset = spec["offset"]
        _expect(_int(offset) and offset >= 0 and offset % _ALIGN == 0, f"{at}.offset",
                f"must be an integer ≥ 0, a multiple of {_ALIGN}")
        _expect(offset + nbytes <= data_bytes, at, f"{nbytes} bytes at offset {offset} run past the data section")
        out[name] = (_DTYPES[spec["dtype"]], tuple(shape), offset, nbytes)
    return out


def _check_shapes(a: dict[str, np.ndarray], kind: str, cell: str, where: str) -> None:
    """Every array of one trace agrees with ``hidden``'s layers, directions, steps, batch and units."""
    for name in ("hidden", "grad_h", "grad_h_norm", "grad_out_norm", "grad_h0", "lengths", "output", "loss"):
        _expect(name in a, where, f"has no {name}")
    hidden = a["hidden"]
    _expect(hidden.ndim in (4, 5), f"{where}.hidden", "must be (layers, directions, T, N, H) or (layers, directions, "
                                                      "T, H)")
    L, D, T = hidden.shape[:3]
    _expect(D in (1, 2) and L >= 1 and T >= 1, f"{where}.hidden", "needs at least one layer and step, 1 or 2 "
                                                                  "directions")
    batch = hidden.shape[3:-1]
    _expect(a["grad_h"].shape == hidden.shape, f"{where}.grad_h", f"must be shaped like hidden {hidden.shape}")
    for name in ("grad_h_norm", "grad_out_norm", "grad_c_norm"):
        if name in a:
            _expect(a[name].shape == (L, D, T), f"{where}.{name}", f"must be {(L, D, T)}")
    _expect(a["grad_h0"].shape == (L, D, *batch, hidden.shape[-1]), f"{where}.grad_h0", "must be (layers, directions,"
                                                                                       " [N,] H) of hidden")
    pair = [n for n in ("cell_state", "grad_c", "grad_c_norm", "grad_c0") if n in a]
    _expect(pair in ([], ["cell_state", "grad_c", "grad_c_norm", "grad_c0"]), where,
            "cell_state, grad_c, grad_c_norm and grad_c0 come together or not at all")
    _expect(cell == "custom" or bool(pair) == (cell == "lstm"), where,
            "an lstm trace has cell_state, grad_c, grad_c_norm and grad_c0; an rnn or gru trace has none")
    units = a["cell_state"].shape[-1] if pair else hidden.shape[-1]
    if pair:
        _expect(a["cell_state"].shape == (L, D, T, *batch, units) == a["grad_c"].shape, f"{where}.cell_state",
                "cell_state and grad_c must be (layers, directions, T, [N,] units) of hidden")
        _expect(a["grad_c0"].shape == (L, D, *batch, units), f"{where}.grad_c0", "must be (layers, directions, [N,] "
                                                                                "units)")
    gates = sorted(n[5:] for n in a if n.startswith("gate."))
    _expect(gates == sorted(GATES.get(cell, ())), where, f"a {cell} trace's gates are {list(GATES.get(cell, ()))}")
    for g in gates:
        _expect(a[f"gate.{g}"].shape == (L, D, T, *batch, units), f"{where}.gate.{g}", "must be shaped like the cell "
                                                                                     "state")
    N = batch[0] if batch else 1
    _expect(a["lengths"].shape == (N,) and bool(np.all((a["lengths"] >= 0) & (a["lengths"] <= T))),
            f"{where}.lengths", f"must be ({N},) integers in [0, {T}]")
    _expect(a["loss"].shape == (), f"{where}.loss", "must be a single number")
    lag = [n for n in ("output_steps", "grad_h_by_output") if n in a]
    _expect(len(lag) in (0, 2) and ("grad_x_by_output" not in a or lag), where,
            "output_steps and grad_h_by_output come together, and grad_x_by_output only with them")
    if lag:
        steps = a["output_steps"]
        _expect(steps.ndim == 1 and bool(np.all((steps >= 0) & (steps < T))) and bool(np.all(np.diff(steps) > 0)),
                f"{where}.output_steps", f"must be increasing steps in [0, {T})")
        S = len(steps)
        _expect(a["grad_h_by_output"].shape == (L, D, S, T), f"{where}.grad_h_by_output", f"must be {(L, D, S, T)}")
        if "grad_x_by_output" in a:
            _expect(a["grad_x_by_output"].shape == (S, T), f"{where}.grad_x_by_output", f"must be {(S, T)}")
    parts = [n for n in a if n.startswith("output.")]
    _expect(parts in ([], [f"output.{p}" for p in _PACKED if f"output.{p}" in a]) and (not parts or
            "output.batch_sizes" in a), where, "a packed output needs output.batch_sizes")


def _trace(a: dict[str, np.ndarray], kind: str, cell: str) -> ModuleTrace:
    output = torch.from_numpy(a["output"])
    if "output.batch_sizes" in a:
        parts = [torch.from_numpy(a[f"output.{p}"]) if f"output.{p}" in a else None for p in _PACKED]
        output = PackedSequence(output, *parts)
    names = {f.name for f in fields(ModuleTrace)}
    kw = {name: a.get(name) for name in _ARRAYS if name in names}
    gates = {n[5:]: v for n, v in a.items() if n.startswith("gate.")}
    return ModuleTrace(cell=cell, gates=gates, output=output, loss=float(a["loss"]), kind=kind, **kw)


def load_traces(data: bytes, limits: TraceFileLimits | None = None) -> dict[str, ModuleTrace | list[ModuleTrace]]:
    """Read a trace file's bytes back into ``{key: trace or [trace per call]}``, refusing anything malformed.

    Raises :class:`TraceFileError` naming the field; nothing else for any input of bytes."""
    limits = limits or TraceFileLimits()
    _expect(isinstance(data, bytes | bytearray | memoryview), "file", "must be bytes")
    data = bytes(data)
    _expect(len(data) <= limits.max_bytes, "file", f"{len(data)} bytes; at most {limits.max_bytes}")
    _expect(len(data) >= _PREFIX and data[: len(MAGIC)] == MAGIC, "file", f"does not start with {MAGIC.decode()}")
    (size,) = struct.unpack("<I", data[len(MAGIC) : _PREFIX])
    _expect(size <= limits.max_header_bytes, "header", f"{size} bytes; at most {limits.max_header_bytes}")
    _expect(_PREFIX + size <= len(data), "header", f"declares {size} bytes; the file has {len(data) - _PREFIX}")
    raw = data[_PREFIX : _PREFIX + size]
    _depth(raw, limits.max_depth)
    try:
        header = json.loads(raw.decode("utf-8"), object_pairs_hook=_strict, parse_constant=_refuse_constant)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError, ValueError) as e:
        if isinstance(e, TraceFileError):
            raise
        raise TraceFileError(f"header: not UTF-8 JSON ({type(e).__name__})") from None
    _expect(isinstance(header, dict) and header.get("format") == FORMAT, "header.format", f"must be {FORMAT!r}")
    _expect(header.get("version") == VERSION, "header.version", f"this reader reads version {VERSION}")
    _expect(set(header) == {"format", "version", "data_bytes", "traces"}, "header",
            "must have exactly format, version, data_bytes and traces")
    data_bytes, entries = header["data_bytes"], header["traces"]
    _expect(_int(data_bytes) and data_bytes == len(data) - _PREFIX - size, "header.data_bytes",
            f"must be the {len(data) - _PREFIX - size} bytes after the header")
    _expect(isinstance(entries, list) and 0 < len(entries) <= limits.max_traces, "header.traces",
            f"must be a list of 1 to {limits.max_traces} traces")
    declared = []
    for i, entry in enumerate(entries):
        where = f"traces[{i}]"
        _expect(isinstance(entry, dict) and set(entry) == {"key", "call", "kind", "cell", "arrays"}, where,
                "must be an object with exactly key, call, kind, cell and arrays")
        _expect(isinstance(entry["key"], str) and len(entry["key"]) <= limits.max_key_chars, f"{where}.key",
                f"must be a string of at most {limits.max_key_chars} characters")
        _expect(entry["call"] is None or (_int(entry["call"]) and 0 <= entry["call"] < limits.max_traces),
                f"{where}.call", "must be null or a call index")
        _expect(entry["kind"] in KINDS, f"{where}.kind", f"must be one of {list(KINDS)}")
        _expect(entry["cell"] in CELLS, f"{where}.cell", f"must be one of {list(CELLS)}")
        _expect((entry["cell"] == "custom") == (entry["kind"] in ("custom", "marked")), f"{where}.cell",
                "is 'custom' exactly for the kinds 'custom' and 'marked'")
        declared.append(_declared(entry, where, limits, data_bytes))
    spans = sorted((off, off + n) for arrays in declared for (_, _, off, n) in arrays.values() if n)
    _expect(all(a[1] <= b[0] for a, b in zip(spans, spans[1:])), "header", "two arrays overlap in the data section")
    body = memoryview(data)[_PREFIX + size :]
    traces: dict[str, list] = {}
    for i, (entry, arrays) in enumerate(zip(entries, declared)):
        where = f"traces[{i}]"
        a = {name: np.frombuffer(body, dtype=dt, count=math.prod(shape), offset=off).reshape(shape).copy()
             for name, (dt, shape, off, _) in arrays.items()}
        _check_shapes(a, entry["kind"], entry["cell"], where)
        traces.setdefault(entry["key"], []).append((entry["call"], _trace(a, entry["kind"], entry["cell"])))
    out: dict[str, ModuleTrace | list[ModuleTrace]] = {}
    for key, calls in traces.items():
        order = [c for c, _ in calls]
        if order == [None]:
            out[key] = calls[0][1]
        else:
            _expect(order == list(range(len(calls))), f"key {key[:limits.max_key_chars]!r}",
                    "its traces must be one with call null, or calls 0, 1, 2, … in order")
            out[key] = [t for _, t in calls]
    return out
