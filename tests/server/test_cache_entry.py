"""The shared-cache entry reader takes back exactly the recordings the server wrote, and refuses anything else.

The genuine recordings are the server's own: each request is made once through the app, and its
recording taken from the in-process cache.
"""

from __future__ import annotations

import hashlib
import json
import shutil

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine import Config
from server.app import create_app
from server.settings import Settings
from server.sharing import request_key
from server.sharing.entry import FIELDS, HEADER, MAGIC, EntryError, max_entry_bytes, pack, read_entry, unpack
from server.sharing.keys import ROOT, source_hash
from server.wire import Recording, Unit
from tests.server.ws_helpers import SMALL, read_run, receive_frame

CASES = {
    "run": [SMALL, {**SMALL, "cell": "lstm", "num_layers": 2, "bidirectional": True},
            {"arch": "encoder-decoder", "task": "translate", "seq_len": 4, "hidden_size": 3, "batch_size": 2},
            {**SMALL, "cell": "gru", "seq_len": 40}],
    "train": [{**SMALL, "cell": "gru", "steps": 12}],
    "run+lag": [{**SMALL, "arch": "many-to-many", "cell": "lstm", "bidirectional": True},
                {"arch": "encoder-decoder", "task": "reverse", "seq_len": 4, "hidden_size": 3, "batch_size": 2}],
    "train+lag": [{**SMALL, "arch": "many-to-many", "num_layers": 2, "steps": 3}],
    "document": [{**SMALL, "cell": "lstm"}],
    "document+lag": [{**SMALL, "arch": "many-to-many"}],
}  # fmt: skip


@pytest.fixture(scope="module")
def recordings() -> dict[tuple[str, int], tuple[Config, Recording]]:
    """(kind, case number) -> (config, the recording the server made of it)."""
    out = {}
    with TestClient(create_app(Settings(max_concurrent=2))) as client:
        sharing = client.app.state.hub.sharing
        with client.websocket_connect("/ws") as ws:
            run = 0
            for kind in ("run", "train", "run+lag", "train+lag"):
                for number, config in enumerate(CASES[kind]):
                    run += 1
                    lag = {"lag": True} if kind.endswith("+lag") else {}
                    ws.send_json({"type": kind.removesuffix("+lag"), "config": config, **lag})
                    if kind.startswith("train"):
                        while receive_frame(ws)[0]["type"] != "train_done":
                            pass
                    assert read_run(ws, run).end["type"] == "done"
                    out[kind, number] = Config.from_dict(config)
        for kind, query in (("document", ""), ("document+lag", "?lag=1")):
            for number, config in enumerate(CASES[kind]):
                assert client.post("/api/trace" + query, json=config).status_code == 200
                out[kind, number] = Config.from_dict(config)
        return {case: (config, sharing.memory.get(request_key(case[0], config))) for case, config in out.items()}


def envelope(body: bytes, units: int) -> bytes:
    """A well-formed header for ``body``: what a writer who means harm (or a buggy one) can always produce."""
    return HEADER.pack(MAGIC, 3, 0, units, len(body), hashlib.sha256(body).digest()) + body


def test_every_recording_reads_back_exactly(recordings):
    for (kind, _), (config, rec) in recordings.items():
        assert read_entry(pack(rec), kind, config) == rec


def test_the_required_fields_are_the_fields_the_server_writes(recordings):
    seen = set()
    for _, rec in recordings.values():
        for unit in rec.units:
            frame = json.loads(unit.text if unit.text is not None else unit.data)
            optional = {"train_step": {"profile"}, "lag": {"step"}}.get(frame["type"], set())
            assert frame.keys() - {"type"} - optional == FIELDS[frame["type"]], frame["type"]
            seen.add(frame["type"])
    assert seen == FIELDS.keys()


def test_a_genuine_entry_is_within_the_size_bound_of_its_config(recordings):
    for (kind, _), (config, rec) in recordings.items():
        assert len(pack(rec)) <= max_entry_bytes(kind, config)
    # The largest trace the app allows fits too: its binary frames are counted exactly.
    biggest = Config.from_dict({"cell": "lstm", "seq_len": 2000, "hidden_size": 256, "num_layers": 4,
                                "bidirectional": True, "batch_size": 1})  # fmt: skip
    assert max_entry_bytes("run", biggest) >= 7 * 4 * (2000 * 4 * 2 * 256)  # 7 float32 arrays of (L, D, T, H)


def _units(recordings, kind="run", number=0):
    config, rec = recordings[kind, number]
    return config, list(rec.units)


def _replace_text(units, index, change):
    frame = json.loads(units[index].text)
    change(frame)
    units[index] = Unit(json.dumps(frame), units[index].data)
    return units


