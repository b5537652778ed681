"""Reading an uploaded model file: torch.save and .safetensors give the same tensors; every hostile shape is
refused by a check that runs before the parser would have paid for it, with a short message naming what is wrong.

These call the readers directly (as a parse worker does); tests/server/test_upload_hostile.py sends the same
files to a server.
"""

from __future__ import annotations

import io
import json
import pickle
import struct
import zipfile

import pytest
import torch
from torch import nn

from server.settings import Settings
from server.uploads import UploadRefused, read_model, read_state_dict
from server.uploads.pickle_scan import scan_pickle
from tests.server.hostile import (
    deep_key_pt,
    deep_value_pt,
    gru_state,
    many_keys_pt,
    nonfinite_pt,
    safetensors_bytes,
    saved,
    torch_archive,
    zip_bomb_pt,
)

LIMITS = Settings()


def refusal(data: bytes, limits: Settings = LIMITS, nonlinearity=None) -> UploadRefused:
    with pytest.raises(UploadRefused) as e:
        read_model(data, limits, nonlinearity)
    assert e.value.kind == "model" and len(e.value.message) < 600, e.value.message
    return e.value


class Payload:
    """Unpickling this calls open(path, 'w'): it creates a file, the proof that code ran."""

    def __init__(self, path: str):
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))


def test_pickled_payload_is_refused_and_never_runs(tmp_path):
    flag = tmp_path / "payload-ran"
    data = saved({"weight_hh_l0": torch.zeros(4, 4), "evil": Payload(str(flag))})
    # The control: a plain unpickling does run it, so the assertion below could fail.
    torch.load(io.BytesIO(data), weights_only=False)
    assert flag.exists()
    flag.unlink()
    assert "names 'io'" in refusal(data).message  # the opcode scan names the global before torch.load runs
    assert not flag.exists()


def test_a_bare_pickle_payload_is_refused_too(tmp_path):
    flag = tmp_path / "payload-ran"
    data = pickle.dumps(Payload(str(flag)))  # an old-style pickle, not a torch zip
    assert "not a file written by torch.save" in refusal(data).message
    assert not flag.exists()


def test_oversize_file_is_refused_before_reading():
    data = saved(nn.LSTM(4, 32).state_dict())
    e = refusal(data, Settings(max_model_bytes=1000))
    assert f"{len(data):,} bytes; at most 1,000 are allowed" in e.message and e.status == 413


def test_not_a_torch_file_nor_safetensors():
    assert "not a file written by torch.save" in refusal(b"hello, this is not a model").message


def test_a_whole_module_is_not_a_state_dict():
    assert "uses the opcode NEWOBJ" in refusal(saved(nn.RNN(2, 3))).message  # before torch.load names the class


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.float16, torch.bfloat16])
def test_torch_save_and_safetensors_give_the_same_tensors(dtype):
    state = {f"encoder.rnn.{k}": v.to(dtype) for k, v in nn.LSTM(3, 5, num_layers=2).state_dict().items()}
    state.update({"fc.weight": torch.randn(2, 5, dtype=dtype), "fc.bias": torch.zeros(2, dtype=dtype),
                  "steps": torch.tensor(7)})  # fmt: skip
    for data in (saved(state), safetensors_bytes(state)):
        got = read_state_dict(data, LIMITS)
        assert set(got) == set(state)
        for key, value in state.items():
            assert got[key].dtype == value.dtype and torch.equal(got[key], value)
        used, fields = read_model(data, LIMITS, None)
        assert (fields["cell"], fields["hidden_size"], fields["num_layers"], fields["prefix"]) == \
            ("lstm", 5, 2, "encoder.rnn")
        assert "steps" not in used and set(used) == {k for k in state if k != "steps"}
        assert all(a.dtype == "float32" and a.flags.c_contiguous for a in used.values())
    assert read_model(saved(state), LIMITS, None)[1]["format"] == "torch"
    assert read_model(safetensors_bytes(state), LIMITS, None)[1]["format"] == "safetensors"


@pytest.mark.parametrize("depth, words", [
    (2_000_000, "more than 200,000 opcodes"),  # crashed the old server (segfault in the key's repr)
    (100_000, "nests containers more than 32 deep"),  # RecursionError before
])  # fmt: skip
def test_a_deeply_nested_pickle_is_refused_before_torch_load(depth, words, monkeypatch):
    def never(*args, **kwargs):
        raise AssertionError("torch.load saw a pickle the scan should have refused")

    monkeypatch.setattr(torch, "load", never)
    assert words in refusal(deep_key_pt(depth)).message
    assert "nests containers" in refusal(deep_value_pt(1000)).message


def test_a_state_dict_pickle_is_shallow_and_uses_allowed_opcodes_only():
    state = {f"m.rnn.{k}": v for k, v in nn.GRU(2, 3, bidirectional=True).state_dict().items()}
    pkl = zipfile.ZipFile(io.BytesIO(saved(state))).read("archive/data.pkl")
    assert scan_pickle(pkl, 10_000, 32) <= 8  # far under the cap: the cap refuses nothing torch.save writes


@pytest.mark.parametrize("inflated, declared, words", [
    (200 * 2**20, None, "declares 209,715,200 bytes unpacked; at most 16,777,216"),
    (200 * 2**20, 1000, "archive/data/0"),  # the directory lies: the bounded read stops past 1,001 bytes
])  # fmt: skip
def test_a_zip_bomb_is_refused_from_its_directory_or_its_bounded_read(inflated, declared, words, monkeypatch):
    reads = []
    real = zipfile.ZipExtFile.read
    monkeypatch.setattr(zipfile.ZipExtFile, "read", lambda self, n=-1: reads.append(n) or real(self, n))
    e = refusal(zip_bomb_pt(inflated, declared))
    assert words in e.message
    assert all(0 <= n <= 16 * 2**20 + 1 for n in reads), reads  # never an unbounded read


