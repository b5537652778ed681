"""A private redis-server for a test: started on a free port, stopped afterwards."""

from __future__ import annotations

import shutil
import subprocess
import time
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.e2e.harness import free_port, stop

REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"


@contextmanager
def redis_server():
    """Yield ``(redis://127.0.0.1:PORT/0, the redis-server's subprocess.Popen)``."""
    redis = pytest.importorskip("redis", reason="the shared-cache tests need the redis client package")
    if not Path(REDIS_SERVER).exists():
        pytest.fail("redis-server is not installed (tests/run.sh installs Debian's redis-server)")
    port = free_port()
    proc = subprocess.Popen(
        [REDIS_SERVER, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
         "--maxmemory", "256mb", "--maxmemory-policy", "allkeys-lru"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    client = redis.Redis(host="127.0.0.1", port=port, socket_timeout=1)
    deadline = time.monotonic() + 20
    while True:
        try:
            if client.ping():
                break
        except redis.ConnectionError:
            if time.monotonic() > deadline or proc.poll() is not None:
                raise
            time.sleep(0.05)  # condition-free: polling until redis-server answers PING
    try:
        yield f"redis://127.0.0.1:{port}/0", proc
    finally:
        client.close()
        stop(proc)
