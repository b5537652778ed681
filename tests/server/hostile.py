"""Hostile upload files, generated on the spot (no binaries in the repo): one function per shape of issue 22.

Each returns bytes a client could send.  Shared by the upload tests and bench/hostile.py.
"""

from __future__ import annotations

import io
import struct
import zipfile
import zlib

import torch
from torch import nn


def saved(state) -> bytes:
    """``torch.save(state)`` as bytes."""
    buf = io.BytesIO()
    torch.save(state, buf)
    return buf.getvalue()


def safetensors_bytes(state: dict) -> bytes:
    from safetensors.torch import save

    return save({k: v.contiguous() for k, v in state.items()})


def gru_state(seed: int = 0, hidden: int = 4, inputs: int = 1) -> dict:
    torch.manual_seed(seed)
    return nn.GRU(inputs, hidden).state_dict()


def zipped(entries: dict[str, bytes], method: int = zipfile.ZIP_DEFLATED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", method) as zf:
        for name, content in entries.items():
            zf.writestr(name, content)
    return buf.getvalue()


def torch_archive(pickle_bytes: bytes, method: int = zipfile.ZIP_DEFLATED, **storages: bytes) -> bytes:
    """A zip laid out as torch.save lays one out, around ``pickle_bytes``."""
    entries = {"archive/data.pkl": pickle_bytes, "archive/byteorder": b"little", "archive/version": b"3\n"}
    entries.update({f"archive/data/{k}": v for k, v in storages.items()})
    return zipped(entries, method)


def deep_key_pt(depth: int) -> bytes:
    """``{((((...)),),): None}``: a dict key of tuples nested ``depth`` deep, the pickle deflated.

    Two million deep, 4 KB: ``torch.load`` builds it, and the old error message's ``repr`` of the key
    crashed the process (segfault); 100 000 deep raised RecursionError.
    """
    nest = b"(" * depth + b")" + b"t" * depth  # MARK ... EMPTY_TUPLE TUPLE ...: each TUPLE wraps the one above
    return torch_archive(b"\x80\x02}" + nest + b"Ns.")


def deep_value_pt(depth: int) -> bytes:
    """``{'w': [[[...]]]}``: a value of lists nested ``depth`` deep."""
    return torch_archive(b"\x80\x02}X\x01\x00\x00\x00w" + b"]" * depth + b"a" * (depth - 1) + b"s.")


def tensor_pickle(numel: int, key: str = "w") -> bytes:
    """The pickle torch.save writes for ``{key: <float32 tensor of numel elements in storage '0'>}``."""
    name = key.encode()
    return (b"\x80\x02}X" + struct.pack("<I", len(name)) + name + b"ctorch._utils\n_rebuild_tensor_v2\n"
            b"((X\x07\x00\x00\x00storagectorch\nFloatStorage\nX\x01\x00\x00\x000X\x03\x00\x00\x00cpu"
            + b"J" + struct.pack("<i", numel) + b"tQK\x00J" + struct.pack("<i", numel) + b"\x85K\x01\x85\x89"
            b"ccollections\nOrderedDict\n)RtRs.")


def _deflated(content: bytes = b"", zeros: int = 0) -> tuple[bytes, int]:
    """(deflated bytes, CRC-32) of ``content``, or of ``zeros`` zero bytes streamed in 1 MiB pieces."""
    packer, parts, crc = zlib.compressobj(9, zlib.DEFLATED, -15), [], 0
    pieces = [content] if content else [bytes(min(1 << 20, zeros - k)) for k in range(0, zeros, 1 << 20)]
    for piece in pieces:
        parts.append(packer.compress(piece))
        crc = zlib.crc32(piece, crc)
    return b"".join(parts) + packer.flush(), crc


def raw_zip(entries: list[tuple[str, bytes, int, int]]) -> bytes:
    """A zip of deflated entries (name, packed bytes, CRC, declared size), written by hand so sizes can lie."""
    out, directory = bytearray(), bytearray()
    for name, packed, crc, size in entries:
        raw = name.encode()
        directory += struct.pack("<4s6H3L5H2L", b"PK\x01\x02", 20, 20, 0, 8, 0, 0, crc, len(packed), size, len(raw),
                                 0, 0, 0, 0, 0, len(out)) + raw
        out += struct.pack("<4s5H3L2H", b"PK\x03\x04", 20, 0, 8, 0, 0, crc, len(packed), size, len(raw), 0) + raw
        out += packed
    end = struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, len(entries), len(entries), len(directory), len(out), 0)
    return bytes(out + directory + end)


def zip_bomb_pt(inflated: int, declared: int | None = None) -> bytes:
    """A torch.save-shaped zip whose storage entry inflates to ``inflated`` zero bytes, a float32 tensor of them.

    ``declared`` smaller than ``inflated`` makes both headers lie about the entry's size, as a hostile file would.
    """
    entries = []
    for name, content in (("archive/data.pkl", tensor_pickle(inflated // 4)), ("archive/byteorder", b"little"),
                          ("archive/version", b"3\n")):
        entries.append((name, *_deflated(content), len(content)))
    entries.append(("archive/data/0", *_deflated(zeros=inflated), inflated if declared is None else declared))
    return raw_zip(entries)


def many_keys_pt(keys: int) -> bytes:
    """A valid state_dict of ``keys`` entries (all one small tensor, so the file stays small)."""
    shared = torch.zeros(2)
    return saved({f"k{i}": shared for i in range(keys)})


def nonfinite_pt(value: float = float("nan"), key: str = "weight_hh_l0") -> bytes:
    state = gru_state()
    state[key] = state[key].clone()
    state[key].view(-1)[3] = value
    return saved(state)


def rows_csv(rows: int) -> bytes:
    return b"1\n" * rows


def cr_only_csv(rows: int = 50) -> bytes:
    return ("price\r" + "".join(f"{10 + (k % 7)}\r" for k in range(rows))).encode()


def big_cell_csv(chars: int = 130_000) -> bytes:
    return b"price\n1\n" + b"9" * chars + b"\n3\n"


def long_header_csv(chars: int) -> bytes:
    return b"h" * chars + b"\n1\n2\n3\n"


def wide_csv(columns: int) -> bytes:
    return (",".join(f"c{i}" for i in range(columns)) + "\n").encode() + b"1\n"


def huge_values_csv(rows: int = 20) -> bytes:
    return b"x\n" + b"".join(b"1e308\n" if k % 2 else b"-1e308\n" for k in range(rows))
