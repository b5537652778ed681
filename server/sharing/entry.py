"""A shared-cache entry: one recording as bytes, and the reader that refuses anything that is not one whole.

Whatever Redis hands back may have been cut short, grown, overwritten by another program or by
someone with access to it, so :func:`read_entry` trusts nothing it has not checked, in this order:

1. the **envelope**: a fixed header ::

       magic b"GFLR" | format u16 | 0 u16 | units u32 | body bytes u64 | SHA-256 of the body (32 bytes)

   then the body, one record per unit: a flags byte (1: a text follows, 2: binary data follows,
   at least one), then each part as a u32 length and its bytes (integers little-endian).  The
   entry must be exactly header + body long, hash to the digest, and hold exactly ``units``
   records that end where the body ends: a truncated, extended or altered entry is refused before
   any of it is parsed, and every length is checked against the bytes left before it is used;
2. the **recording** (:func:`check_units`): every text a JSON object (strict JSON, no ``run``) of a
   known ``type`` with that type's fields; the frames in the order the server sends them, for the
   config asked for; every binary frame exactly as long as its text's steps and the start frame's
   shapes say; and complete: a run ends with its ``done`` frame, a training with its trace's.  Asked with the lag
   map (``run+lag``, ``train+lag``, ``document+lag``), it holds the map: a run's ``lag`` frame before ``done``, a
   training's after each profiled step (with that ``step``) and in its trained model's trace.

Refusal is :class:`EntryError`, and nothing else: the reader never raises on any input otherwise.
:func:`max_entry_bytes` bounds the size of a genuine entry from the config alone, so a bigger one is
refused before it is read (server/sharing/cache.py).
"""

from __future__ import annotations

import hashlib
import json
import reprlib
import struct
from collections.abc import Sequence

from engine import Config
from engine.data import get_task
from engine.lab import profile_count
from engine.models import GATES
from engine.tracing import MAX_ROWS
from server.sharing.keys import base_kind, with_lag
from server.wire import Recording, Unit, loads_strict

MAGIC = b"GFLR"
FORMAT = 3
HEADER = struct.Struct("<4sHHIQ32s")
_LENGTH = struct.Struct("<I")
_TEXT, _DATA = 1, 2

# The fields each frame must have (server/wire/frames.py, server/wire/training_frames.py write them; a test
# checks both agree).
FIELDS = {
    "start": {"config", "shapes", "gates", "has_cell_state", "input_steps", "scored_steps", "theory", "param_count",
              "layout", "handoff"},
    "forward": {"t", "steps", "output"},
    "backward": {"t", "steps", "grad_h_norm", "grad_c_norm", "grad_out_norm", "bound", "gate_product"},
    "done": {"loss", "param_grad_norms", "total_norm", "total_norm_clipped", "clip_coef", "clipped_fraction",
             "overflow_t", "underflow_t", "handoff_grad_norm", "attention", "elapsed_ms"},
    "train_start": {"config", "steps", "profile_every", "shapes", "baseline", "clip", "clip_at", "classification"},
    "train_step": {"step", "loss", "grad_norm", "grad_norm_clipped", "clip_coef", "clipped", "metric", "elapsed_s",
                   "steps_per_s", "eta_s"},
    "train_done": {"steps_done", "stopped", "diverged_at", "message", "final_loss"},
    "lag": {"output_steps", "rows", "lag_curve"},
}  # fmt: skip
FIELDS["trace"] = FIELDS["start"] | {"precision", "output", "forward", "backward", "done"}  # a POST /api/trace document


class EntryError(ValueError):
    """The entry is not a whole recording of the request it is filed under; it must not be used."""


# -- the envelope ----------------------------------------------------------------------


def pack(rec: Recording) -> bytes:
    """``rec`` as one entry (see the module docstring).  Packs any units: checking is the reader's job."""
    body = []
    for u in rec.units:
        body.append(bytes([(_TEXT if u.text is not None else 0) | (_DATA if u.data is not None else 0)]))
        for part in (None if u.text is None else u.text.encode("utf-8"), u.data):
            if part is not None:
                body += [_LENGTH.pack(len(part)), part]
    payload = b"".join(body)
    header = HEADER.pack(MAGIC, FORMAT, 0, len(rec.units), len(payload), hashlib.sha256(payload).digest())
    return header + payload


