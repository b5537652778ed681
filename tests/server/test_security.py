"""The server protects itself: foreign pages cannot open /ws, every response says nosniff and carries the CSP."""

from __future__ import annotations

import logging

import pytest
from fastapi.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

import server.__main__ as entry
from server.app import create_app
from server.guard import normalise_origin
from server.guard.headers import content_security_policy
from server.settings import Settings
from tests.server.ws_helpers import run_async


def refused(client: TestClient, headers: dict[str, str]) -> int | None:
    """The close code if the handshake is refused, None if the socket opens."""
    try:
        with client.websocket_connect("/ws", headers=headers):
            return None
    except WebSocketDisconnect as e:
        return e.code


def test_a_foreign_origin_is_refused_before_accept(client):
    assert refused(client, {"origin": "http://evil.example"}) == 1008
    # Same host name, another port, or another scheme's default port: another site.
    assert refused(client, {"origin": "http://testserver:8080"}) == 1008
    # Sandboxed iframes and file: pages send "null".
    assert refused(client, {"origin": "null"}) == 1008


def test_the_pages_own_origin_and_non_browsers_are_let_in(client):
    assert refused(client, {}) is None  # no Origin: curl, the benches, TestClient
    assert refused(client, {"origin": "http://testserver"}) is None
    assert refused(client, {"origin": "HTTP://TestServer:80"}) is None
    assert refused(client, {"origin": "http://127.0.0.1:8000", "host": "127.0.0.1:8000"}) is None


def test_listed_origins_may_embed_the_socket():
    settings = Settings(max_concurrent=1, allowed_origins=("https://school.example", "http://slides.example:9000"))
    with TestClient(create_app(settings)) as c:
        assert refused(c, {"origin": "https://school.example"}) is None
        assert refused(c, {"origin": "https://school.example:443"}) is None
        assert refused(c, {"origin": "http://slides.example:9000"}) is None
        assert refused(c, {"origin": "http://school.example"}) == 1008  # the scheme is part of the origin
        assert refused(c, {"origin": "https://evil.example"}) == 1008
    with TestClient(create_app(Settings(max_concurrent=1, allowed_origins=("*",)))) as c:
        assert refused(c, {"origin": "https://anyone.example"}) is None


def test_normalise_origin():
    assert normalise_origin("https://School.Example:443") == "https://school.example"
    assert normalise_origin("http://[::1]:8000") == "http://[::1]:8000"
    assert normalise_origin("null") is None
    assert normalise_origin("file:///home/x.html") is None
    assert normalise_origin("http://x.example:99999") is None


@pytest.mark.parametrize("path", ["/", "/api/config", "/healthz", "/lessons", "/static/js/main.js", "/docs", "/nope"])
def test_every_response_carries_the_headers(client, path):
    r = client.get(path)
    assert r.headers["x-content-type-options"] == "nosniff"
    policy = dict(d.strip().split(" ", 1) for d in r.headers["content-security-policy"].split(";"))
    assert policy["script-src"] == "'self'"  # no inline, no eval
    assert policy["default-src"] == "'self'" and policy["object-src"] == "'none'" and policy["base-uri"] == "'self'"
    assert policy["connect-src"].split() == ["'self'", "ws://testserver", "wss://testserver"]
    assert policy["frame-ancestors"] == "*"  # embed=1 lives in other sites' iframes


def test_a_post_carries_the_headers_too(client):
    r = client.post("/api/trace", content=b"not json")
    assert r.status_code == 400
    assert r.headers["x-content-type-options"] == "nosniff" and "content-security-policy" in r.headers


def test_frame_ancestors_is_configurable():
    settings = Settings(max_concurrent=1, frame_ancestors="'self' https://school.example")
    with TestClient(create_app(settings)) as c:
        assert "frame-ancestors 'self' https://school.example" in c.get("/").headers["content-security-policy"]


def test_a_forged_host_is_not_copied_into_the_policy():
    policy = content_security_policy(Settings(), "x; script-src *")
    assert "connect-src 'self';" in policy and "script-src *" not in policy


def test_settings_read_the_environment(monkeypatch):
    monkeypatch.setenv("GFL_ALLOW_ORIGIN", "https://a.example, https://b.example:8443,")
    monkeypatch.setenv("GFL_FRAME_ANCESTORS", "'none'")
    s = Settings.from_env()
    assert s.allowed_origins == ("https://a.example", "https://b.example:8443")
    assert s.frame_ancestors == "'none'"
    monkeypatch.delenv("GFL_ALLOW_ORIGIN")
    monkeypatch.delenv("GFL_FRAME_ANCESTORS")
    assert (Settings.from_env().allowed_origins, Settings.from_env().frame_ancestors) == ((), "*")


def test_the_flags_reach_the_workers_through_the_environment(monkeypatch):
    monkeypatch.setattr(entry.uvicorn, "run", lambda app, **kw: None)
    for name in ("GFL_ALLOW_ORIGIN", "GFL_FRAME_ANCESTORS"):
        monkeypatch.setenv(name, "")  # recorded, so main()'s writes are undone after the test
    argv = ["--allow-origin", "https://a.example", "--allow-origin", "https://b.example", "--frame-ancestors", "'self'"]
    entry.main(argv)
    assert entry.os.environ["GFL_ALLOW_ORIGIN"] == "https://a.example,https://b.example"
    assert entry.os.environ["GFL_FRAME_ANCESTORS"] == "'self'"
    with pytest.raises(SystemExit):
        entry.main(["--allow-origin", "school.example"])  # no scheme: not an origin


def test_an_abandoned_body_is_one_log_line(caplog):
    app = create_app(Settings(max_concurrent=1))
    incoming = [
        {"type": "http.request", "body": b'{"cell": "ls', "more_body": True},
        {"type": "http.disconnect"},
    ]
    sent = []

    async def receive():
        return incoming.pop(0)

    async def send(message):
        sent.append(message)

    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
        "path": "/api/trace", "raw_path": b"/api/trace", "query_string": b"", "root_path": "",
        "headers": [(b"host", b"testserver"), (b"content-type", b"application/json")],
        "client": ("127.0.0.1", 5000), "server": ("testserver", 80),
    }  # fmt: skip
    with caplog.at_level(logging.DEBUG):
        run_async(app, scope, receive, send)
    records = [r for r in caplog.records if r.levelno >= logging.INFO]
    assert [r.getMessage() for r in records] == ["POST /api/trace: client left before sending the whole body"]
    assert all(r.exc_info is None for r in caplog.records)
    # Nothing was computed: the only thing sent is an empty answer nobody will read.
    assert sent[0]["type"] == "http.response.start" and sent[0]["status"] == 499
