"""The encoder-decoder over /ws: the handoff in the start frame, 2T steps, the handoff's gradient, training."""

from __future__ import annotations

import pytest

from engine import Config, trace_config
from engine.lab import Trainer
from server.wire import json_value_count
from server.wire.frames import value_count
from tests.server.test_training_ws import read_training
from tests.server.ws_helpers import run_config

ENCDEC = {"arch": "encoder-decoder", "task": "translate", "seq_len": 5, "hidden_size": 3, "batch_size": 2,
          "cell": "lstm", "bidirectional": True}


@pytest.mark.parametrize("reverse", [False, True])
def test_a_run_says_where_the_handoff_is(client, reverse):
    config = {**ENCDEC, "reverse_source": reverse}
    with client.websocket_connect("/ws") as ws:
        run = run_config(ws, config, 1)
    T = ENCDEC["seq_len"]
    assert run.start["handoff"] == T and run.start["shapes"]["T"] == 2 * T
    assert run.start["scored_steps"] == list(range(T, 2 * T))
    assert len(run.forward) == len(run.backward) == 2 * T
    expected = trace_config(Config.from_dict(config))
    assert run.end["type"] == "done"
    assert run.end["handoff_grad_norm"] == pytest.approx(expected.handoff_grad_norm, rel=1e-6)


def test_other_archs_have_no_handoff(client):
    with client.websocket_connect("/ws") as ws:
        run = run_config(ws, {"seq_len": 4, "hidden_size": 3, "batch_size": 2}, 1)
    assert run.start["handoff"] is None and run.end["handoff_grad_norm"] is None


def test_value_count_is_known_from_the_config():
    cfg = Config.from_dict(ENCDEC)
    assert json_value_count(cfg) == value_count(trace_config(cfg))


def test_training_streams_and_ends_in_the_trained_trace(client):
    config = {**ENCDEC, "steps": 20}
    with client.websocket_connect("/ws") as ws:
        ws.send_json({"type": "train", "config": config})
        start, steps, done, trace = read_training(ws, 1)
    expected = Trainer(Config.from_dict(config))
    losses = [r.loss for r in expected.steps()]
    assert [s["loss"] for s in steps] == pytest.approx(losses, rel=1e-5)
    assert trace.start["handoff"] == ENCDEC["seq_len"]
    # The profile spans the encoder's steps and then the decoder's, and train_start says so (it said T once).
    profiles = [s["profile"] for s in steps if "profile" in s]
    assert profiles and all(len(p[0][0]) == 2 * ENCDEC["seq_len"] for p in profiles)
    assert start["shapes"] == {"L": 1, "D": 2, "T": 2 * ENCDEC["seq_len"]}
