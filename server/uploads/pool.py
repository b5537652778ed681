"""A few worker processes that parse uploaded files, each parse with a time limit.

Why processes: a parser fed a hostile file can crash (``torch.load`` segfaulted on a deeply nested
pickle), loop, or allocate gigabytes.  In a worker process that costs the worker: the server sees a
closed pipe or a missed deadline, kills and replaces the worker, and answers the one upload with a
clear error, while every other socket is served as before.  A worker's address space is capped
(``RLIMIT_AS``: what it had after start-up plus ``memory_bytes``), so an allocation past it is a
``MemoryError`` in the worker, not the machine swapping; it writes no core file.

Start-up: workers are forked by a ``forkserver`` that has already imported torch and the parsers, so a
new or replacement worker is ready in milliseconds rather than the seconds a fresh interpreter takes
to import torch; the forkserver itself starts once per server process, when the first worker is
needed (:meth:`ParsePool.warm` starts it early, off the event loop).  One pool serves every app of a
process (:func:`shared_pool`): it holds no state of its own between jobs.

A job is a module-level function and its arguments; it returns plain values (numbers, strings, numpy
arrays), or raises :class:`UploadRefused`, which comes back as the same refusal.  Nothing else of the
worker's is unpickled by the server: any other exception is turned into a message in the worker.
"""

from __future__ import annotations

import logging
import multiprocessing
import threading
from collections.abc import Callable
from typing import Any

import anyio
import anyio.to_thread

from server.uploads.limits import UploadRefused

__all__ = ["ParseFailed", "ParsePool", "shared_pool"]

log = logging.getLogger(__name__)
_PRELOAD = ["server.uploads.model_file", "server.uploads.series_file", "server.uploads.trace_file"]


class ParseFailed(Exception):
    """The worker died or missed its deadline; ``reason`` says which, in words."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def _vm_bytes() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    return 0


def _limit_memory(memory_bytes: int) -> None:
    try:
        import resource

        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        if memory_bytes > 0:
            cap = _vm_bytes() + memory_bytes
            resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
    except (ImportError, OSError, ValueError):  # not Linux: the time limit still holds
        pass


def _serve(conn, memory_bytes: int) -> None:
    """A worker's loop: one job at a time, answered as ('ok', value) or ('refused', plain tuple)."""
    _limit_memory(memory_bytes)
    import torch

    from server.memory import release_free_memory

    torch.set_num_threads(1)
    while True:
        try:
            fn, args = conn.recv()
        except (EOFError, OSError):
            return
        try:
            answer = ("ok", fn(*args))
        except UploadRefused as e:
            answer = ("refused", e.as_tuple())
        except MemoryError:
            answer = ("failed", "it needs more memory than a parse may use (GFL_UPLOAD_PARSE_MEMORY_BYTES)")
        except RecursionError:
            answer = ("failed", "it is nested too deeply to read")
        except Exception as e:  # noqa: BLE001 - a parser's own error on a hostile file: reported, never raised here
            answer = ("failed", f"{type(e).__name__}: {str(e)[:200]}")
        try:
            conn.send(answer)
        except (OSError, ValueError, TypeError) as e:
            conn.send(("failed", f"its result could not be sent back: {type(e).__name__}"))
        del answer
        release_free_memory()


class _Worker:
    def __init__(self, ctx, memory_bytes: int):
        self.conn, child = ctx.Pipe()
        self.process = ctx.Process(target=_serve, args=(child, memory_bytes), daemon=True, name="gfl-parse")
        self.process.start()
        child.close()

    def call(self, fn: Callable, args: tuple):
        self.conn.send((fn, args))
        return self.conn.recv()

    def kill(self) -> None:
        if self.process.is_alive():
            self.process.kill()
        self.process.join(timeout=5)
        self.conn.close()


class ParsePool:
    """At most ``workers`` parses at once, each in its own process, each for at most its ``seconds``."""

    def __init__(self, workers: int, memory_bytes: int):
        self.workers, self.memory_bytes = workers, memory_bytes
        self.ctx = multiprocessing.get_context("forkserver")
        self.ctx.set_forkserver_preload(_PRELOAD)
        self.idle: list[_Worker] = []
        self.lock = threading.Lock()
        self.limiter = anyio.CapacityLimiter(workers)  # also the threads that wait on the workers' pipes
        self.replaced = 0  # workers killed (a deadline) or found dead (a crash), for /healthz and tests
        self.jobs = 0

    def _take(self) -> _Worker:
        with self.lock:
            while self.idle:
                worker = self.idle.pop()
                if worker.process.is_alive():
                    return worker
                worker.kill()
        return _Worker(self.ctx, self.memory_bytes)

    def warm(self) -> None:
        """Start the forkserver and one idle worker now (blocking: call it in a thread)."""
        with self.lock:
            if self.idle:
                return
        worker = _Worker(self.ctx, self.memory_bytes)
        with self.lock:
            self.idle.append(worker)

    async def run(self, fn: Callable, *args: Any, seconds: float) -> Any:
        """``fn(*args)`` in a worker within ``seconds``.

        Raises :class:`UploadRefused` as the worker raised it, :class:`ParseFailed` when the worker failed,
        died or ran out of time (it is then killed and replaced).
        """
        async with self.limiter:
            worker = await anyio.to_thread.run_sync(self._take)
            self.jobs += 1
            try:
                with anyio.fail_after(seconds):
                    status, value = await anyio.to_thread.run_sync(worker.call, fn, args, abandon_on_cancel=True)
            except TimeoutError:
                self._discard(worker)
                raise ParseFailed(f"reading it took longer than the {seconds:g} s allowed") from None
            except (EOFError, OSError, BrokenPipeError):
                await anyio.to_thread.run_sync(worker.process.join, 5)  # reaped, so its exit code is known
                code = worker.process.exitcode
                self._discard(worker)
                what = f"signal {-code}" if code is not None and code < 0 else f"exit code {code}"
                log.warning("a parse worker died (%s) reading an upload; replaced", what)
                raise ParseFailed(f"the process reading it crashed ({what})") from None
            except BaseException:  # cancelled (the socket closed): the worker may still be busy with it
                self._discard(worker)
                raise
        with self.lock:
            self.idle.append(worker)
        if status == "refused":
            raise UploadRefused(*value)
        if status == "failed":
            raise ParseFailed(value)
        return value

    def _discard(self, worker: _Worker) -> None:
        self.replaced += 1
        threading.Thread(target=worker.kill, daemon=True).start()  # join off the event loop

    def close(self) -> None:
        with self.lock:
            idle, self.idle = self.idle, []
        for worker in idle:
            worker.kill()

    def report(self) -> dict:
        return {"workers": self.workers, "idle": len(self.idle), "jobs": self.jobs, "replaced": self.replaced}


_pools: dict[tuple[int, int], ParsePool] = {}
_pools_lock = threading.Lock()


def shared_pool(workers: int, memory_bytes: int) -> ParsePool:
    """The process's pool of this size (created on first use)."""
    with _pools_lock:
        key = (workers, memory_bytes)
        if key not in _pools:
            _pools[key] = ParsePool(workers, memory_bytes)
        return _pools[key]

