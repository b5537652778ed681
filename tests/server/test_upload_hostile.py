"""Issue 22's hostile uploads against a real server process: refused with a clear error, the process alive,
every other student served meanwhile, one client unable to evict another's token.

A real ``python -m server`` (not an in-process app), so that a crash of the parser would show as a dead
process and a frozen event loop as /healthz not answering.  The files are generated here
(tests/server/hostile.py); tests/server/test_upload_rows.py sends every row of the table in-process.
"""

from __future__ import annotations

import asyncio
import json
import socket
import urllib.error
import urllib.request

import pytest

from tests.e2e.harness import server_process
from tests.server import hostile
from tests.server.ws_helpers import run_async

websockets = pytest.importorskip("websockets.asyncio.client")

RUN = {"seq_len": 8, "hidden_size": 4, "batch_size": 2, "arch": "many-to-many"}
PRICES = ("price\n" + "".join(f"{10 + (k % 7)}\n" for k in range(40))).encode()
ANSWER_S = 30  # a refusal answers within the parse time limit; this only tells "answered" from "hung"


@pytest.fixture(scope="module")
def server():
    with server_process() as (base, proc):
        yield base, proc


@pytest.fixture(scope="module")
def bombs():
    return {"bomb": hostile.zip_bomb_pt(200 * 2**20), "lying bomb": hostile.zip_bomb_pt(200 * 2**20, declared=4096)}


def health(base: str) -> dict:
    with urllib.request.urlopen(base + "/healthz", timeout=ANSWER_S) as r:
        return json.loads(r.read())


def rss_bytes(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        return next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmRSS:"))


def post_model(base: str, data: bytes, config: dict | None = None) -> tuple[int, dict]:
    """POST /api/trace as multipart/form-data with a config part and a model part."""
    boundary = "gfl-test-boundary"
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"config\"\r\n\r\n"
            f"{json.dumps(config or {'seq_len': 5})}\r\n--{boundary}\r\nContent-Disposition: form-data; "
            f"name=\"model\"; filename=\"homework.pt\"\r\nContent-Type: application/octet-stream\r\n\r\n").encode()
    body += data + f"\r\n--{boundary}--\r\n".encode()
    request = urllib.request.Request(base + "/api/trace", data=body, method="POST",
                                     headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
    try:
        with urllib.request.urlopen(request, timeout=ANSWER_S) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def connect(base: str, source: str = "127.0.0.1"):
    """A websocket to ``base`` from the loopback address ``source`` (another student's machine)."""
    host, port = base.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), source_address=(source, 0))
    return websockets.connect(base.replace("http", "ws", 1) + "/ws", sock=sock, max_size=None)


async def upload(ws, kind: str, data: bytes, **extra) -> dict:
    await ws.send(json.dumps({"type": kind, "bytes": len(data), **extra}))
    await ws.send(data)
    return json.loads(await asyncio.wait_for(ws.recv(), ANSWER_S))


async def last_frame(ws) -> dict:
    """Read a run's frames up to its done/error; the run must be answered."""
    while True:
        message = await asyncio.wait_for(ws.recv(), ANSWER_S)
        if isinstance(message, str) and json.loads(message)["type"] in ("done", "error"):
            return json.loads(message)


async def hostile_room(base: str, files: list[bytes]) -> tuple[list[dict], list[dict], int]:
    """Three students with a series loaded; one hostile upload per file at once on sockets of their own, /healthz
    polled while they are in flight.  Returns (the hostile answers, the students' runs after, healthz answers)."""
    students = [await connect(base, f"127.0.0.{10 + k}").__aenter__() for k in range(3)]
    for ws in students:
        assert (await upload(ws, "series", PRICES))["type"] == "series_loaded"
    attackers = [await connect(base, "127.0.0.2").__aenter__() for _ in files]
    pending = [asyncio.ensure_future(upload(ws, "model", data)) for ws, data in zip(attackers, files)]
    answered = 0
    while not all(p.done() for p in pending):
        await asyncio.to_thread(health, base)  # the event loop answers while the parses are in flight
        answered += 1
    refused = [p.result() for p in pending]
    runs = []
    for ws in students:
        await ws.send(json.dumps({"type": "run", "config": RUN}))
        runs.append(await last_frame(ws))
    for ws in students + attackers:
        await ws.close()
    return refused, runs, answered


