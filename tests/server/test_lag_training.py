"""Training with the lag map over /ws: each profiled step's map and the trained model's, as the engine measures them;
their own result for the cache; priced by the cost model."""

from __future__ import annotations

import numpy as np
import pytest

from engine import Config
from engine.lab import Trainer, profile_count, trace_trained
from engine.tracing import rows_for
from server.scheduling import cost
from server.scheduling.budgets import training_too_long
from server.wire.encoding import from_wire
from tests.server.test_training_ws import read_training

MANY = {"task": "sine", "arch": "many-to-many", "cell": "lstm", "seq_len": 7, "hidden_size": 4, "batch_size": 3,
        "num_layers": 2, "bidirectional": True, "steps": 5}
LONG = {"task": "sine", "arch": "many-to-many", "cell": "rnn", "seq_len": 3, "hidden_size": 2, "batch_size": 1,
        "steps": 201}  # profiled every 2 steps, and the last
SEQ2SEQ = {"arch": "encoder-decoder", "task": "reverse", "cell": "gru", "seq_len": 4, "hidden_size": 3,
           "batch_size": 2, "bidirectional": True, "steps": 4}


def assert_map(frame, data, want) -> None:
    """A lag frame and its float32 data hold ``want`` (an engine LagMap) as a run's does."""
    L, D, S, T = want.grad_h_by_output.shape
    assert frame["output_steps"] == want.output_steps.tolist() and frame["rows"] == S
    np.testing.assert_array_equal(np.asarray(from_wire(frame["lag_curve"]), float), want.lag_curve)
    values = np.frombuffer(data, "<f4")
    assert values.size == (L * D + 1) * S * T
    np.testing.assert_array_equal(values[: L * D * S * T].reshape(L, D, S, T), want.grad_h_by_output.astype("<f4"))
    np.testing.assert_array_equal(values[L * D * S * T :].reshape(S, T), want.grad_x_by_output.astype("<f4"))


@pytest.mark.parametrize("settings", [MANY, LONG, SEQ2SEQ], ids=["lstm-stacked-both-ways", "201-steps",
                                                                 "encoder-decoder"])
def test_a_training_asked_with_lag_sends_each_profiled_steps_map_as_the_engine_measures_it(client, settings):
    with client.websocket_connect("/ws") as ws:
        ws.send_json({"type": "train", "config": settings, "lag": True})
        maps: dict = {}
        _, steps, done, trace = read_training(ws, 1, maps)
    cfg = Config.from_dict(settings)
    trainer = Trainer(cfg, lag_rows=rows_for(cfg.trace_cells))
    expected = []
    trainer.add_listener(expected.append)
    trainer.run()
    assert done["steps_done"] == cfg.steps == len(steps)
    profiled = [s for s in expected if s.lag is not None]
    assert sorted(maps) == [s.step for s in profiled] == [s["step"] for s in steps if "profile" in s]
    assert len(maps) == profile_count(cfg.steps)
    for report in profiled:
        assert_map(*maps[report.step], report.lag)
    trained = trace_trained(trainer.model, cfg, lag_rows=rows_for(cfg.trace_cells))
    assert trace.lag is not None and trace.end["type"] == "done"
    assert_map(*trace.lag, trained.lag_map)  # the trained model's trace carries its map too


def test_a_training_with_the_map_is_its_own_result_for_single_flight_and_the_cache(client):
    hub = client.app.state.hub
    settings = {**MANY, "seed": 11, "steps": 3}
    with client.websocket_connect("/ws") as ws:
        ws.send_json({"type": "train", "config": settings})
        plain_maps: dict = {}
        _, plain, _, plain_trace = read_training(ws, 1, plain_maps)
        assert plain_maps == {} and plain_trace.lag is None
        hits = hub.sharing.stats.hits
        ws.send_json({"type": "train", "config": settings, "lag": True})
        maps: dict = {}
        _, mapped, _, mapped_trace = read_training(ws, 2, maps)
        assert hub.sharing.stats.hits == hits  # not the plain training's recording
        ws.send_json({"type": "train", "config": settings, "lag": True})
        again: dict = {}
        read_training(ws, 3, again)
        assert hub.sharing.stats.hits == hits + 1  # the same training with its maps, from the cache
    assert sorted(maps) == [1, 2, 3] and _unnumbered(again) == _unnumbered(maps)
    assert [s["loss"] for s in mapped] == [s["loss"] for s in plain]  # the map changes nothing in the training


def _unnumbered(maps: dict) -> dict:
    return {step: ({k: v for k, v in frame.items() if k != "run"}, data) for step, (frame, data) in maps.items()}


def test_a_profiled_step_with_the_map_is_priced_its_sweep():
    cfg = Config.from_dict({**MANY, "steps": 500})  # profiled every 5 steps
    sweep = cost.lag_seconds(cfg)
    assert sweep > 0 and cost.trace_seconds(cfg, lag=True) == pytest.approx(cost.trace_seconds(cfg) + sweep)
    assert cost.train_step_seconds(cfg, lag=True) == pytest.approx(cost.train_step_seconds(cfg) + sweep)
    maps = profile_count(500) + 1  # every profiled step's, and the trained model's
    assert cost.train_seconds(cfg, lag=True) == pytest.approx(cost.train_seconds(cfg) + maps * sweep)
    # A budget that holds the plain training but not the maps: refused, naming steps that fit with the maps.
    budget = (cost.train_seconds(cfg) + cost.train_seconds(cfg, lag=True)) / 2
    assert training_too_long(cfg, budget) is None
    refusal = training_too_long(cfg, budget, lag=True)
    most = cost.max_train_steps(cfg, budget, lag=True)
    assert refusal is not None and f"steps must be at most {most} " in refusal and 1 <= most < 500
    assert cost.train_seconds(Config.from_dict({**MANY, "steps": most}), lag=True) <= budget
    assert cost.train_seconds(Config.from_dict({**MANY, "steps": most + 1}), lag=True) > budget
