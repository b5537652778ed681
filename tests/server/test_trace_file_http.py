"""A saved trace file opened by the page: POST /api/trace-file and the --open link, read as every upload is."""

from __future__ import annotations

import json
import struct

import numpy as np
import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.tracing.trace_file import MAGIC, encode_traces
from server.app import create_app
from server.settings import Settings
from server.uploads import UploadRefused
from server.uploads.trace_file import file_token, read_trace_file
from tests.engine.test_trace_file import _kinds


@pytest.fixture(scope="module")
def kinds() -> dict:
    return _kinds()


@pytest.fixture(scope="module")
def data(kinds) -> bytes:
    return encode_traces(kinds)


@pytest.fixture(scope="module")
def client(tmp_path_factory, data):
    path = tmp_path_factory.mktemp("open") / "saved.gfltrace"
    path.write_bytes(data)
    settings = Settings(max_concurrent=1, max_trace_file_bytes=len(data) + 1024, open_trace=str(path))
    with TestClient(create_app(settings)) as c:
        c.opened = path
        yield c


def _backward_norms(units) -> np.ndarray:
    """grad_h_norm (L, D, T) read back from a section's backward frames (sent t = T-1..0)."""
    steps = []
    for text, _ in units:
        frame = json.loads(text)
        if frame["type"] == "backward":
            steps += frame["grad_h_norm"]  # (n, L, D), newest step first
    return np.asarray(steps, dtype=float)[::-1].transpose(1, 2, 0)


def test_a_saved_file_opens_as_every_trace_keyed_by_its_name(client, kinds, data):
    r = client.post("/api/trace-file", params={"name": "my run.gfltrace"}, content=data)
    assert r.status_code == 200, r.text
    doc = r.json()
    assert doc["type"] == "trace_file" and doc["name"] == "my run.gfltrace"
    keys = [t["key"] for t in doc["traces"]]
    # one section per trace, a key's calls one after the other
    want = [k for k, v in kinds.items() for _ in (v if isinstance(v, list) else [v])]
    assert keys == want
    for t in doc["traces"]:
        trace = kinds[t["key"]]
        trace = trace[0] if isinstance(trace, list) else trace
        if t["title"].endswith("call 2 of 2"):
            trace = kinds[t["key"]][1]
        start = json.loads(t["units"][0][0])
        assert start["type"] == "start" and start["config"]["cell"] == trace.cell
        np.testing.assert_allclose(_backward_norms(t["units"]), trace.grad_h_norm, rtol=1e-6)
        lag = [json.loads(text) for text, _ in t["units"] if json.loads(text)["type"] == "lag"]
        assert bool(lag) == (trace.output_steps is not None)


def test_the_file_the_server_opened_is_served_under_its_link(client, data):
    token = file_token(data)
    r = client.get(f"/api/trace-file/{token}")
    assert r.status_code == 200, r.text
    assert r.json()["name"] == "saved.gfltrace" and r.json()["sha256"].startswith(token)
    assert client.get("/api/trace-file/0123456789abcdef").status_code == 404


def test_a_file_over_the_cap_is_refused_before_it_is_parsed(client, data):
    jobs = client.app.state.hub.uploads.pool.report()["jobs"]
    r = client.post("/api/trace-file", content=data + b"\0" * 2048)
    assert r.status_code == 413 and r.json()["field"] == "trace" and "GFL_MAX_TRACE_FILE_BYTES" in r.json()["message"]
    assert client.app.state.hub.uploads.pool.report()["jobs"] == jobs


def _header_of(data: bytes) -> tuple[dict, bytes]:
    (size,) = struct.unpack("<I", data[8:12])
    return json.loads(data[12 : 12 + size]), data[12 + size :]


def _rebuilt(header, body: bytes) -> bytes:
    raw = json.dumps(header, separators=(",", ":")).encode()
    return MAGIC + struct.pack("<I", len(raw)) + raw + body


def _hostile(data: bytes) -> dict[str, tuple[bytes, str]]:
    header, body = _header_of(data)
    huge = json.loads(json.dumps(header))
    huge["traces"][0]["arrays"]["hidden"]["shape"] = [1000, 1000, 1000]
    return {
        "not a trace file": (b"PK\x03\x04" + data[4:], "file: does not start with GFLTRACE"),
        "a header nested deep": (_rebuilt(json.loads("[" * 40 + "]" * 40), b""), "header: nested deeper than 6"),
        "a header declaring more than the file": (data[:8] + struct.pack("<I", 2**20) + data[12:], "header: declares"),
        "an array declared past the data": (_rebuilt(huge, body), "run past the data section"),
    }


@pytest.mark.parametrize("case", ["not a trace file", "a header nested deep", "a header declaring more than the file",
                                  "an array declared past the data"])
def test_a_hostile_file_is_a_422_naming_the_fault_and_the_server_keeps_serving(client, data, case):
    content, fault = _hostile(data)[case]
    r = client.post("/api/trace-file", params={"name": "evil.gfltrace"}, content=content)
    assert r.status_code == 422, r.text
    body = r.json()
    assert body["kind"] == "trace" and body["file"] == "evil.gfltrace" and fault in body["message"]
    assert client.post("/api/trace-file", content=data).status_code == 200


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(draw=st.data())
def test_mutated_files_are_opened_or_refused_never_anything_else(draw, small_file):
    """The worker's job on bytes flipped, cut or inserted: the page's document or an UploadRefused."""
    raw = bytearray(small_file)
    for _ in range(draw.draw(st.integers(1, 4))):
        at = draw.draw(st.integers(0, len(raw) - 1))
        how = draw.draw(st.sampled_from(["flip", "cut", "insert"]))
        if how == "flip":
            raw[at] ^= draw.draw(st.integers(1, 255))
        elif how == "cut":
            del raw[at : at + draw.draw(st.integers(1, 16))]
        else:
            raw[at:at] = draw.draw(st.binary(min_size=1, max_size=16))
    try:
        sha, traces, nbytes = read_trace_file(bytes(raw), Settings())
    except UploadRefused as e:
        assert e.kind == "trace" and e.message.startswith("the trace file is not usable")
    else:
        assert len(sha) == 64 and traces and nbytes > 0


@pytest.fixture(scope="module")
def small_file(kinds) -> bytes:
    return encode_traces({"cell": kinds["cell"]})
