"""A CSV series as a forecasting task: read strictly, windowed like sine, trained below its persistence baseline."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from engine import Config
from engine.experiment import series_trace_batch, trace_series
from engine.network import build_model
from engine.series import SeriesError, read_series, series_baseline, series_batch
from engine.tasks import task_loss
from engine.tracing import trace_module
from engine.training import Trainer


def csv_bytes(lines: list[str]) -> bytes:
    return ("\n".join(lines) + "\n").encode()


def test_one_column_without_header():
    s = read_series(csv_bytes(["1", "2.5", "-3e1", "", "4"]))
    np.testing.assert_array_equal(s.values, [1, 2.5, -30, 4])
    assert s.name == "column 1"
    assert s.mean == pytest.approx(np.mean([1, 2.5, -30, 4])) and s.std == pytest.approx(np.std([1, 2.5, -30, 4]))


def test_a_chosen_column_under_a_header():
    s = read_series(csv_bytes(["date,price,volume", "d1,10,5", "d2,11,6", "d3,9.5,7"]), "price")
    np.testing.assert_array_equal(s.values, [10, 11, 9.5])
    assert s.name == "price"
    assert read_series(csv_bytes(["date,price,volume", "d1,10,5", "d2,11,6", "d3,9.5,7"]), 2).name == "volume"


@pytest.mark.parametrize("lines, column, row, field, words", [
    (["price", "1", "abc", "3"], None, 3, "price", "row 3, column 'price': 'abc' is not a finite number"),
    (["a,b", "1,2", "3", "5,6"], "b", 3, "b", "row 3 has 1 column(s)"),
    (["1", "2", "nan"], None, 3, "column 1", "'nan' is not a finite number"),
    (["a,b", "1,2", "3,4", "5,6"], None, 1, None, "has 2 columns; choose one (a, b)"),
    (["a,b", "1,2", "3,4", "5,6"], "c", 1, "c", "no column named 'c'"),
    (["a,b", "1,2", "3,4", "5,6"], 5, 1, None, "column 5 does not exist"),
    (["1", "2"], None, None, "column 1", "at least 3 are needed"),
    (["4", "4", "4"], None, None, "column 1", "constant"),
])  # fmt: skip
def test_malformed_csv_names_row_and_column(lines, column, row, field, words):
    with pytest.raises(SeriesError) as e:
        read_series(csv_bytes(lines), column)
    assert words in e.value.message
    assert (e.value.row, e.value.column) == (row, field)


def test_size_cap_and_encoding():
    with pytest.raises(SeriesError, match="at most 10 are allowed"):
        read_series(b"1\n2\n3\n4\n5\n6\n", max_bytes=10)
    with pytest.raises(SeriesError, match="not UTF-8"):
        read_series(b"\xff\xfe1\n")


def test_windows_are_the_series_next_values_normalised():
    values = np.arange(40.0) ** 1.5
    s = read_series(csv_bytes([str(v) for v in values]))
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
    s = read_series(csv_bytes([repr(float(v)) for v in values]))
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
    s = read_series(csv_bytes([repr(float(v)) for v in values]))
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
    s = read_series(csv_bytes(["price"] + [f"{v:.4f}" for v in values]), "price")
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
    s = read_series(csv_bytes([repr(float(v)) for v in values]))
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