HOSTILE = {
    # name: (make units from the genuine run's, the words of the refusal)
    "not an object": (lambda u: [Unit("[1, 2]"), *u[1:]], "not a JSON object"),
    "a JSON string": (lambda u: [Unit('"start"'), *u[1:]], "not a JSON object"),
    "cut between frames": (lambda u: u[:-1], "ends before its done frame"),
    "cut after the start": (lambda u: u[:1], "ends before its forward frame"),
    "a frame too many": (lambda u: [*u, u[-1]], "follow the final frame"),
    "NaN token": (lambda u: [*u[:-1], Unit('{"type":"done","loss":NaN}')], "not strict JSON"),
    "deep nesting": (lambda u: [*u[:-1], Unit("{" + '"a":[' * 100_000)], "not strict JSON"),
    "a missing field": (lambda u: _replace_text(u, -1, lambda f: f.pop("loss")), "lacks loss"),
    "a run number": (lambda u: _replace_text(u, -1, lambda f: f.update(run=3)), "where a done frame belongs"),
    "another config": (lambda u: _replace_text(u, 0, lambda f: f["config"].update(seed=99)), "another config"),
    "a short binary frame": (lambda u: [u[0], Unit(u[1].text, u[1].data[:-4]), *u[2:]], "carries"),
    "a text without its data": (lambda u: [u[0], Unit(u[1].text), *u[2:]], "with its binary data"),
    "a step skipped": (lambda u: _replace_text(u, 1, lambda f: f.update(t=1)), "forward.t is 1"),
    "a huge step count": (lambda u: _replace_text(u, 1, lambda f: f.update(steps=10**30)), "forward.steps"),
    "a bool for an int": (lambda u: _replace_text(u, 1, lambda f: f.update(steps=True)), "forward.steps"),
    "frames swapped": (lambda u: [u[0], u[2], u[1], *u[3:]], "where a forward frame belongs"),
}


@pytest.mark.parametrize("name", HOSTILE)
def test_a_hostile_recording_in_a_valid_envelope_is_refused(recordings, name):
    config, units = _units(recordings)
    make, words = HOSTILE[name]
    with pytest.raises(EntryError, match=words):
        read_entry(pack(Recording.of(make(units))), "run", config)


def test_a_training_or_document_entry_is_checked_as_one(recordings):
    config, units = _units(recordings, "train")
    assert [json.loads(u.text)["type"] for u in units[:2]] == ["train_start", "train_step"]
    with pytest.raises(EntryError, match="train_step.step"):
        read_entry(pack(Recording.of([units[0], *units[2:]])), "train", config)
    done = next(i for i, u in enumerate(units) if json.loads(u.text)["type"] == "train_done")
    with pytest.raises(EntryError, match="ends before its start frame"):
        read_entry(pack(Recording.of(units[: done + 1])), "train", config)  # the trained trace is missing
    config, units = _units(recordings, "document")
    with pytest.raises(EntryError, match="not strict JSON"):
        read_entry(pack(Recording.of([Unit(None, units[0].data[:-1])])), "document", config)
    with pytest.raises(EntryError, match="a trace document is one unit"):
        read_entry(pack(Recording.of([Unit(units[0].data.decode())])), "document", config)
    with pytest.raises(EntryError, match="is for another config"):
        read_entry(pack(Recording.of(units)), "document", Config.from_dict({**CASES["document"][0], "seed": 5}))


def _lag_frames(units) -> list[int]:
    return [i for i, u in enumerate(units) if u.text is not None and json.loads(u.text)["type"] == "lag"]


def test_a_training_with_the_map_is_checked_lag_frame_by_lag_frame(recordings):
    config, units = _units(recordings, "train+lag")
    read_entry(pack(Recording.of(units)), "train+lag", config)
    first, *_, trained = _lag_frames(units)
    assert json.loads(units[first - 1].text)["step"] == json.loads(units[first].text)["step"] == 1
    cut = [*units[:first], Unit(units[first].text, units[first].data[:-4]), *units[first + 1 :]]
    missing = units[:first] + units[first + 1 :]
    another_step = _replace_text(list(units), first, lambda f: f.update(step=2))
    trace_with_a_step = _replace_text(list(units), trained, lambda f: f.update(step=3))
    refused = {"a lag frame of 6 rows carries": cut, "is not a lag frame": missing,
               "lag.step is 2": another_step, "names a training step": trace_with_a_step}  # fmt: skip
    for words, hostile in refused.items():
        with pytest.raises(EntryError, match=words):
            read_entry(pack(Recording.of(hostile)), "train+lag", config)
    with pytest.raises(EntryError, match="is not a train_step or train_done frame"):
        read_entry(pack(Recording.of(units)), "train", config)  # a plain training holds no map


