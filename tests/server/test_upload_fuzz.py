"""Fuzzing the upload parsers with mutated valid files: every one is read or refused with UploadRefused, in time.

Thousands of ``.pt``, ``.safetensors`` and CSV files, each a valid file with bytes flipped, inserted, deleted,
truncated or spliced from another (and, for ``.pt``, with the pickle or a storage mutated inside a
re-packed, CRC-correct zip, which reaches past the zip checks to the opcode scan and ``torch.load``).
They go through the parse pool as the server sends them (a crash or a hang would be a ParseFailed; any
exception but UploadRefused a parser path without its clear message), and a smaller number through
``POST /api/trace`` (never a 5xx).
"""

from __future__ import annotations

import io
import json
import zipfile

import pytest
import torch
from anyio.from_thread import start_blocking_portal
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from torch import nn

from server.app import create_app
from server.settings import Settings
from server.uploads import ParsePool, UploadRefused, read_model
from server.uploads.series_file import read_series_upload
from tests.server.hostile import safetensors_bytes, saved

LIMITS = Settings()
SECONDS = 10.0
FUZZ = settings(max_examples=1000, deadline=None, database=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def _states() -> list[dict]:
    torch.manual_seed(0)
    nested = {f"encoder.rnn.{k}": v for k, v in nn.LSTM(2, 3, bidirectional=True).state_dict().items()}
    nested.update({"fc.weight": torch.randn(1, 6), "fc.bias": torch.zeros(1)})
    return [nn.GRU(1, 4).state_dict(), nested, {k: v.half() for k, v in nn.RNN(1, 2).state_dict().items()}]


STATES = _states()
PT = [saved(s) for s in STATES]
SAFETENSORS = [safetensors_bytes(s) for s in STATES]
CSV = [b"price\n" + b"".join(b"%d.5\n" % (k % 9) for k in range(40)),
       b"day,price,volume\r\n" + b"".join(b"d%d,%d,%d\r\n" % (k, 10 + k % 4, k) for k in range(30)),
       b"".join(b"%g\r" % (k * 0.25) for k in range(25))]  # fmt: skip


@st.composite
def mutated(draw, bases: list[bytes]) -> bytes:
    """One of ``bases`` with a few random edits: flip, overwrite, insert, delete, truncate, splice."""
    data = bytearray(draw(st.sampled_from(bases)))
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, max(0, len(data) - 1)))
        edit = draw(st.sampled_from(["flip", "set", "insert", "delete", "truncate", "splice"]))
        if edit == "flip" and data:
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif edit == "set" and data:
            data[at] = draw(st.sampled_from([0, 0xFF, 0x7F, 0x80, ord("("), ord("t"), ord("\n"), ord(",")]))
        elif edit == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=16))
        elif edit == "delete":
            del data[at : at + draw(st.integers(1, 64))]
        elif edit == "truncate":
            del data[at:]
        elif edit == "splice":
            other = draw(st.sampled_from(bases))
            start = draw(st.integers(0, len(other) - 1))
            data[at:at + draw(st.integers(0, 64))] = other[start : start + draw(st.integers(1, 256))]
    return bytes(data)


@st.composite
def repacked(draw) -> bytes:
    """A torch.save file whose pickle or one storage was mutated, re-packed with correct CRCs."""
    base = draw(st.sampled_from(PT))
    with zipfile.ZipFile(io.BytesIO(base)) as zf:
        entries = {i.filename: zf.read(i) for i in zf.infolist()}
    name = draw(st.sampled_from([n for n in entries if n.endswith("data.pkl") or "/data/" in n]))
    entries[name] = draw(mutated([entries[name]]))
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:
        for entry, content in entries.items():
            zf.writestr(entry, content)
    return buf.getvalue()


@pytest.fixture(scope="module")
def parse():
    """``parse(fn, *args)`` in a parse worker, from a test's thread, through one event loop for the module."""
    pool = ParsePool(1, 1024 * 2**20)
    with start_blocking_portal() as portal:
        yield lambda fn, *args: portal.call(lambda: pool.run(fn, *args, seconds=SECONDS))
    pool.close()


def read_or_refuse(parse, fn, *args) -> None:
    """The parse reads the file or refuses it with UploadRefused; a ParseFailed (crash, hang) fails the test."""
    try:
        parse(fn, *args)
    except UploadRefused as e:
        assert e.kind in ("model", "series") and 0 < len(e.message) < 600, e.message


@FUZZ
@given(data=st.one_of(mutated(PT), repacked()))
def test_mutated_torch_files_are_read_or_refused(parse, data):
    read_or_refuse(parse, read_model, data, LIMITS, "tanh")


@FUZZ
@given(data=mutated(SAFETENSORS))
def test_mutated_safetensors_files_are_read_or_refused(parse, data):
    read_or_refuse(parse, read_model, data, LIMITS, "tanh")


@FUZZ
@given(data=mutated(CSV), column=st.sampled_from([None, "price", 0, 1, "volume"]))
def test_mutated_csv_files_are_read_or_refused(parse, data, column):
    read_or_refuse(parse, read_series_upload, data, column, LIMITS)


@pytest.fixture(scope="module")
def client():
    with TestClient(create_app(Settings(max_concurrent=1))) as c:
        yield c


@settings(max_examples=120, deadline=None, database=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(kind=st.sampled_from(["model", "series"]), data=st.data())
def test_mutated_files_over_http_are_never_a_server_error(client, kind, data):
    body = data.draw(mutated(PT + SAFETENSORS) if kind == "model" else mutated(CSV))
    config = {"seq_len": 4, "batch_size": 1, "nonlinearity": "tanh"}
    if kind == "series":
        config["arch"] = "many-to-many"
    r = client.post("/api/trace", data={"config": json.dumps(config), "column": "price"},
                    files={kind: ("fuzz.bin", body)})
    assert r.status_code < 500, r.text
    assert r.status_code == 200 or ("message" in r.json() and len(r.json()["message"]) < 600)
