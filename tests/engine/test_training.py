"""Training: the classic adding-problem result, clipping as PyTorch does it, divergence, stopping, profiles."""

import statistics
import threading

import numpy as np
import pytest
import torch

from engine import Config
from engine.data import get_task, make_batch, task_loss
from engine.lab import OPTIMIZERS, Trainer, profile_count, profile_every
from engine.models import build_model, data_generator


def _cfg(**kw):
    base = dict(
        task="adding",
        seq_len=50,
        batch_size=32,
        hidden_size=32,
        optimizer="adam",
        lr=0.01,
        clip="norm",
        clip_at=1.0,
        steps=350,
    )
    return Config.from_dict({**base, **kw})


def _losses(cfg):
    trainer = Trainer(cfg)
    steps = []
    trainer.add_listener(steps.append)
    result = trainer.run()
    return trainer, steps, result


def test_lstm_learns_adding_while_tanh_rnn_stays_at_baseline():
    """A small version of bench/train.py: LSTM at T=50 beats the 1/6 baseline, a tanh RNN at T=100 does not."""
    trainer, lstm, _ = _losses(_cfg(cell="lstm", steps=600))
    assert trainer.baseline["loss"] == pytest.approx(1 / 6)
    assert statistics.mean(s.loss for s in lstm[-50:]) < 0.2 * trainer.baseline["loss"]
    _, rnn, _ = _losses(_cfg(cell="rnn", seq_len=100, steps=250))
    assert statistics.mean(s.loss for s in rnn[-50:]) > 0.7 * trainer.baseline["loss"]


@pytest.mark.parametrize(
    "clip,clip_at,optimizer", [("norm", 0.05, "adam"), ("value", 0.01, "sgd"), ("none", 1.0, "rmsprop")]
)
def test_training_steps_equal_a_plain_pytorch_loop(clip, clip_at, optimizer):
    cfg = _cfg(
        cell="gru",
        seq_len=15,
        hidden_size=8,
        batch_size=4,
        steps=6,
        clip=clip,
        clip_at=clip_at,
        optimizer=optimizer,
        lr=0.05,
    )
    trainer, steps, result = _losses(cfg)
    assert result.steps_done == 6 and result.diverged_at is None

    task = get_task(cfg.task)
    model = build_model(cfg, task.input_size, task.output_size)
    opt = OPTIMIZERS[optimizer](model.parameters(), lr=cfg.lr)
    data = data_generator(cfg.seed)
    params = list(model.parameters())
    for report in steps:
        batch = make_batch(cfg.task, cfg.arch, cfg.seq_len, cfg.batch_size, data)
        opt.zero_grad()
        loss = task_loss(model(batch.x), batch)
        loss.backward()
        if clip == "norm":
            norm = torch.nn.utils.clip_grad_norm_(params, clip_at)
        else:
            norm = torch.nn.utils.get_total_norm([p.grad for p in params])
            if clip == "value":
                torch.nn.utils.clip_grad_value_(params, clip_at)
        after = torch.nn.utils.get_total_norm([p.grad for p in params])
        opt.step()
        assert report.loss == pytest.approx(float(loss.detach()), rel=1e-5)
        assert report.grad_norm == pytest.approx(float(norm), rel=1e-5)
        assert report.grad_norm_clipped == pytest.approx(float(after), rel=1e-5)
        assert report.clipped == (clip != "none" and (clip == "value" or float(norm) > clip_at))
    for p, q in zip(result.model.parameters(), model.parameters()):
        torch.testing.assert_close(p, q, rtol=1e-4, atol=1e-6)


def test_divergence_ends_with_a_clear_message():
    cfg = _cfg(cell="rnn", nonlinearity="relu", init="orthogonal", gain=4.0, seq_len=120, clip="none", steps=20)
    _, steps, result = _losses(cfg)
    assert result.diverged_at == steps[-1].step
    assert f"diverged at step {result.diverged_at}" in result.message


def test_sgd_with_huge_learning_rate_diverges_after_some_steps():
    cfg = _cfg(cell="rnn", optimizer="sgd", lr=10.0, clip="none", seq_len=10, steps=200, gain=2.0)
    _, steps, result = _losses(cfg)
    assert result.diverged_at is not None and result.diverged_at > 1
    assert "diverged at step" in result.message
    assert all(np.isfinite(s.loss) for s in steps[:-1])


def test_stop_ends_training_after_at_most_the_step_in_flight():
    trainer = Trainer(_cfg(cell="lstm", steps=5000))
    stop = threading.Event()
    seen = []

    def listener(step):
        seen.append(step.step)
        if step.step == 5:
            stop.set()

    trainer.add_listener(listener)
    result = trainer.run(stop)
    assert result.stopped and result.steps_done == 5 and seen == [1, 2, 3, 4, 5]
    assert "stopped after 5 steps" in result.message


def test_at_least_100_profiles_and_they_are_exact():
    cfg = _cfg(cell="lstm", seq_len=8, hidden_size=4, batch_size=2, steps=250)
    _, steps, _ = _losses(cfg)
    profiles = [s for s in steps if s.profile is not None]
    assert len(profiles) >= 100 and profile_every(250) == 2
    assert profiles[0].step == 1 and steps[-1].profile is not None
    assert profiles[0].profile.shape == (1, 1, 8)
    # the first profile is the fresh model's trace on the first batch
    from engine.lab import prepare
    from engine.lab.experiment import trace_model

    model, _ = prepare(cfg)
    batch = make_batch(cfg.task, cfg.arch, cfg.seq_len, cfg.batch_size, data_generator(cfg.seed))
    np.testing.assert_allclose(profiles[0].profile, trace_model(model, batch, cfg).grad_h_norm, rtol=1e-6)


