"""Sweeps: each point is its own link's setting, traced or trained as that link is; bad sweeps name the field."""

import math

import numpy as np
import pytest
import torch

from engine.config import Config, ConfigError
from engine.data import baseline, get_task, make_batch, task_loss
from engine.lab import Sweep, Trainer, prepare, run_sweep, trace_config
from engine.lab.sweep import LEARNED_BELOW, MAX_POINTS, describe_point
from engine.models import build_model, data_generator
from tests.engine.reference import reference_trace


@pytest.fixture(autouse=True)
def points_computed_here(sweep_points_once, monkeypatch):
    """The function these tests check computes each point here, not read from the session's once-computed points
    (tests/conftest.py)."""
    from engine.lab import sweep

    monkeypatch.setattr(sweep, "point_result", sweep_points_once)


SMALL = {"hidden_size": 8, "batch_size": 4}


def test_points_run_value_by_value_then_alternative_then_seed_each_its_own_links_setting():
    sweep = Sweep.from_dict({"config": {**SMALL, "gain": 1.5}, "key": "seq_len", "values": [5, 9],
                             "over": {"cell": ["rnn", "gru"]}, "seeds": [3, 4]})  # fmt: skip
    points = list(sweep.points())
    assert [(p.value, p.series, p.seed) for p in points] == [
        (5, 0, 3), (5, 0, 4), (5, 1, 3), (5, 1, 4), (9, 0, 3), (9, 0, 4), (9, 1, 3), (9, 1, 4)]
    assert [p.index for p in points] == list(range(8)) and sweep.size == 8
    assert points[6].config == Config.from_dict({**SMALL, "gain": 1.5, "seq_len": 9, "cell": "gru", "seed": 3})
    assert sweep.series == [{"cell": "rnn"}, {"cell": "gru"}]
    assert describe_point(sweep, points[6]) == "seq_len = 9 (cell = gru, seed 3)"


def test_without_seeds_a_sweep_uses_its_configs_seed_and_draws_one_curve():
    sweep = Sweep.from_dict({"config": {"seed": 7}, "key": "gain", "values": [0.5, 2]})
    assert sweep.seeds == (7,) and sweep.series == [{}] and sweep.values == (0.5, 2.0)


def test_a_sweep_link_reopens_the_same_sweep():
    sweep = Sweep.from_dict({"config": {**SMALL, "cell": "lstm"}, "key": "forget_bias", "values": [-2, 0, 2.5],
                             "over": {"seq_len": [20, 40]}, "seeds": [0, 1], "kind": "train"})  # fmt: skip
    query = sweep.to_query()
    assert query["key"] == "forget_bias" and query["values"] == "-2.0,0.0,2.5" and query["over"] == "seq_len:20,40"
    assert query["seeds"] == "0,1" and query["kind"] == "train" and "seed" not in query
    assert Sweep.from_query(query) == sweep
    assert Sweep.from_dict(sweep.to_dict()) == sweep


IRNN = {"name": "IRNN", "set": {"cell": "rnn", "nonlinearity": "relu", "init": "identity"}}
NAMED = [IRNN, {"name": "LSTM", "set": {"cell": "lstm"}}]


def test_a_named_alternative_sets_several_keys_on_its_curves_points_and_its_link_reopens_it():
    sweep = Sweep.from_dict({"config": {**SMALL, "gain": 1.5}, "key": "seq_len", "values": [5, 9], "over": NAMED,
                             "seeds": [3]})  # fmt: skip
    points = list(sweep.points())
    assert points[0].config == Config.from_dict({**SMALL, "gain": 1.5, "seq_len": 5, "seed": 3, **IRNN["set"]})
    assert points[1].config == Config.from_dict({**SMALL, "gain": 1.5, "seq_len": 5, "seed": 3, "cell": "lstm"})
    assert sweep.curve_names == ["IRNN", "LSTM"] and sweep.over_key is None
    assert sweep.series_head(0) == {"over": IRNN["set"], "name": "IRNN"}
    assert describe_point(sweep, points[0]) == (
        "seq_len = 5 (IRNN: cell = rnn, nonlinearity = relu, init = identity, seed 3)")
    query = sweep.to_query()
    assert query["over"] == "IRNN:cell=rnn,nonlinearity=relu,init=identity;LSTM:cell=lstm"
    assert Sweep.from_query(query) == sweep and Sweep.from_dict(sweep.to_dict()) == sweep
    assert sweep.to_dict()["over"] == NAMED
    # Written in the config table's order, whatever order its keys came in: one link for one sweep.
    shuffled = [{"name": "IRNN", "set": dict(reversed(IRNN["set"].items()))}, NAMED[1]]
    assert Sweep.from_dict({**sweep.to_dict(), "over": shuffled}) == sweep
    # One key's alternatives are still written as before, their curves named by the value.
    plain = Sweep.from_dict({"key": "seq_len", "values": [5], "over": {"cell": ["rnn", "gru"]}})
    assert plain.curve_names == ["rnn", "gru"] and plain.series_head(1) == {"over": {"cell": "gru"}}


