"""``python -m server``: the command line reaches uvicorn with the protocol's transport limits."""

from __future__ import annotations

import pytest

import server.__main__ as entry


@pytest.fixture
def calls(monkeypatch):
    seen = []
    monkeypatch.setattr(entry.uvicorn, "run", lambda app, **kw: seen.append((app, kw)))
    # Recorded by setenv, so whatever main() writes there is undone after the test.
    monkeypatch.setenv("GFL_MAX_CONCURRENT", "1")
    monkeypatch.delenv("GFL_MAX_CONCURRENT")
    return seen


def test_defaults(calls):
    entry.main([])
    app, kw = calls[0]
    assert app == "server.app:app"
    assert (kw["host"], kw["port"], kw["workers"]) == ("127.0.0.1", 8000, 1)
    assert kw["ws_max_size"] == 1024 * 1024 and kw["ws_per_message_deflate"] is False


def test_workers_share_the_cores(calls, monkeypatch):
    monkeypatch.setattr(entry, "usable_cores", lambda: 8)
    entry.main(["--host", "0.0.0.0", "--port", "9000", "--workers", "4"])
    _, kw = calls[0]
    assert (kw["host"], kw["port"], kw["workers"]) == ("0.0.0.0", 9000, 4)
    assert entry.os.environ["GFL_MAX_CONCURRENT"] == "2"


def test_bad_workers(calls):
    with pytest.raises(SystemExit):
        entry.main(["--workers", "0"])