def unpack(blob: bytes) -> list[Unit]:
    """The units of an entry whose envelope is whole and unaltered; else :class:`EntryError`."""
    if len(blob) < HEADER.size:
        raise EntryError(f"{len(blob)} bytes: shorter than an entry's {HEADER.size}-byte header")
    magic, version, zero, count, size, digest = HEADER.unpack_from(blob)
    if magic != MAGIC or version != FORMAT or zero != 0:
        raise EntryError("not a recording of this format")
    if len(blob) != HEADER.size + size:
        raise EntryError(f"the header announces {HEADER.size + size} bytes; the entry has {len(blob)}")
    view = memoryview(blob)[HEADER.size :]
    if hashlib.sha256(view).digest() != digest:
        raise EntryError("the body does not match its checksum")
    units, i = [], 0
    for _ in range(count):
        if i >= size:
            raise EntryError(f"the body ends after {len(units)} of {count} units")
        flags = view[i]
        i += 1
        if flags not in (_TEXT, _DATA, _TEXT | _DATA):
            raise EntryError(f"unit {len(units)} has flags {flags}")
        parts = []
        for bit in (_TEXT, _DATA):
            if not flags & bit:
                parts.append(None)
                continue
            if i + _LENGTH.size > size:
                raise EntryError(f"unit {len(units)} is cut short")
            (n,) = _LENGTH.unpack_from(view, i)
            i += _LENGTH.size
            if n > size - i:
                raise EntryError(f"unit {len(units)} announces {n} bytes; {size - i} are left")
            parts.append(bytes(view[i : i + n]))
            i += n
        try:
            text = None if parts[0] is None else parts[0].decode("utf-8")
        except UnicodeDecodeError:
            raise EntryError(f"unit {len(units)}'s text is not UTF-8") from None
        units.append(Unit(text, parts[1]))
    if i != size:
        raise EntryError(f"{size - i} bytes follow the last unit")
    return units


def read_entry(blob: bytes, kind: str, config: Config) -> Recording:
    """The recording in ``blob`` if it is a whole ``kind`` result for ``config``; else :class:`EntryError`."""
    units = unpack(blob)
    check_units(kind, config, units)
    return Recording.of(units)


# -- the recording ---------------------------------------------------------------------


def check_units(kind: str, config: Config, units: Sequence[Unit]) -> None:
    """Raise :class:`EntryError` unless ``units`` are a complete ``kind`` result for ``config``, as sent."""
    expected = json.loads(json.dumps(config.to_dict()))  # as JSON reads it back
    lag, kind = with_lag(kind), base_kind(kind)
    if kind == "document":
        if len(units) != 1 or units[0].text is not None or units[0].data is None:
            raise EntryError("a trace document is one unit of JSON bytes")
        try:
            text = units[0].data.decode("utf-8")
        except UnicodeDecodeError:
            raise EntryError("the document is not UTF-8") from None
        document = _frame(text, "trace")
        _for_config(document, expected)
        _check_attention(document["done"] if isinstance(document["done"], dict) else {}, config)
        lag_keys = {"output_steps", "grad_h_by_output", "grad_x_by_output", "lag_curve"}
        if lag and not (isinstance(document["backward"], dict) and lag_keys <= document["backward"].keys()):
            raise EntryError("a document asked with the lag map lacks it")
        return
    frames = _Frames(units)
    if kind == "train":
        _check_training(frames, config, expected, lag)
    elif kind != "run":
        raise EntryError(f"no recording kind {kind!r}")
    _check_run(frames, config, expected, lag)
    if frames.i != len(units):
        raise EntryError(f"{len(units) - frames.i} units follow the final frame")


class _Frames:
    """The units in order, each read as a frame of an expected type."""

    def __init__(self, units: Sequence[Unit]):
        self.units, self.i = units, 0

    def next(self, *kinds: str, data: bool = False) -> tuple[dict, int]:
        """The next unit as a frame of one of ``kinds``, and its binary data's length (``data``: data must follow)."""
        what = " or ".join(kinds)
        if self.i >= len(self.units):
            raise EntryError(f"the recording ends before its {what} frame")
        unit = self.units[self.i]
        if unit.text is None or (unit.data is not None) != data:
            raise EntryError(f"unit {self.i} is not a {what} frame" + (" with its binary data" if data else ""))
        self.i += 1
        return _frame(unit.text, *kinds), 0 if unit.data is None else len(unit.data)