def test_each_point_of_a_named_alternative_is_exactly_its_own_trace():
    sweep = Sweep.from_dict({"config": SMALL, "key": "seq_len", "values": [4, 7], "over": NAMED, "seeds": [0, 1]})
    answer = run_sweep(sweep)
    assert [s.get("name") for s in answer["series"]] == ["IRNN", "LSTM"]
    assert answer["series"][0]["over"] == IRNN["set"]
    for point in sweep.points():
        pt = next(p for p in answer["series"][point.series]["points"] if (p["value"], p["seed"]) == (point.value,
                                                                                                    point.seed))
        tr = trace_config(Config.from_dict({**SMALL, **NAMED[point.series]["set"], "seq_len": point.value,
                                            "seed": point.seed}))  # fmt: skip
        assert np.array_equal(pt["grad_h_norm"], tr.grad_h_norm) and pt["loss"] == tr.loss


def test_each_trace_point_is_exactly_its_own_trace_and_its_ratio_a_naive_autograds():
    sweep = Sweep.from_dict({"config": SMALL, "key": "seq_len", "values": [4, 12], "over": {"cell": ["rnn", "lstm"]},
                             "seeds": [0, 1]})  # fmt: skip
    answer = run_sweep(sweep)
    assert answer["key"] == "seq_len" and answer["values"] == [4, 12]
    got = [pt for s in answer["series"] for pt in s["points"]]
    assert len(got) == sweep.size
    by_point = {(s["over"]["cell"], pt["value"], pt["seed"]): pt for s in answer["series"] for pt in s["points"]}
    for point in sweep.points():
        pt = by_point[(point.config.cell, point.value, point.seed)]
        tr = trace_config(point.config)
        assert np.array_equal(pt["grad_h_norm"], tr.grad_h_norm) and pt["loss"] == tr.loss
        assert pt["total_norm"] == tr.total_norm and pt["total_norm_clipped"] == tr.total_norm_clipped
        bound = tr.theory["bound"]  # a vanilla RNN's only
        assert pt["bound_first"] == (None if bound is None else float(bound[0, 0, 0])) and (bound is None) == (
            point.config.cell != "rnn")
        model, batch = prepare(point.config)
        ref = reference_trace(model.rnn, batch.x, lambda out, m=model, b=batch: task_loss(m.head(out), b))
        norms = ref["grad_h"][0, 0].double().flatten(1).norm(dim=1)  # (T,) layer 0, forward
        assert pt["grad_first"] == pytest.approx(float(norms[0]), rel=1e-4)
        assert pt["grad_last"] == pytest.approx(float(norms[-1]), rel=1e-4)
        assert pt["ratio"] == pytest.approx(float(norms[0] / norms[-1]), rel=1e-4)


def test_the_first_input_step_of_one_to_many_is_its_only_input_and_clipping_shows_before_and_after():
    sweep = Sweep.from_dict({"config": {**SMALL, "arch": "one-to-many", "clip": "norm", "clip_at": 1e-3},
                             "key": "gain", "values": [1.0]})  # fmt: skip
    (pt,) = run_sweep(sweep)["series"][0]["points"]
    tr = trace_config(next(sweep.points()).config)
    assert tr.input_steps == (0,) and pt["grad_first"] == float(tr.grad_h_norm[0, 0, 0])
    assert pt["total_norm"] > 1e-3 and pt["total_norm_clipped"] == pytest.approx(1e-3, rel=1e-5)


