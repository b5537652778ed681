"""POST /api/trace under load: refused before computing when too large, cancelled when its client leaves."""

from __future__ import annotations

import json

import anyio
import pytest
from fastapi.testclient import TestClient

from engine import Config, trace_config
from server.app import create_app
from server.settings import Settings
from server.sharing import request_key
from server.wire import json_value_count
from server.wire.frames import value_count
from tests.server.test_sharing import CountingTracer
from tests.server.ws_helpers import SMALL, GatedTracer, run_async


@pytest.mark.parametrize(
    "overrides",
    [{}, {"cell": "lstm", "bidirectional": True, "num_layers": 2}, {"cell": "gru", "task": "sentiment"},
     {"arch": "one-to-one", "task": "pattern"}, {"cell": "lstm", "task": "copy", "arch": "many-to-many"}],
)  # fmt: skip
def test_the_value_count_is_known_from_the_config(overrides):
    config = Config.from_dict({**SMALL, **overrides})
    assert json_value_count(config) == value_count(trace_config(config))


def test_a_trace_too_large_for_json_is_refused_without_computing():
    tracer = CountingTracer()
    with TestClient(create_app(Settings(max_concurrent=1, max_json_values=1000), tracer=tracer)) as client:
        r = client.post("/api/trace", json={"seq_len": 2000, "hidden_size": 256})
        assert r.status_code == 422 and r.json()["field"] == "seq_len"
        assert "per-unit values" in r.json()["message"]
        assert tracer.calls == [] and client.app.state.hub.scheduler.computations == 0


def test_identical_posts_share_one_computation_and_the_cache():
    tracer = CountingTracer()
    with TestClient(create_app(Settings(max_concurrent=2), tracer=tracer)) as client:
        first = client.post("/api/trace", json=SMALL)
        second = client.post("/api/trace", json=SMALL)
        assert first.status_code == second.status_code == 200 and first.content == second.content
        assert len(tracer.calls) == 1


def _post(app, body: dict, leave: anyio.Event, responses: list):
    """Drive the ASGI app with one POST /api/trace whose client leaves when ``leave`` is set."""
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
             "path": "/api/trace", "raw_path": b"/api/trace", "query_string": b"", "root_path": "",
             "headers": [(b"content-type", b"application/json"), (b"host", b"test")],
             "client": ("127.0.0.1", 1), "server": ("test", 80)}  # fmt: skip
    sent_body = False

    async def receive():
        nonlocal sent_body
        if not sent_body:
            sent_body = True
            return {"type": "http.request", "body": json.dumps(body).encode(), "more_body": False}
        await leave.wait()
        return {"type": "http.disconnect"}

    async def send(message):
        responses.append(message)

    async def call():
        await app(scope, receive, send)

    return call


def test_a_client_leaving_cancels_its_post(caplog):
    tracer = GatedTracer()
    app = create_app(Settings(max_concurrent=1), tracer=tracer)
    hub = app.state.hub
    a_body, b_body = SMALL, {**SMALL, "seed": 1}

    async def main():
        a_leave, b_leave = anyio.Event(), anyio.Event()
        a_out: list = []
        b_out: list = []
        async with anyio.create_task_group() as tg:
            tg.start_soon(_post(app, a_body, a_leave, a_out))
            await anyio.to_thread.run_sync(tracer.wait_entered)  # a holds the only slot
            tg.start_soon(_post(app, b_body, b_leave, b_out))
            while hub.scheduler.queue_length != 1:
                await anyio.sleep(0.005)
            b_leave.set()  # b leaves while queued: its computation never starts
            while hub.scheduler.queue_length != 0 or hub.sharing.flights.get(request_key("document", cfg(b_body))):
                await anyio.sleep(0.005)
            a_leave.set()  # a leaves while computing: its thread finishes, nobody is answered
            while request_key("document", cfg(a_body)) in hub.sharing.flights:
                await anyio.sleep(0.005)
            tracer.gate.set()
            while hub.scheduler.running:  # a's thread finishes its trace, then gives the slot back
                await anyio.sleep(0.005)
        return a_out, b_out

    with caplog.at_level("INFO", logger="server.routes.api"):
        a_out, b_out = run_async(main)
    assert tracer.finished == 1  # only a's trace ever ran
    assert hub.sharing.memory.get(request_key("document", cfg(b_body))) is None and not hub.sharing.flights
    assert all(m.get("status") != 200 for m in a_out + b_out if m["type"] == "http.response.start")
    left = [r for r in caplog.records if "left before its trace was ready" in r.getMessage()]
    assert len(left) == 2 and not any(r.exc_info for r in caplog.records)


def cfg(body: dict) -> Config:
    return Config.from_dict(body)
