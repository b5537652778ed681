"""The parse pool: a worker that crashes, hangs or allocates too much costs one upload, which is answered; the
next parse works, and the server serves every other client while a parse is in flight."""

from __future__ import annotations

import functools

import anyio
import pytest
from fastapi.testclient import TestClient

from server.app import create_app
from server.settings import Settings
from server.uploads import ParseFailed, ParsePool, UploadRefused, read_series, series_file, service
from tests.server import pool_jobs
from tests.server.test_upload_ws import PRICES
from tests.server.ws_helpers import SMALL, receive_frame, run_config, wait_until


@pytest.fixture(scope="module")
def pool():
    pool = ParsePool(1, 256 * 2**20)
    yield pool
    pool.close()


def run(pool: ParsePool, fn, *args, seconds: float = 20.0):
    return anyio.run(functools.partial(pool.run, fn, *args, seconds=seconds))


def test_a_worker_that_crashes_is_replaced_and_the_next_parse_works(pool):
    before = pool.replaced
    with pytest.raises(ParseFailed, match=r"crashed \(signal 11\)"):
        run(pool, pool_jobs.crash)
    assert pool.replaced == before + 1
    assert run(pool, pool_jobs.echo, 7) == 7


def test_a_parse_over_its_time_limit_is_killed_and_replaced(pool, tmp_path):
    before = pool.replaced
    with pytest.raises(ParseFailed, match="took longer than the 0.5 s allowed"):
        run(pool, pool_jobs.wait_for, str(tmp_path / "never"), 1, seconds=0.5)
    assert pool.replaced == before + 1
    assert run(pool, pool_jobs.echo, "next") == "next"


def test_an_allocation_past_the_memory_cap_is_a_clear_failure(pool):
    with pytest.raises(ParseFailed, match="more memory than a parse may use"):
        run(pool, pool_jobs.allocate, 2 * 2**30)
    assert run(pool, pool_jobs.allocate, 10**6) == 10**6


def test_a_refusal_comes_back_as_itself(pool):
    with pytest.raises(UploadRefused) as e:
        run(pool, read_series, b"x\n1\n2\n", None, Settings())
    assert (e.value.kind, e.value.column) == ("series", "x") and "at least 3" in e.value.message


def held_parse(monkeypatch, release):
    """Make the app's CSV parses wait in the worker until ``release`` exists."""
    job = functools.partial(pool_jobs.wait_then, str(release), series_file.read_series_upload)
    monkeypatch.setattr(service, "read_series_upload", job)


def send_series(ws, data: bytes) -> None:
    ws.send_json({"type": "series", "bytes": len(data)})
    ws.send_bytes(data)


def test_other_clients_are_served_while_a_file_is_parsed(monkeypatch, tmp_path):
    held_parse(monkeypatch, tmp_path / "release")
    with TestClient(create_app(Settings(max_concurrent=1))) as client, client.websocket_connect("/ws") as ws:
        pool = client.app.state.hub.uploads.pool
        send_series(ws, PRICES)
        wait_until(lambda: pool.limiter.borrowed_tokens == 1)  # the parse is in flight, held in its worker
        assert client.get("/healthz").json()["status"] == "ok"
        with client.websocket_connect("/ws") as other:
            assert run_config(other, SMALL, 1).end["type"] == "done"
        assert pool.limiter.borrowed_tokens == 1, "the parse was still in flight"
        (tmp_path / "release").touch()
        loaded, _ = receive_frame(ws)
    assert loaded["type"] == "series_loaded" and loaded["length"] == 80


def test_a_parse_over_the_time_limit_is_an_error_frame_and_the_socket_stays(monkeypatch, tmp_path):
    held_parse(monkeypatch, tmp_path / "never")
    with TestClient(create_app(Settings(max_concurrent=1, upload_parse_seconds=0.5))) as client:
        with client.websocket_connect("/ws") as ws:
            send_series(ws, PRICES)
            error, _ = receive_frame(ws)
            assert run_config(ws, SMALL, 1).end["type"] == "done"
        budget = client.app.state.hub.uploads.budget
    assert (error["type"], error["kind"], error["field"], error["run"]) == ("error", "series", "series", None)
    assert "took longer than the 0.5 s allowed" in error["message"]
    assert budget.used == 0  # the refused file's bytes were given back