def test_each_training_point_is_its_own_trainings_end_learned_and_diverged_from_it():
    base = {**SMALL, "seq_len": 5, "steps": 6, "task": "sine", "gain": 3.0, "nonlinearity": "relu"}
    sweep = Sweep.from_dict({"config": base, "key": "lr", "values": [0.01, 10], "kind": "train",
                             "over": {"optimizer": ["sgd"]}, "seeds": [0]})  # fmt: skip
    points = run_sweep(sweep)["series"][0]["points"]
    for pt, point in zip(points, sweep.points(), strict=True):
        trainer = Trainer(point.config)
        result = trainer.run()
        assert pt["final_loss"] == result.final_loss and pt["baseline"] == trainer.baseline["loss"]
        assert pt["diverged"] == (result.diverged_at is not None) and pt["diverged_at"] == result.diverged_at
        finite = result.final_loss is not None and math.isfinite(result.final_loss)
        assert pt["learned"] == (not pt["diverged"] and finite and result.final_loss < LEARNED_BELOW * pt["baseline"])
    assert not points[0]["diverged"] and points[1]["diverged"] and not points[1]["learned"]
    assert all(pt["accuracy"] is None and pt["baseline_accuracy"] is None for pt in points)  # regression: none


def test_a_classifying_training_points_accuracy_is_its_last_steps_by_a_plain_loop():
    base = {**SMALL, "arch": "many-to-many", "task": "copy", "seq_len": 6, "steps": 5, "lr": 0.05}
    sweep = Sweep.from_dict({"config": base, "key": "hidden_size", "values": [4, 8], "kind": "train", "seeds": [1]})
    for pt, point in zip(run_sweep(sweep)["series"][0]["points"], sweep.points(), strict=True):
        cfg = point.config
        model = build_model(cfg, get_task(cfg.task).input_size, get_task(cfg.task).output_size)
        opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
        data = data_generator(cfg.seed)
        for _ in range(cfg.steps):  # a plain loop: autograd's backward, no tracer, no Trainer
            batch = make_batch(cfg.task, cfg.arch, cfg.seq_len, cfg.batch_size, data)
            opt.zero_grad()
            logits = model.head(model.rnn(batch.x)[0])  # (T, N, O)
            scored, y = logits[batch.scored].flatten(0, -2), batch.y[batch.scored].flatten()  # (K, O), (K,)
            torch.nn.functional.cross_entropy(scored, y).backward()
            opt.step()
        hits = scored.argmax(-1) == y  # the last step's batch, before its update
        assert pt["accuracy"] == pytest.approx(hits.double().mean().item(), rel=1e-6)  # the lab averages in float32
        assert pt["baseline_accuracy"] == baseline(cfg.task, cfg.arch, cfg.seq_len)["metric"]


def test_a_trace_point_over_a_diverging_setting_keeps_its_non_finite_numbers():
    sweep = Sweep.from_dict({"config": {**SMALL, "nonlinearity": "relu"}, "key": "gain", "values": [10.0],
                             "over": {"seq_len": [400]}})  # fmt: skip
    (pt,) = run_sweep(sweep)["series"][0]["points"]
    assert not math.isfinite(pt["grad_first"]) or pt["ratio"] > 1e30


