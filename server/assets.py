"""The page's files as a browser should get them: versioned URLs, ETags, and each file compressed once.

A classroom shares one Wi-Fi, so every byte of a first visit counts a hundred times over and a revisit should
move almost nothing.  The files under ``static/`` and Plotly's bundle are read once, when the app is built, and
each gets:

* a **versioned URL**: ``/static/<tree>/js/main.js``, where ``<tree>`` is a hash of the whole ``static/`` tree, so
  ES modules that import each other by relative URL stay inside one version; ``/vendor/<hash>/plotly.min.js``.
  A versioned answer is ``Cache-Control: public, max-age=31536000, immutable``: a revisit asks for nothing.
  The plain URLs (``/static/js/main.js``, ``/vendor/plotly.min.js``) still answer, ``no-cache`` (revalidated);
  so does a URL with an older tree's hash (a page loaded before a deploy), not cached;
* an **ETag** (its content's hash): a request whose ``If-None-Match`` names it gets ``304 Not Modified``;
* **gzip** (and **brotli** where the ``brotli`` package is installed) computed once, the first time a client
  accepts it, in a worker thread and shared by every request that waits for it; chosen by ``Accept-Encoding``
  (``Vary: Accept-Encoding``).  Brotli at its best quality takes seconds on Plotly's bundle, so until it is
  ready a request that accepts both gets gzip.

The tree is read when the app is built: a file changed afterwards is served as it was until a restart.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import mimetypes
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import anyio

try:  # optional: gzip alone when it is missing
    import brotli
except ImportError:  # pragma: no cover - brotli is a dependency; kept optional for slim installs
    brotli = None

IMMUTABLE = "public, max-age=31536000, immutable"
REVALIDATE = "no-cache"  # kept, but asked about each time: a 304 when unchanged
_COMPRESSIBLE = ("text/", "application/javascript", "application/json", "image/svg+xml")
_TYPES = {".js": "text/javascript", ".mjs": "text/javascript", ".css": "text/css", ".json": "application/json"}


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:16]


class Encodings:
    """Compressed bodies by (content hash, coding), each computed once in this process (every app built in it shares
    them), within a byte budget: least recently used first out."""

    def __init__(self, budget_bytes: int = 64 * 1024 * 1024):
        self.budget = budget_bytes
        self.bodies: OrderedDict[tuple[str, str], bytes | None] = OrderedDict()  # None: no smaller than the plain
        self.computing: dict[tuple[str, str], threading.Event] = {}
        self.lock = threading.Lock()

    def ready(self, key: tuple[str, str]) -> bool:
        with self.lock:
            return key in self.bodies

    def get(self, key: tuple[str, str]) -> bytes | None:
        with self.lock:
            if key in self.bodies:
                self.bodies.move_to_end(key)
            return self.bodies.get(key)

    def compute(self, key: tuple[str, str], body: bytes) -> bytes | None:
        """The compressed body (None when compression does not make it smaller); blocks: call it in a thread.

        The first caller for ``key`` computes it; callers meanwhile wait for that one.
        """
        with self.lock:
            if key in self.bodies:
                return self.bodies[key]
            event = self.computing.get(key)
            mine = event is None
            if mine:
                event = self.computing[key] = threading.Event()
        if not mine:
            event.wait()
            return self.get(key)
        try:
            data = _compress(key[1], body)
            with self.lock:
                self.bodies[key] = data if len(data) < len(body) else None
                while sum(len(b or b"") for b in self.bodies.values()) > self.budget and len(self.bodies) > 1:
                    self.bodies.popitem(last=False)
            return self.bodies.get(key)
        finally:
            with self.lock:
                del self.computing[key]
            event.set()

    def start(self, key: tuple[str, str], body: bytes) -> None:
        """Compute ``key`` in the background, unless it is ready or in progress."""
        with self.lock:
            if key in self.bodies or key in self.computing:
                return
        threading.Thread(target=self.compute, args=(key, body), daemon=True).start()


ENCODINGS = Encodings()


def _compress(coding: str, body: bytes) -> bytes:
    # The best for the page's files.  Past a few MB (a trace document, float32 digits) level 1: a quarter of level 6's
    # CPU for 13 % more bytes (0.25 of the float64-digit text instead of 0.22; docs/wire.md).
    if coding == "gzip":
        return gzip.compress(body, compresslevel=9 if len(body) < 4_000_000 else 1, mtime=0)
    return brotli.compress(body, quality=11)


@dataclass(frozen=True)
class Asset:
    """One file: its bytes, media type and content hash."""

    body: bytes
    media_type: str
    digest: str

    @property
    def compressible(self) -> bool:
        return self.media_type.startswith(_COMPRESSIBLE) and len(self.body) > 256

    def etag(self, coding: str | None) -> str:
        return f'"{self.digest}-{coding}"' if coding else f'"{self.digest}"'

    def matching_tag(self, if_none_match: str) -> str | None:
        """The entity tag in ``If-None-Match`` that names a representation of this content (weak comparison,
        RFC 9110), as this server writes it; None when none does."""
        for tag in if_none_match.split(","):
            tag = tag.strip().removeprefix("W/").strip('"')
            if tag == "*":
                return self.etag(None)
            if tag.split("-")[0] == self.digest:
                return f'"{tag}"'
        return None

    async def representation(self, accept_encoding: str) -> tuple[str | None, bytes]:
        """The coding to answer with and its body: brotli when accepted and ready, else gzip when accepted, else
        the plain bytes.  gzip is computed by the first request that accepts it (the others wait for it), brotli
        in the background: nobody waits for it."""
        if not self.compressible:
            return None, self.body
        accepted = accepted_codings(accept_encoding)
        if "br" in accepted and brotli is not None:
            key = (self.digest, "br")
            ENCODINGS.start(key, self.body)
            if ENCODINGS.ready(key) and (data := ENCODINGS.get(key)) is not None:
                return "br", data
        if "gzip" in accepted:
            key = (self.digest, "gzip")
            data = ENCODINGS.get(key) if ENCODINGS.ready(key) else await anyio.to_thread.run_sync(
                ENCODINGS.compute, key, self.body)
            if data is not None:
                return "gzip", data
        return None, self.body


def accepted_codings(header: str) -> set[str]:
    """The content codings ``Accept-Encoding`` allows (``q`` > 0)."""
    codings = set()
    for part in header.lower().split(","):
        name, _, params = part.strip().partition(";")
        q = params.strip().removeprefix("q=") if params.strip().startswith("q=") else "1"
        try:
            allowed = float(q) > 0
        except ValueError:
            allowed = False
        if name and allowed:
            codings.add(name.strip())
    return codings


def read_asset(path: Path) -> Asset:
    body = path.read_bytes()
    media_type = _TYPES.get(path.suffix) or mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    return Asset(body, media_type, _digest(body))


class StaticTree:
    """Every file under a folder, read once, and the hash of the whole tree (the version in its URLs)."""

    def __init__(self, root: Path):
        self.files: dict[str, Asset] = {}
        if root.is_dir():
            for path in sorted(p for p in root.rglob("*") if p.is_file()):
                self.files[path.relative_to(root).as_posix()] = read_asset(path)
        tree = hashlib.sha256()
        for name, asset in self.files.items():
            tree.update(f"{name}\0{asset.digest}\0".encode())
        self.version = tree.hexdigest()[:12]

    def get(self, name: str) -> Asset | None:
        return self.files.get(name)


@functools.lru_cache(maxsize=4)
def _read_cached(path: str, mtime_ns: int, size: int) -> Asset:
    return read_asset(Path(path))


def package_asset(path: Path) -> Asset | None:
    """A file of an installed package (Plotly's bundle), read and hashed once per process while it is unchanged."""
    if not path.is_file():
        return None
    st = path.stat()
    return _read_cached(str(path), st.st_mtime_ns, st.st_size)


def page_urls(tree: StaticTree | None = None, plotly: Asset | None = None) -> dict[str, str]:
    """What templates write for the page's files: ``static`` (the prefix of ``static/``'s URLs) and ``plotly``.

    Versioned when ``tree`` and ``plotly`` are given (the server's pages); plain without (the static copy's pages,
    whose files sit beside them: server/export).
    """
    return {"static": f"/static/{tree.version}" if tree else "/static",
            "plotly": f"/vendor/{plotly.digest}/plotly.min.js" if plotly else "/vendor/plotly.min.js"}