def test_the_entry_count_and_key_count_are_capped():
    each_own_storage = saved({f"k{i}": torch.zeros(1) for i in range(4984)})
    assert "holds 4,990 zip entries; at most 4,112" in refusal(each_own_storage).message
    small = Settings(max_upload_tensors=10, max_pickle_opcodes=10**6)
    assert "holds 11 entries; at most 10" in refusal(many_keys_pt(11), small).message
    wide = Settings(max_upload_tensors=10**6)  # so that the opcode cap is the first one met
    assert "more than 200,000 opcodes" in refusal(many_keys_pt(200_000), wide).message


def test_a_huge_state_dict_is_refused_by_the_scan_before_torch_load_builds_it(monkeypatch):
    many_modules = nn.Sequential(*[nn.Linear(1, 1) for _ in range(1000)]).state_dict()  # 2,000 tensors
    assert len(read_state_dict(saved(many_modules), LIMITS)) == 2000  # _metadata entries do not count against it

    def never(*args, **kwargs):
        raise AssertionError("torch.load saw a pickle the scan should have refused")

    monkeypatch.setattr(torch, "load", never)
    assert "sets more than 12,304 dict entries" in refusal(many_keys_pt(20_000)).message


def test_non_finite_weights_are_refused_by_key():
    e = refusal(nonfinite_pt(float("nan")))
    assert "'weight_hh_l0' holds a non-finite value (nan) at index (0, 3)" in e.message
    assert "'bias_ih_l0' holds a non-finite value (inf)" in refusal(nonfinite_pt(float("inf"), "bias_ih_l0")).message
    state = {k: v.double() for k, v in gru_state().items()}
    state["weight_ih_l0"][0, 0] = 1e300  # finite in float64, inf in float32
    assert "'weight_ih_l0' holds values up to 1e+300, beyond float32's range" in refusal(saved(state)).message
    assert "non-finite" in refusal(safetensors_bytes({**gru_state(), "extra": torch.tensor([float("nan")])})).message


def test_long_keys_and_non_string_keys_are_quoted_short():
    e = refusal(saved({"k" * 100_000: torch.zeros(1)}))
    assert "longer than the 256 characters allowed" in e.message and "100,000 characters" in e.message
    assert "keys must be strings; got a tuple" in refusal(saved({(1, 2): torch.zeros(1)})).message


def safetensors_with(header: dict, data: bytes = b"") -> bytes:
    text = json.dumps(header).encode()
    return struct.pack("<Q", len(text)) + text + data


@pytest.mark.parametrize("make, words", [
    (lambda: struct.pack("<Q", 2**40) + b"{}", "declares a header of 1,099,511,627,776 bytes but holds 2"),
    (lambda: struct.pack("<Q", 2_000_000) + b"{" + b" " * 2_000_000, "header of 2,000,000 bytes; at most"),
    (lambda: struct.pack("<Q", 20_007) + b'{"a":' + b"[" * 10_001 + b"]" * 10_001 + b"}", "nested too deeply"),
    (lambda: safetensors_with({"w": [1, 2]}), "must be an object of dtype, shape and data_offsets"),
    (lambda: safetensors_with({"w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}, b"\0" * 4),
     "declares 8 bytes of tensors but has 4"),
    (lambda: safetensors_with({"w": {"dtype": "F32", "shape": [3], "data_offsets": [0, 8]}}, b"\0" * 8),
     "needs 12 bytes"),
    (lambda: safetensors_with({"w": {"dtype": "C64", "shape": [1], "data_offsets": [0, 8]}}, b"\0" * 8),
     "dtype 'C64'"),
    (lambda: safetensors_with({"w": {"dtype": "F32", "shape": [[1]], "data_offsets": [0, 4]}}, b"\0" * 4),
     "a shape is a list"),
    (lambda: safetensors_with({"a": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]},
                               "b": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}}, b"\0" * 8),
     "not right after the previous one"),
    (lambda: safetensors_with({"__metadata__": {"a": {"b": 1}}}), "__metadata__"),
    (lambda: safetensors_with({"w": {"dtype": "F32", "shape": [2**20, 2**4], "data_offsets": [0, 2**26]}}),
     "holds 67,108,864 bytes of tensors; at most 16,777,216"),
])  # fmt: skip
def test_a_safetensors_header_is_checked_against_the_file_before_loading(make, words):
    assert words in refusal(make()).message


def test_a_vanilla_rnn_needs_its_nonlinearity_and_the_field_says_so():
    assert refusal(saved(nn.RNN(1, 3).state_dict())).field == "nonlinearity"
    assert read_model(saved(nn.RNN(1, 3).state_dict()), LIMITS, "relu")[1]["cell"] == "rnn"


def test_a_compressed_archive_is_read_as_what_was_checked():
    state = gru_state(3)
    with zipfile.ZipFile(io.BytesIO(saved(state))) as zf:
        entries = {i.filename: zf.read(i) for i in zf.infolist()}
    packed = torch_archive(entries.pop("archive/data.pkl"), **{k.split("/")[-1]: v for k, v in entries.items()
                                                                 if k.startswith("archive/data/")})
    got = read_state_dict(packed, LIMITS)
    assert all(torch.equal(got[k], v) for k, v in state.items())