def _frame(text: str, *kinds: str) -> dict:
    """``text`` as a frame whose type is one of ``kinds``, with that type's fields."""
    what = " or ".join(kinds)
    if not text.startswith("{"):
        raise EntryError(f"a {what} frame's text is not a JSON object")
    try:
        value = loads_strict(text)
    except (ValueError, RecursionError):
        raise EntryError(f"a {what} frame's text is not strict JSON") from None
    if not isinstance(value, dict) or value.get("type") not in kinds or "run" in value:
        found = _shown(value.get("type")) if isinstance(value, dict) else type(value).__name__
        raise EntryError(f"found {found} where a {what} frame belongs")
    missing = FIELDS[value["type"]] - value.keys()
    if missing:
        raise EntryError(f"the {value['type']} frame lacks {', '.join(sorted(missing))}")
    return value


def _shown(value) -> str:
    """A short description of a value read from the entry, however big or deep."""
    return reprlib.repr(value)[:60]


def _for_config(frame: dict, expected: dict) -> None:
    if frame["config"] != expected:
        raise EntryError(f"the {frame['type']} frame is for another config")


def _integer(where: str, value, low: int, high: int) -> int:
    if type(value) is not int or not low <= value <= high:
        raise EntryError(f"{where} is {_shown(value)}; expected an integer from {low} to {high}")
    return value


def _per_step(frame: dict, keys, n: int) -> None:
    """Each of ``keys`` holds one entry per step of the message (or null, for a series the model has not)."""
    for key in keys:
        value = frame[key]
        if not (isinstance(value, list) and len(value) == n) and not (value is None and key != "grad_h_norm"):
            raise EntryError(f"{frame['type']}.{key} does not hold one entry for each of its {n} steps")


def _check_run(frames: _Frames, config: Config, expected: dict, lag: bool = False) -> None:
    start, _ = frames.next("start")
    _for_config(start, expected)
    shapes, layout = start["shapes"], start["layout"]
    if not isinstance(shapes, dict) or not isinstance(layout, dict):
        raise EntryError("start.shapes and start.layout must be objects")
    T = _integer("start.shapes.T", shapes.get("T"), _steps(config), _steps(config))
    for key, size in (("L", config.num_layers), ("D", config.num_directions), ("H", config.hidden_size)):
        _integer(f"start.shapes.{key}", shapes.get(key), size, size)
    names = layout.get("forward")
    if not (isinstance(names, list) and names and all(isinstance(n, str) for n in names)):
        raise EntryError("start.layout.forward must name the forward arrays")
    step_bytes = config.num_layers * config.num_directions * config.hidden_size * 4  # a float32 (L, D, H) block
    t = 0
    while t < T:  # forward messages from t = 0 up, each starting where the last one ended
        frame, length = frames.next("forward", data=True)
        _integer("forward.t", frame["t"], t, t)
        n = _integer("forward.steps", frame["steps"], 1, T - t)
        _per_step(frame, ("output",), n)
        if length != n * len(names) * step_bytes:
            raise EntryError(f"a forward frame of {n} steps carries {length} bytes")
        t += n
    while t > 0:  # backward messages from t = T-1 down, likewise
        frame, length = frames.next("backward", data=True)
        _integer("backward.t", frame["t"], t - 1, t - 1)
        n = _integer("backward.steps", frame["steps"], 1, t)
        _per_step(frame, ("grad_h_norm", "grad_c_norm", "grad_out_norm", "bound", "gate_product"), n)
        if length != n * step_bytes:
            raise EntryError(f"a backward frame of {n} steps carries {length} bytes")
        t -= n
    if lag:
        _check_lag(frames, config)
    _check_attention(frames.next("done")[0], config)


