"""A ``torch.save`` file (a zip archive), checked from its central directory inwards before ``torch.load``.

In order, each step only after the one before passed:

1. the end-of-central-directory record: one archive, no zip64, at most ``max_upload_tensors`` + a few entries;
2. every central-directory entry: stored or deflated, not encrypted, its local header inside the file, its
   declared uncompressed size at most ``max_unpacked_bytes`` and all of them together too;
3. every entry read with a bounded read (declared size + 1 bytes at most, the CRC checked): an entry that
   inflates past what it declared is refused, whatever the directory said;
4. the pickle (``<archive>/data.pkl``) scanned opcode by opcode (:mod:`server.uploads.pickle_scan`);
5. ``torch.load(..., weights_only=True)`` on the archive, re-packed without compression when any entry was
   compressed (``torch.save`` never compresses; the re-packed bytes are exactly what was checked).

This runs in a parse worker (:mod:`server.uploads.pool`), never in the server's own process.
"""

from __future__ import annotations

import io
import pickle
import struct
import zipfile

import torch

from engine.config import quote
from server.settings import Settings
from server.uploads.limits import UploadRefused
from server.uploads.pickle_scan import scan_pickle

ZIP_MAGIC = b"PK\x03\x04"
_EOCD = struct.Struct("<4s4H2LH")  # end of central directory: signature .. comment length
_CENTRAL = struct.Struct("<4s6H3L5H2L")  # one central directory entry, before its name
_EXTRA_ENTRIES = 16  # data.pkl, version, byteorder, .format_version, .storage_alignment, serialization_id...


def _refuse(message: str) -> UploadRefused:
    return UploadRefused("model", f"the model file {message}")


def load_torch_file(data: bytes, limits: Settings):
    """The object ``torch.save`` stored in ``data``, after the checks above.  Raises :class:`UploadRefused`."""
    entries = central_directory(data, limits)
    archive, compressed = unpack(data, entries)
    pickles = [name for name in archive if name.endswith("/data.pkl") and name.count("/") == 1]
    if len(pickles) != 1:
        raise _refuse("is a zip archive but not one written by torch.save (it has no single <name>/data.pkl)")
    # A state_dict sets a dict entry per tensor and two per module in its _metadata: 3 per tensor is ample.
    scan_pickle(archive[pickles[0]], limits.max_pickle_opcodes, limits.max_pickle_depth,
                3 * limits.max_upload_tensors + 16)
    if compressed:
        data = _stored(archive)
    try:
        return torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        # weights_only refuses every global that is not a tensor or plain container: nothing was run.
        lines = str(e).strip().splitlines()
        raise _refuse("holds something other than tensors, which is never loaded (save module.state_dict(), "
                      f"not the module or other objects): {quote(lines[-1] if lines else type(e).__name__)}") from None
    except (RuntimeError, ValueError, TypeError, KeyError, IndexError, AttributeError, EOFError, OSError) as e:
        raise _refuse(f"could not be read by torch.load: {quote(str(e))}") from None


