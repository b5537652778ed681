"""A series as a forecasting task: normalised or refused, windowed like sine, trained below its persistence baseline.

Reading the CSV file itself is the server's: tests/server/test_upload_series.py.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from engine import Config
from engine.data import SeriesError, make_series, series_baseline, series_batch, task_loss
from engine.lab import Trainer
from engine.lab.experiment import series_trace_batch, trace_series
from engine.models import build_model
from engine.tracing import trace_module


def series(values, name: str = "column 1"):
    return make_series(name, np.asarray(values, dtype=np.float64))


def test_a_series_is_normalised_by_its_own_mean_and_spread():
    s = series([1, 2.5, -30, 4])
    assert s.mean == pytest.approx(np.mean([1, 2.5, -30, 4])) and s.std == pytest.approx(np.std([1, 2.5, -30, 4]))
    np.testing.assert_allclose(s.normalised, (s.values - s.mean) / s.std)


@pytest.mark.parametrize("values, words", [
    ([1, 2], "at least 3 are needed"),
    ([4, 4, 4], "constant"),
    ([1e308, -1e308, 1e308], "cannot be normalised: with values up to 1e.308"),
    ([1.0, 1.0 + 2**-52, 1.0], None),  # a tiny spread is still a series
    ([1.0, float("inf"), 2.0], "not a finite number"),
])  # fmt: skip
def test_a_series_that_cannot_be_normalised_is_refused_by_name(values, words):
    if words is None:
        assert np.isfinite(series(values, "price").normalised).all()
        return
    with pytest.raises(SeriesError, match=words) as e:
        series(values, "price")
    assert e.value.column == "price"


def test_windows_are_the_series_next_values_normalised():
    values = np.arange(40.0) ** 1.5
    s = series(values)
    batch = series_batch(s, "many-to-many", 6, 5, torch.Generator().manual_seed(0))
    z = (values - values.mean()) / values.std()
    for n in range(5):
        x = batch.x[:, n, 0].double().numpy()
        start = int(np.argmin(np.abs(z - x[0])))
        np.testing.assert_allclose(x, z[start : start + 6], rtol=1e-6)
        np.testing.assert_allclose(batch.y[:, n, 0].double().numpy(), z[start + 1 : start + 7], rtol=1e-6)
    with pytest.raises(SeriesError, match="seq_len must be at most 39"):
        series_batch(s, "many-to-many", 40, 1, torch.Generator())


def test_persistence_baseline_is_the_mean_over_every_window():
    rng = np.random.default_rng(0)
    values = rng.normal(size=30).cumsum()
    s = series(values)
    z = s.normalised
    T = 5
    errors = [(z[p + t + 1] - z[p + t]) ** 2 for p in range(len(z) - T) for t in range(T)]  # naive loop
    assert series_baseline(s, "many-to-many", T)["loss"] == pytest.approx(np.mean(errors))
    last = [(z[p + T] - z[p + T - 1]) ** 2 for p in range(len(z) - T)]
    assert series_baseline(s, "many-to-one", T)["loss"] == pytest.approx(np.mean(last))
    lagged = [(z[p + t + 1] - z[p]) ** 2 for p in range(len(z) - T) for t in range(T)]  # one-to-many sees x_0
    assert series_baseline(s, "one-to-many", T)["loss"] == pytest.approx(np.mean(lagged))


def test_trace_is_trace_module_on_the_windows():
    values = [math.sin(0.3 * k) for k in range(100)]
    s = series(values)
    cfg = Config.from_dict({"task": "sine", "cell": "lstm", "seq_len": 12, "batch_size": 3, "hidden_size": 5})
    got = trace_series(cfg, s)
    model = build_model(cfg, 1, 1)
    batch = series_trace_batch(cfg, s)
    want = trace_module(model.rnn, batch.x, lambda out: task_loss(model.head(out), batch))
    np.testing.assert_array_equal(got.grad_h_norm, want.grad_h_norm)
    assert got.loss == want.loss


def test_a_csv_series_trains_below_its_trivial_baseline():
    rng = np.random.default_rng(1)
    k = np.arange(1500)
    values = 20 + 3 * np.sin(2 * np.pi * k / 23) + 0.05 * rng.normal(size=k.size)
    s = series(np.round(values, 4), "price")
    cfg = Config.from_dict({"task": "sine", "arch": "many-to-many", "cell": "gru", "seq_len": 30,
                            "batch_size": 16, "hidden_size": 16, "steps": 300, "lr": 0.01, "seed": 2})
    trainer = Trainer(cfg, series=s)
    assert not trainer.classification
    result = trainer.run()
    base = trainer.baseline["loss"]
    assert base == pytest.approx(series_baseline(s, "many-to-many", 30)["loss"])
    assert result.diverged_at is None
    assert result.final_loss < 0.5 * base, (result.final_loss, base)


def test_a_trace_names_the_windows_its_batch_cut():
    # A strictly increasing series: each window's first input tells its start unambiguously.
    values = np.arange(60.0) ** 1.5
    s = series(values)
    cfg = Config.from_dict({"task": "sine", "cell": "gru", "seq_len": 7, "batch_size": 4, "hidden_size": 3, "seed": 5})
    trace = trace_series(cfg, s)
    batch = series_trace_batch(cfg, s)
    z = s.normalised
    found = [int(np.argmin(np.abs(z - float(batch.x[0, n, 0])))) for n in range(4)]
    assert trace.windows == tuple(found)
    for n, p in enumerate(trace.windows):
        np.testing.assert_allclose(batch.x[:, n, 0].double().numpy(), z[p : p + 7], rtol=1e-6)
        assert float(batch.y[-1, n, 0]) == pytest.approx(z[p + 7], rel=1e-6)  # the predicted next value
    assert trace_series(Config.from_dict({**cfg.to_dict(), "seed": 6}), s).windows != trace.windows