BAD = [
    ({"key": "colour", "values": [1]}, "key", "key must be a config key to sweep"),
    ({"key": "lr", "values": [0.1, 1]}, "key", "'lr' changes only training"),
    ({"key": "seed", "values": [1, 2]}, "key", "give the seeds as seeds"),
    ({"key": "seq_len", "values": []}, "values", "values must be a list of 1 to 24 values of seq_len; got 0"),
    ({"key": "seq_len", "values": "10,20"}, "values", "values must be a list"),
    ({"key": "seq_len", "values": [10, 0]}, "values", "values\\[1\\]: seq_len must be an integer from 1 to 2000"),
    ({"key": "seq_len", "values": [10, 10]}, "values", "must not repeat a value"),
    ({"key": "seq_len", "values": [10], "over": {"seq_len": [5]}}, "over", "other than 'seq_len'"),
    ({"key": "seq_len", "values": [10], "over": {"cell": ["rnn"], "gain": [1]}}, "over", "one other key"),
    ({"key": "seq_len", "values": [10], "over": {"cell": ["elman"]}}, "over", "over\\[0\\]: cell must be one of"),
    ({"key": "seq_len", "values": [10], "over": [{"name": "a", "set": {"nonlinearity": "sigmoid"}}]}, "over",
     "over\\[0\\].set \\(a\\): nonlinearity must be one of"),
    ({"key": "seq_len", "values": [10], "over": [{"name": "a", "set": {"cells": "rnn"}}]}, "over",
     "over\\[0\\].set \\(a\\) must name a config key .* got 'cells'"),
    ({"key": "seq_len", "values": [10], "over": [{"name": "a", "set": {"seq_len": 5}}]}, "over",
     "other than 'seq_len' and 'seed'"),
    ({"key": "seq_len", "values": [10], "over": [{"name": "a", "set": {"cell": "rnn"}},
                                                 {"name": "a", "set": {"cell": "gru"}}]}, "over", "given twice"),
    ({"key": "seq_len", "values": [10], "over": [{"name": "a", "set": {"cell": "rnn"}},
                                                 {"name": "b", "set": {"cell": "rnn"}}]}, "over", "sets the same"),
    ({"key": "seq_len", "values": [10], "over": [{"name": "a;b", "set": {"cell": "rnn"}}]}, "over",
     "over\\[0\\].name must be 1 to 24 letters"),
    ({"key": "seq_len", "values": [10], "over": [{"name": "a", "set": {}}]}, "over", "must be an object of config"),
    ({"key": "seq_len", "values": [10], "over": [{"name": "a"}]}, "over", 'over\\[0\\] must be {"name"'),
    ({"key": "seq_len", "values": [10], "over": [{"name": str(k), "set": {"gain": k}} for k in range(1, 6)]}, "over",
     "1 to 4 named settings; got 5"),
    ({"key": "seq_len", "values": [10], "seeds": [-1]}, "seeds", "seeds\\[0\\]: seed must be an integer"),
    ({"key": "seq_len", "values": [10], "kind": "movie"}, "kind", "kind must be one of 'trace', 'train'"),
    ({"key": "seq_len", "values": [10], "colour": 1}, "colour", "unknown sweep key 'colour'"),
    ({"key": "seq_len", "values": [10], "config": {"gainz": 1}}, "gainz", "unknown config key 'gainz'"),
    ({"key": "seq_len", "values": list(range(1, 25)), "over": {"cell": ["rnn", "lstm", "gru"]},
      "seeds": [0, 1]}, "values", f"= 144 points; at most {MAX_POINTS}"),
    ({"key": "seq_len", "values": [1000, 2000], "config": {"hidden_size": 256, "batch_size": 64}}, "values",
     "a point of this sweep is not a valid setting: .* at most 16,000,000"),
    ({"key": "task", "values": ["random", "adding"], "config": {"arch": "encoder-decoder", "task": "copy"}},
     "values", "arch 'encoder-decoder' needs task"),
]


@pytest.mark.parametrize("body,field,message", BAD, ids=[b[2] for b in BAD])
def test_a_bad_sweep_is_refused_naming_the_field(body, field, message):
    with pytest.raises(ConfigError, match=message) as caught:
        Sweep.from_dict(body)
    assert caught.value.field == field


def test_a_bad_sweep_link_is_refused_naming_its_key():
    with pytest.raises(ConfigError, match="values\\[1\\]: seq_len must be") as caught:
        Sweep.from_query({"key": "seq_len", "values": "10,x"})
    assert caught.value.field == "values"
    with pytest.raises(ConfigError, match="unknown key 'colour'"):
        Sweep.from_query({"key": "seq_len", "values": "10", "colour": "red"})
    with pytest.raises(ConfigError, match="over must name a config key") as caught:
        Sweep.from_query({"key": "seq_len", "values": "10", "over": "shade:1,2"})
    assert caught.value.field == "over"
    with pytest.raises(ConfigError, match="over\\[1\\].set \\(IRNN\\): init must be one of") as caught:
        Sweep.from_query({"key": "seq_len", "values": "10", "over": "RNN:cell=rnn;IRNN:cell=rnn,init=eye"})
    assert caught.value.field == "over"