def central_directory(data: bytes, limits: Settings) -> list[zipfile.ZipInfo]:
    """Steps 1 and 2: the entries as the central directory declares them, each checked against the caps."""
    if not data.startswith(ZIP_MAGIC):
        # torch.save has written a zip archive since PyTorch 1.6; the older bare pickle is not read at all.
        raise _refuse("is not a file written by torch.save (which writes a zip archive) nor a .safetensors "
                      "file: save it with torch.save(model.state_dict(), path) or safetensors' save_file")
    end = data.rfind(b"PK\x05\x06", max(0, len(data) - _EOCD.size - 65535))
    if end < 0 or end + _EOCD.size > len(data):
        raise _refuse("is a cut-off zip archive (no central directory): was the upload complete?")
    _, disk, cd_disk, on_disk, total, cd_size, cd_offset, _ = _EOCD.unpack_from(data, end)
    if 0xFFFF in (on_disk, total) or 0xFFFFFFFF in (cd_size, cd_offset):
        raise _refuse("is a zip64 archive, which torch.save writes only for files far over the size cap")
    if disk or cd_disk or on_disk != total:
        raise _refuse("is a multi-part zip archive")
    most = limits.max_upload_tensors + _EXTRA_ENTRIES
    if total > most:
        raise _refuse(f"holds {total:,} zip entries; at most {most:,} are allowed "
                      f"({limits.max_upload_tensors:,} tensors)")
    if cd_offset + cd_size > end:
        raise _refuse("has a central directory outside the file")
    entries, pos, unpacked = [], cd_offset, 0
    for _ in range(total):
        if pos + _CENTRAL.size > end or data[pos : pos + 4] != b"PK\x01\x02":
            raise _refuse("has a malformed central directory")
        (_, _, _, flags, method, _, _, crc, csize, usize, nlen, xlen, clen, _, _, _, offset) = \
            _CENTRAL.unpack_from(data, pos)
        raw = data[pos + _CENTRAL.size : pos + _CENTRAL.size + nlen]
        name = raw.decode("utf-8" if flags & 0x800 else "cp437", "replace")
        pos += _CENTRAL.size + nlen + xlen + clen
        if flags & 0x1:
            raise _refuse(f"has an encrypted entry {quote(name)}")
        if method not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise _refuse(f"entry {quote(name)} uses compression method {method}; only stored (0) and "
                          "deflated (8) entries are read")
        if usize > limits.max_unpacked_bytes:
            raise too_much(f"entry {quote(name)} declares {usize:,} bytes unpacked", limits)
        unpacked += usize
        if unpacked > limits.max_unpacked_bytes:
            raise too_much(f"entries declare more than {unpacked:,} bytes unpacked", limits)
        if method == zipfile.ZIP_STORED and csize != usize:
            raise _refuse(f"entry {quote(name)} is stored but declares {csize:,} bytes packed, {usize:,} unpacked")
        if offset + 30 + csize > cd_offset:
            raise _refuse(f"entry {quote(name)} lies outside the file")
        info = zipfile.ZipInfo(name)
        info.compress_type, info.file_size, info.compress_size, info.CRC = method, usize, csize, crc
        entries.append(info)
    return entries


def too_much(what: str, limits: Settings) -> UploadRefused:
    return UploadRefused("model", f"the model file's {what}; at most {limits.max_unpacked_bytes:,} are allowed "
                                  "(GFL_MAX_UNPACKED_BYTES)", status=413)


def unpack(data: bytes, entries: list[zipfile.ZipInfo]) -> tuple[dict[str, bytes], bool]:
    """Step 3: every entry's bytes, each read at most one byte past its declared size; and whether any was packed."""
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
        infos = zf.infolist()
    except (zipfile.BadZipFile, ValueError, OSError, EOFError) as e:
        raise _refuse(f"is not a readable zip archive: {quote(str(e))}") from None
    declared = {(e.filename, e.file_size, e.compress_type) for e in entries}
    if len(infos) != len(entries) or any((i.filename, i.file_size, i.compress_type) not in declared for i in infos):
        raise _refuse("has a central directory that does not read the same twice")
    archive: dict[str, bytes] = {}
    for info in infos:
        if info.filename in archive:
            raise _refuse(f"has the entry {quote(info.filename)} twice")
        try:
            with zf.open(info) as f:
                content = f.read(info.file_size + 1)  # never more than declared + 1, whatever inflating gives
        except (zipfile.BadZipFile, ValueError, OSError, EOFError, NotImplementedError) as e:
            raise _refuse(f"entry {quote(info.filename)} is corrupt: {quote(str(e))}") from None
        if len(content) != info.file_size:
            more = "more" if len(content) > info.file_size else "less"
            raise _refuse(f"entry {quote(info.filename)} unpacks to {more} than the {info.file_size:,} bytes it "
                          "declares")
        archive[info.filename] = content
    return archive, any(i.compress_type != zipfile.ZIP_STORED for i in infos)


def _stored(archive: dict[str, bytes]) -> bytes:
    """The checked entries as an uncompressed zip, as torch.save writes them."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:
        for name, content in archive.items():
            zf.writestr(name, content)
    return buf.getvalue()