@pytest.mark.parametrize("depth", [2_000_000, 100_000])
def test_a_pickle_that_crashed_the_server_is_refused_and_every_student_stays(server, depth):
    base, proc = server
    data = hostile.deep_key_pt(depth)
    refused, runs, answered = run_async(hostile_room, base, [data] * 4)
    assert proc.poll() is None, "the server process died"
    for frame in refused:
        assert (frame["type"], frame["kind"], frame["field"]) == ("error", "model", "model")
        assert "data.pkl" in frame["message"] and len(frame["message"]) < 300
    assert [r["type"] for r in runs] == ["done"] * 3 and answered >= 1
    status, body = post_model(base, data)
    assert status == 422 and body["field"] == "model" and body["file"] == "homework.pt"
    assert proc.poll() is None and health(base)["status"] == "ok"


def test_zip_bombs_are_refused_before_inflating_while_the_server_answers(server, bombs):
    base, proc = server
    before = rss_bytes(proc.pid)
    refused, runs, answered = run_async(hostile_room, base, [bombs["bomb"], bombs["lying bomb"]] * 2)
    assert proc.poll() is None and answered >= 1 and [r["type"] for r in runs] == ["done"] * 3
    assert "declares 209,715,200 bytes unpacked; at most 16,777,216" in refused[0]["message"]
    assert "archive/data/0" in refused[1]["message"]  # the bounded read stopped at the declared 4,096 + 1
    status, body = post_model(base, bombs["bomb"])
    assert status == 413 and body["kind"] == "model"
    # Nothing was inflated in the server: its memory grew by the frames it read, far from 200 MB per bomb.
    assert rss_bytes(proc.pid) - before < 200 * 2**20


def test_a_state_dict_of_hundreds_of_thousands_of_keys_is_refused_and_the_room_is_served(server):
    base, proc = server
    within_a_frame = hostile.many_keys_pt(50_000)  # the socket reads frames of at most 1 MiB
    assert len(within_a_frame) < 2**20
    refused, runs, _ = run_async(hostile_room, base, [within_a_frame] * 2)
    assert all("sets more than 12,304 dict entries" in f["message"] for f in refused), refused
    assert [r["type"] for r in runs] == ["done"] * 3 and proc.poll() is None
    status, body = post_model(base, hostile.many_keys_pt(200_000))  # over HTTP, up to 8 MB
    assert status == 422 and "sets more than 12,304 dict entries" in body["message"]


async def tokens_survive(base: str, uploads: int) -> tuple[dict, dict]:
    """A classmate keeps a token; another client makes ``uploads`` uploads on sockets it then closes."""
    async with connect(base, "127.0.0.3") as ws:
        token = (await upload(ws, "series", PRICES))["token"]
    for k in range(uploads):
        async with connect(base, "127.0.0.4") as ws:
            assert (await upload(ws, "series", PRICES + f"{k % 5}\n".encode()))["type"] == "series_loaded"
    report = await asyncio.to_thread(health, base)
    async with connect(base, "127.0.0.3") as ws:
        await ws.send(json.dumps({"type": "series", "token": token}))
        return json.loads(await asyncio.wait_for(ws.recv(), ANSWER_S)), report


def test_one_client_cannot_evict_a_classmates_token(server):
    base, _ = server
    resumed, report = run_async(tokens_survive, base, 260)
    assert resumed["type"] == "series_loaded" and resumed["resumed"] is True
    store = report["uploads"]["store"]
    # The other client kept its quota of 8 (GFL_UPLOAD_CLIENT_ENTRIES) and gave up exactly its own 252 others.
    assert store["evicted"] == 260 - 8 and store["not_kept"] == 0, store