def test_a_damaged_envelope_is_refused_before_anything_is_parsed(recordings):
    config, rec = recordings["run", 0]
    blob = pack(rec)
    body = blob[HEADER.size :]
    damaged = {
        "empty": b"",
        "truncated": blob[:-1],
        "extended": blob + b"\0",
        "a flipped byte": blob[:-5] + bytes([blob[-5] ^ 1]) + blob[-4:],
        "another format": b"GFL1" + blob[4:],
        "a unit too many announced": envelope(body, len(rec.units) + 1),
        "a unit too few announced": envelope(body, len(rec.units) - 1),
        "no flags": envelope(b"\0", 1),
        "a length past the end": envelope(b"\1" + (1000).to_bytes(4, "little") + b"{}", 1),
        "a length cut": envelope(b"\1\5\0", 1),
        "not UTF-8": envelope(b"\1\2\0\0\0\xff\xfe", 1),
    }
    for name, entry in damaged.items():
        with pytest.raises(EntryError):
            read_entry(entry, "run", config)
            pytest.fail(f"{name} was read")


@st.composite
def mutations(draw, size: int):
    """A list of edits to an entry of ``size`` bytes: flips, cuts, insertions, deletions, overwrites."""
    edits = []
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["flip", "truncate", "insert", "delete", "overwrite"]))
        at = draw(st.integers(0, max(0, size - 1)))
        edits.append((kind, at, draw(st.binary(min_size=1, max_size=8))))
    return edits


def _apply(blob: bytes, edits) -> bytes:
    for kind, at, data in edits:
        at = min(at, max(0, len(blob) - 1))
        if kind == "flip" and blob:
            blob = blob[:at] + bytes([blob[at] ^ (data[0] or 1)]) + blob[at + 1 :]
        elif kind == "truncate":
            blob = blob[:at]
        elif kind == "insert":
            blob = blob[:at] + data + blob[at:]
        elif kind == "delete":
            blob = blob[:at] + blob[at + len(data) :]
        else:
            blob = blob[:at] + data + blob[at + len(data) :]
    return blob


FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@FUZZ
@given(data=st.data())
def test_fuzz_a_mutated_entry_is_refused_or_reads_back_the_same(recordings, data):
    config, rec = recordings["run", 1]
    blob = pack(rec)
    mutated = _apply(blob, data.draw(mutations(len(blob))))
    try:
        got = read_entry(mutated, "run", config)
    except EntryError:
        return
    assert got == rec, "a changed entry was read as a different recording"


@FUZZ
@given(data=st.data())
def test_fuzz_a_mutated_body_under_a_matching_checksum_never_raises_anything_but_a_refusal(recordings, data):
    # A writer can always seal what it wrote: the unit records themselves must be read with care.
    config, rec = recordings["run", 0]
    body = pack(rec)[HEADER.size :]
    mutated = _apply(body, data.draw(mutations(len(body))))
    try:
        read_entry(envelope(mutated, data.draw(st.sampled_from([len(rec.units), 1, 2**32 - 1]))), "run", config)
    except EntryError:
        pass


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)


@FUZZ
@given(data=st.data())
def test_fuzz_hostile_frames_in_a_valid_envelope_never_raise_anything_but_a_refusal(recordings, data):
    kind = data.draw(st.sampled_from(["run", "train", "document"]))
    config, units = _units(recordings, kind)
    index = data.draw(st.integers(0, len(units) - 1))
    document = units[index].text is None
    frame = json.loads(units[index].data if document else units[index].text)
    key = data.draw(st.sampled_from(sorted(frame)))
    frame[key] = data.draw(JSON)
    text = data.draw(st.sampled_from([json.dumps(frame), json.dumps(frame[key]), json.dumps(frame)[:-1]]))
    if document:
        unit = Unit(data.draw(st.sampled_from([None, text])), text.encode())
    else:
        unit = Unit(text, data.draw(st.sampled_from([units[index].data, None, b"\0" * 8])))
    try:
        read_entry(pack(Recording.of([*units[:index], unit, *units[index + 1 :]])), kind, config)
    except EntryError:
        pass


def test_unpack_refuses_every_prefix_of_an_entry(recordings):
    _, rec = recordings["run", 0]
    blob = pack(rec)
    for end in range(len(blob)):
        with pytest.raises(EntryError):
            unpack(blob[:end])


def test_the_code_hash_changes_with_any_byte_of_the_engine_or_the_encoders(tmp_path):
    for package in ("engine", "server"):
        shutil.copytree(ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__"))
    assert source_hash(tmp_path) == source_hash(ROOT)
    for changed in ("engine/models/cells.py", "server/wire/frames.py", "engine/lessons/lessons.json"):
        path = tmp_path / changed
        original = path.read_bytes()
        path.write_bytes(original.replace(b"0", b"1", 1))
        assert source_hash(tmp_path) != source_hash(ROOT), changed
        path.write_bytes(original)
    (tmp_path / "engine" / "new_cell.py").write_text("")  # a new module is part of the code too
    assert source_hash(tmp_path) != source_hash(ROOT)
