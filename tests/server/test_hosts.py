"""DNS rebinding fails: a request or handshake naming a host this server does not answer to gets 400.

A rebinding page's requests reach the lab with the page's own name in ``Host``; the lab's own pages
name localhost, an IP address, the address the server was reached at, or a listed name.
"""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from starlette.testclient import WebSocketDenialResponse

import server.__main__ as entry
from server.app import create_app
from server.guard.headers import host_allowed
from server.settings import Settings
from tests.server.ws_helpers import SMALL, read_run


def handshake_status(client: TestClient, host: str) -> int:
    """101 if /ws opens with this Host (and runs a trace), else the status of the refusal."""
    try:
        with client.websocket_connect("/ws", headers={"host": host}) as ws:
            ws.send_json({"type": "run", "config": SMALL})
            assert read_run(ws, 1).end["type"] == "done"
            return 101
    except WebSocketDenialResponse as refusal:
        assert "is not a name this server answers to" in refusal.text
        return refusal.status_code


@pytest.fixture(scope="module")
def listed():
    settings = Settings(max_concurrent=1, allowed_hosts=("lab.school.example", "*.class.example"))
    with TestClient(create_app(settings)) as c:
        yield c


@pytest.mark.parametrize("host", ["rebind.example", "rebind.example:8000", "lab.school.example.evil", "", "a b"])
def test_a_foreign_host_gets_400_on_http_and_before_the_handshake(listed, host):
    r = listed.get("/api/config", headers={"host": host})
    assert r.status_code == 400 and "--allow-host" in r.text
    assert r.headers["x-content-type-options"] == "nosniff"  # the refusal is an HTTP answer like any other
    assert handshake_status(listed, host) == 400  # /ws takes the fast path: refused there too, before accept
    assert listed.get("/healthz").status_code == 200  # and the server carries on


@pytest.mark.parametrize(
    "host",
    ["testserver", "localhost:8000", "LocalHost.", "app.localhost", "127.0.0.1:8000", "192.168.1.20:8000",
     "[::1]:8000", "lab.school.example", "LAB.School.Example:443", "room4.class.example"],
)  # fmt: skip
def test_the_labs_own_names_and_addresses_are_served(listed, host):
    assert listed.get("/api/config", headers={"host": host}).status_code == 200
    assert handshake_status(listed, host) == 101


def test_a_request_without_a_host_is_refused_and_a_star_lets_every_host_in():
    assert not host_allowed(None, "127.0.0.1", ())
    assert not host_allowed(None, "127.0.0.1", ("*",))  # no Host at all is malformed HTTP/1.1
    assert host_allowed("anything.example:8000", "127.0.0.1", ("*",))  # --allow-host '*': the check is off


def test_allow_host_reaches_the_workers_through_the_environment(monkeypatch):
    monkeypatch.setattr(entry.uvicorn, "run", lambda app, **kw: None)
    monkeypatch.setenv("GFL_ALLOW_HOST", "")  # recorded, so main()'s write is undone after the test
    entry.main(["--allow-host", "lab.school.example", "--allow-host", "*.class.example"])
    assert entry.os.environ["GFL_ALLOW_HOST"] == "lab.school.example,*.class.example"
    assert Settings.from_env().allowed_hosts == ("lab.school.example", "*.class.example")
    # A name the server is bound to by name is one it answers to.
    entry.main(["--host", "lab.local"])
    assert Settings.from_env().allowed_hosts == ("lab.school.example", "*.class.example", "lab.local")
    monkeypatch.setenv("GFL_ALLOW_HOST", "")
    entry.main(["--host", "0.0.0.0"])  # an address, not a name: every IP address is answered anyway
    assert Settings.from_env().allowed_hosts == ()
    for bad in ("http://lab.example", "lab.example:8000", "a b"):
        with pytest.raises(SystemExit):
            entry.main(["--allow-host", bad])