def test_classification_reports_accuracy():
    _, steps, _ = _losses(_cfg(task="sentiment", cell="gru", seq_len=12, steps=3))
    assert all(0.0 <= s.metric <= 1.0 for s in steps)
    _, steps, _ = _losses(_cfg(seq_len=12, steps=2))
    assert all(s.metric is None for s in steps)


@pytest.mark.parametrize("with_profile", [False, True])
def test_training_step_uses_the_truncated_gradient(with_profile):
    """A step's gradient, profiled or not, is that of a naive loop on the same batch detaching every 4 steps."""
    from tests.engine.reference import reference_trace

    cfg = _cfg(cell="gru", seq_len=12, batch_size=4, hidden_size=6, num_layers=2, bidirectional=True,
               arch="many-to-many", clip="none", tbptt=4)
    trainer = Trainer(cfg)
    task = get_task(cfg.task)
    fresh = build_model(cfg, task.input_size, task.output_size)
    batch = make_batch(cfg.task, cfg.arch, cfg.seq_len, cfg.batch_size, data_generator(cfg.seed))
    trainer.step(1, with_profile=with_profile)
    reference_trace(fresh.rnn, batch.x, lambda out: task_loss(fresh.head(out), batch), tbptt=4, live=True)
    for (name, p), q in zip(trainer.model.rnn.named_parameters(), fresh.rnn.parameters()):
        torch.testing.assert_close(p.grad, q.grad, rtol=1e-4, atol=1e-6, msg=name)
    full = Trainer(Config.from_dict({**cfg.to_dict(), "tbptt": 0}))
    full.step(1, with_profile=with_profile)
    assert not torch.allclose(full.model.rnn.weight_hh_l0.grad, trainer.model.rnn.weight_hh_l0.grad, rtol=1e-3)


@pytest.mark.parametrize("setting", [
    dict(cell="lstm", arch="many-to-many", task="sine", num_layers=2, bidirectional=True, tbptt=3),
    dict(cell="gru", arch="encoder-decoder", task="reverse", seq_len=5, bidirectional=True),
], ids=["lstm-stacked-both-ways", "encoder-decoder"])
def test_a_profiled_steps_lag_map_is_the_tracers_of_that_steps_model_and_batch(setting):
    """Trained with lag_rows, each profiled step reports trace_module's (or trace_encoder_decoder's) map of the model
    as it was before that step's update, on that step's batch; and the map changes nothing in the training."""
    import copy

    from engine.lab.training import profiled
    from engine.tracing import lagmap, trace_encoder_decoder, trace_module

    cfg = _cfg(**{"seq_len": 9, "hidden_size": 5, "batch_size": 3, "steps": 5, **setting})
    _, mapped, _ = _losses_with(cfg, lag_rows=4)
    plain = Trainer(cfg)
    for report in mapped:
        model = copy.deepcopy(plain.model)
        data = torch.Generator().set_state(plain.data.get_state())
        batch = make_batch(cfg.task, cfg.arch, cfg.seq_len, cfg.batch_size, data)
        step, _ = plain.step(report.step, with_profile=profiled(report.step, cfg.steps))
        assert step.loss == report.loss and step.grad_norm == report.grad_norm  # the map changes nothing
        if cfg.arch == "encoder-decoder":
            want = trace_encoder_decoder(model, batch, 4)
        else:
            want = trace_module(model.rnn, batch.x, lambda out, m=model, b=batch: task_loss(m.head(out), b),
                                tbptt=cfg.tbptt, lag_rows=4)
        np.testing.assert_array_equal(report.lag.output_steps, want.output_steps)
        np.testing.assert_array_equal(report.lag.grad_h_by_output, want.grad_h_by_output)
        np.testing.assert_array_equal(report.lag.grad_x_by_output, want.grad_x_by_output)
        np.testing.assert_array_equal(report.lag.lag_curve, lagmap.lag_curve(want.grad_h_by_output, want.output_steps))
        assert len(want.output_steps) == 4 and report.lag.grad_h_by_output.shape[:2] == (cfg.num_layers, 2)
    assert all(s.lag is not None for s in mapped)


def test_unprofiled_steps_and_a_trainer_without_lag_rows_report_no_map():
    cfg = _cfg(cell="rnn", seq_len=6, hidden_size=3, batch_size=2, steps=250, arch="many-to-many")
    _, steps, _ = _losses_with(cfg, lag_rows=2)
    assert [s.step for s in steps if s.lag is not None] == [s.step for s in steps if s.profile is not None]
    assert len([s for s in steps if s.lag is not None]) == profile_count(250) == 126
    _, plain, _ = _losses(Config.from_dict({**cfg.to_dict(), "steps": 3}))
    assert all(s.lag is None for s in plain)
    with pytest.raises(ValueError, match="lag_rows"):
        Trainer(cfg, lag_rows=-1)


def _losses_with(cfg, lag_rows):
    trainer = Trainer(cfg, lag_rows=lag_rows)
    steps = []
    trainer.add_listener(steps.append)
    return trainer, steps, trainer.run()