def _check_attention(done: dict, config: Config) -> None:
    """A model with attention's ``done`` carries its (T, T) alignment; another's carries none."""
    found = done.get("attention")
    if config.attention == "none":
        if found is not None:
            raise EntryError("done.attention of a model without attention")
        return
    T = config.seq_len
    rows = found.get("alignment") if isinstance(found, dict) else None
    if not (isinstance(rows, list) and len(rows) == T and all(isinstance(r, list) and len(r) == T for r in rows)):
        raise EntryError(f"done.attention must hold a {T} × {T} alignment")


def _check_lag(frames: _Frames, config: Config, step: int | None = None) -> None:
    """The next frame is a ``lag`` frame of ``config``'s shapes with its float32 rows (a training's: of ``step``)."""
    frame, length = frames.next("lag", data=True)
    if step is not None:
        _integer("lag.step", frame.get("step"), step, step)
    elif "step" in frame:
        raise EntryError("a trace's lag frame names a training step")
    T = _steps(config)
    S = _integer("lag.rows", frame["rows"], 0, MAX_ROWS)
    steps = frame["output_steps"]
    if not (isinstance(steps, list) and len(steps) == S and all(type(s) is int and 0 <= s < T for s in steps)):
        raise EntryError(f"lag.output_steps must be {S} steps from 0 to {T - 1}")
    L, D = config.num_layers, config.num_directions
    if length != 4 * (L * D + 1) * S * T:
        raise EntryError(f"a lag frame of {S} rows carries {length} bytes")


def _check_training(frames: _Frames, config: Config, expected: dict, lag: bool) -> None:
    """train_start, the steps 1..n in order (with the lag map: each profiled step followed by its lag frame), and
    train_done saying n."""
    start, _ = frames.next("train_start")
    _for_config(start, expected)
    done = 0
    while (frame := frames.next("train_step", "train_done")[0])["type"] == "train_step":
        done = _integer("train_step.step", frame["step"], done + 1, min(done + 1, config.steps))
        if lag and "profile" in frame:
            _check_lag(frames, config, done)
    _integer("train_done.steps_done", frame["steps_done"], done, done)


# -- how big a genuine entry can be ------------------------------------------------------


def _steps(config: Config) -> int:
    """T of the recorded arrays: the encoder's steps then the decoder's for an encoder-decoder."""
    return 2 * config.seq_len if config.arch == "encoder-decoder" else config.seq_len


_NUMBER = 32  # bytes of JSON text one number can take, with its separator ("-1.2345678901234567e-308,")
_FRAME = 1024  # bytes of keys, fixed fields and unit record around each frame


def max_entry_bytes(kind: str, config: Config) -> int:
    """An upper bound on the bytes of a genuine ``kind`` entry for ``config``, from the config alone.

    The binary frames hold (K + 1) float32 arrays of (L, D, T, H): the K forward arrays and grad_h.
    Text carries the outputs (T, O), five per-step series (L, D, T), the theory (per layer, direction
    and gate block, and layer 0's eigenvalues: 2 G H), the step lists and small fields; a training adds
    one frame per step and its (L, D, T) profiles.  A document writes every number as JSON text.  The lag map adds
    one map (at most MAX_ROWS rows) to the trace and, to a training, one to each profiled step.
    """
    G = max(1, len(GATES[config.cell]))
    K = 1 + (config.cell == "lstm") + len(GATES[config.cell])
    L, D, H = config.num_layers, config.num_directions, config.hidden_size
    T = _steps(config)
    numbers = T * get_task(config.task).output_size + 5 * L * D * T + 2 * T + 2 * G * H + 16 * L * D * G + 256
    size = HEADER.size + 4 * (K + 1) * L * D * T * H + _NUMBER * numbers + _FRAME * (2 * T + 2)
    lag, kind = with_lag(kind), base_kind(kind)
    # A lag map: its float32 rows (L, D, S, T) and (S, T), as text in a document; the lag curve and the output steps.
    cells = (L * D + 1) * MAX_ROWS * T
    lag_map = _FRAME + _NUMBER * (L * D * T + MAX_ROWS) + (_NUMBER if kind == "document" else 4) * cells
    if lag:
        size += lag_map
    if kind == "document":
        size += _NUMBER * (K + 1) * L * D * T * H
    elif kind == "train":
        profiles = profile_count(config.steps)
        size += _FRAME * (config.steps + 2) + _NUMBER * profiles * L * D * T + (profiles * lag_map if lag else 0)
    return size
