"""Giving freed memory back to the operating system after large computations, and keeping the collector off the
objects the server holds for good.

A large trace allocates hundreds of MB of temporaries in a worker thread.  glibc's allocator keeps
what a thread's arena freed for reuse by that arena, so after a few large traces in different
worker threads the process holds several arenas' worth of free memory that nothing uses: on this
machine, +200 MB of resident memory per largest trace, none of it live.  ``malloc_trim(0)`` hands
the free pages of every arena back.  Elsewhere (macOS, musl) this is a no-op.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc

_libc = None
try:
    _name = ctypes.util.find_library("c")
    if _name:
        _lib = ctypes.CDLL(_name)
        if hasattr(_lib, "malloc_trim"):
            _libc = _lib
except OSError:  # no C library to load: nothing to trim
    _libc = None


def release_free_memory() -> bool:
    """Return free heap pages to the OS; True when the C library could do it."""
    if _libc is None:
        return False
    _libc.malloc_trim(0)
    return True


def freeze_startup_objects() -> None:
    """Move every object alive now out of the cyclic collector's reach (``gc.freeze``); called once the app is built.

    The imports (torch, numpy, the web stack) leave ~190 000 tracked objects that live as long as the process.  A
    full collection walks all of them: ~250 ms of the event loop each time on this machine, and a room of sockets
    opening at once allocates enough to trigger one every few rooms (a third of the server's CPU a socket, sampled).
    Frozen, they are never walked; what the server allocates afterwards is collected as before.  The garbage already
    there is collected first, so none of it is kept for good.
    """
    gc.collect()
    gc.freeze()
