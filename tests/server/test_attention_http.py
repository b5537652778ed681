"""Attention over HTTP and /ws: the alignment and the split encoder gradient in what the server sends."""

from __future__ import annotations

import numpy as np
import pytest

from engine import Config, trace_config
from engine.config import ATTENTION_MAX_SEQ_LEN
from engine.lab import prepare
from engine.tracing import trace_encoder_decoder
from server.wire import json_value_count
from server.wire.frames import value_count
from tests.server.ws_helpers import run_config

ATTENDING = {"arch": "encoder-decoder", "task": "reverse", "seq_len": 6, "hidden_size": 5, "batch_size": 3,
             "cell": "gru", "bidirectional": True, "attention": "additive"}


@pytest.mark.parametrize("kind", ["additive", "dot"])
def test_a_trace_document_carries_the_alignment_and_the_split(client, kind):
    config = {**ATTENDING, "attention": kind}
    r = client.post("/api/trace?lag=1", json=config)
    assert r.status_code == 200
    doc = r.json()
    T, D = config["seq_len"], 2
    att = doc["done"]["attention"]
    assert att["kind"] == kind
    alignment = np.array(att["alignment"])
    assert alignment.shape == (T, T)  # decoder step × source step, batch sample 0
    np.testing.assert_allclose(alignment.sum(1), 1.0, rtol=1e-6)
    # The engine's numbers (tests/engine/test_attention.py checks them against a float64 reference).
    cfg = Config.from_dict(config)
    model, batch = prepare(cfg)
    ht = trace_encoder_decoder(model, batch)
    np.testing.assert_allclose(alignment, ht.alignment[:, 0], rtol=1e-4, atol=1e-6)
    through = np.sqrt((ht.grad_h_attention**2).sum(axis=(2, 3)))
    rest = np.sqrt((ht.grad_h_recurrent**2).sum(axis=(2, 3)))
    np.testing.assert_allclose(att["grad_attention_norm"], through, rtol=1e-3)
    np.testing.assert_allclose(att["grad_recurrent_norm"], rest, rtol=1e-3)
    assert np.array(att["grad_attention_norm"]).shape == (D, T)
    # the parts against the total the document also carries: ‖a + b‖ lies between |‖a‖ − ‖b‖| and ‖a‖ + ‖b‖
    total = np.array(doc["backward"]["grad_h_norm"])[-1, :, :T]
    a, b = np.array(att["grad_attention_norm"]), np.array(att["grad_recurrent_norm"])
    assert (total <= a + b + 1e-6).all() and (total >= abs(a - b) - 1e-6).all()
    assert len(doc["backward"]["output_steps"]) == T  # the lag map's rows: every decoder step


def test_a_model_without_attention_sends_none(client):
    r = client.post("/api/trace", json={**ATTENDING, "attention": "none"})
    assert r.status_code == 200 and r.json()["done"]["attention"] is None


def test_a_run_over_the_socket_ends_with_the_alignment(client):
    with client.websocket_connect("/ws") as ws:
        run = run_config(ws, ATTENDING, 1)
    T = ATTENDING["seq_len"]
    assert run.start["config"]["attention"] == "additive"
    assert np.array(run.end["attention"]["alignment"]).shape == (T, T)


def test_too_long_a_source_for_attention_is_refused_naming_seq_len(client):
    r = client.post("/api/trace", json={**ATTENDING, "seq_len": ATTENTION_MAX_SEQ_LEN + 1})
    assert r.status_code == 422
    assert r.json()["field"] == "seq_len" and f"at most {ATTENTION_MAX_SEQ_LEN}" in r.json()["message"]


def test_attention_value_count_is_known_from_the_config():
    cfg = Config.from_dict(ATTENDING)
    assert json_value_count(cfg) == value_count(trace_config(cfg))
