"""Attention's trace against a step-by-step float64 reference written out here: alignment, split gradient, lag map."""

import copy
import dataclasses

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from engine.config import Config
from engine.data import make_batch
from engine.lab import Trainer, prepare
from engine.lessons import LESSONS
from engine.lessons import lab as lab_lessons
from engine.lessons.numbers import measured_config
from engine.models import data_generator
from engine.models.network import teacher_inputs
from engine.tracing import trace_encoder_decoder
from engine.tracing.fused import finish_trace
from engine.tracing.joined_stock import finish_steps, join_stock, steps_at_once
from engine.tracing.submodules import run_submodules
from tests.engine.attention_reference import (
    alignment_share_reference,
    attention_reference,
    source_reach_reference,
)

CASES = [
    dict(attention="dot", cell="rnn"),
    dict(attention="dot", cell="lstm", num_layers=2, bidirectional=True),
    dict(attention="dot", cell="gru", reverse_source=True),
    dict(attention="additive", cell="rnn", nonlinearity="relu"),
    dict(attention="additive", cell="lstm", reverse_source=True, task="reverse"),
    dict(attention="additive", cell="gru", num_layers=2, bidirectional=True, task="copy"),
]


def _config(**kw) -> Config:
    base = dict(arch="encoder-decoder", task="translate", seq_len=5, hidden_size=4, batch_size=3, seed=3)
    return Config.from_dict({**base, **kw})


def _norms(a: np.ndarray) -> np.ndarray:
    return np.sqrt((a**2).sum(axis=(-2, -1)))


@pytest.mark.parametrize("kw", CASES, ids=lambda kw: "-".join(f"{k}={v}" for k, v in kw.items()))
def test_attention_trace_equals_step_by_step_float64attention_reference(kw):
    cfg = _config(**kw)
    model, batch = prepare(cfg, torch.float64)
    ref_model, ht = copy.deepcopy(model), trace_encoder_decoder(model, batch)  # the trace leaves model's .grad
    T, D, ref = cfg.seq_len, cfg.num_directions, attention_reference(ref_model, batch, cfg)
    assert ht.loss == pytest.approx(ref["loss"], rel=1e-12)
    np.testing.assert_allclose(ht.logits.numpy(), ref["logits"].numpy(), rtol=1e-10, atol=1e-12)
    # α: decoder step × batch × source step, each row a distribution over the source.
    assert ht.alignment.shape == (T, cfg.batch_size, T)
    np.testing.assert_allclose(ht.alignment, ref["alpha"].numpy(), rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(ht.alignment.sum(-1), 1.0, rtol=1e-12)
    for name in ("hidden", "grad_h") + (("cell_state", "grad_c") if cfg.cell == "lstm" else ()):
        joined = ht.joined(name)
        np.testing.assert_allclose(joined[:, :, :T], ref["enc"][name].numpy(), rtol=1e-9, atol=1e-12, err_msg=name)
        np.testing.assert_allclose(joined[:, :1, T:], ref["dec"][name].numpy(), rtol=1e-9, atol=1e-12, err_msg=name)
    # The split: the attention part is what the annotations receive; both directions receive it whole.
    for d in range(D):
        np.testing.assert_allclose(ht.grad_h_attention[d], ref["ann_grad"].numpy(), rtol=1e-9, atol=1e-13)
    total = ref["enc"]["grad_h"][-1].numpy()  # (D, T, N, H) the top layer's total ∂L/∂h_j
    np.testing.assert_allclose(ht.grad_h_attention + ht.grad_h_recurrent, total, rtol=1e-9, atol=1e-13)
    assert np.abs(ht.grad_h_attention).max() > 0 and np.abs(ht.grad_h_recurrent).max() > 0
    # What crosses the handoff: the whole ∂L/∂s_0 (with additive attention s_0 is also the first query).
    np.testing.assert_allclose(ht.decoder.grad_h0[:, 0], ref["s0"][0].numpy(), rtol=1e-9, atol=1e-14)
    if cfg.cell == "lstm":
        np.testing.assert_allclose(ht.decoder.grad_c0[:, 0], ref["s0"][1].numpy(), rtol=1e-9, atol=1e-14)
    # Parameter gradients as a plain backward through the model leaves them.
    plain = copy.deepcopy(ref_model)
    plain.zero_grad(set_to_none=True)
    F.cross_entropy(plain(batch.x, batch.y).reshape(-1, plain.head.out_features), batch.y.reshape(-1)).backward()
    for (name, p), q in zip(model.named_parameters(), plain.parameters()):
        np.testing.assert_allclose(p.grad.numpy(), q.grad.numpy(), rtol=1e-9, atol=1e-13, err_msg=name)


@pytest.mark.parametrize("kw", [CASES[1], CASES[5]], ids=("dot", "additive"))
def test_lag_rows_are_each_decoder_steps_gradient_alone(kw):
    cfg = _config(**kw)
    model, batch = prepare(cfg, torch.float64)
    ht = trace_encoder_decoder(copy.deepcopy(model), batch, lag_rows=64)
    T = cfg.seq_len
    np.testing.assert_array_equal(ht.output_steps, np.arange(T, 2 * T))
    for i, s in enumerate((0, T - 1)):
        row = i * (T - 1)
        ref = attention_reference(copy.deepcopy(model), batch, cfg, seed_step=s)
        enc = _norms(ref["enc"]["grad_h"].numpy())  # (L, D, T)
        dec = _norms(ref["dec"]["grad_h"].numpy())[:, 0]
        np.testing.assert_allclose(ht.grad_h_by_output[:, :, row, :T], enc, rtol=1e-9, atol=1e-14)
        np.testing.assert_allclose(ht.grad_h_by_output[:, 0, row, T:], dec, rtol=1e-9, atol=1e-14)
        np.testing.assert_allclose(ht.grad_x_by_output[row, :T], ref["x_grad"].numpy(), rtol=1e-9, atol=1e-14)
        np.testing.assert_allclose(ht.grad_x_by_output[row, T:], ref["in_grad"].numpy(), rtol=1e-9, atol=1e-14)


@pytest.mark.parametrize("kw", [CASES[3], CASES[4], CASES[5]], ids=("rnn", "lstm", "gru-2-layers"))
def test_a_decoder_stepped_a_word_at_a_time_is_finished_at_once_as_call_by_call(kw):
    """The additive decoder's one-step calls read in one pass give every field the calls' own traces give, joined."""
    cfg = _config(**kw)
    model, batch = prepare(cfg, torch.float64)

    def compute_loss():
        logits, _ = model.translate(batch.x, teacher_inputs(batch.y, model.output_size, batch.x.dtype))
        return F.cross_entropy(logits.reshape(-1, model.output_size), batch.y.reshape(-1))

    runs, loss = run_submodules(model, compute_loss)
    calls = runs["decoder"]
    assert len(calls) == cfg.seq_len and steps_at_once(calls)
    at_once, one_by_one = finish_steps(calls, loss), join_stock([finish_trace(r, loss) for r in calls], calls)
    for field in dataclasses.fields(one_by_one):
        want, got = getattr(one_by_one, field.name), getattr(at_once, field.name)
        if isinstance(want, dict):
            assert want.keys() == got.keys()
            for k in want:
                np.testing.assert_allclose(got[k], want[k], rtol=1e-12, atol=1e-15, err_msg=k)
        elif isinstance(want, np.ndarray | torch.Tensor):
            assert got.shape == want.shape and got.dtype == want.dtype, field.name
            np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=1e-12, atol=1e-15, err_msg=field.name)
        else:
            assert got == want, field.name
    assert np.abs(at_once.grad_h0).max() > 0 and np.abs(at_once.grad_out_norm).min() > 0


SOURCE_CLAIMS = [(lesson, c) for lesson in LESSONS for c in lesson.claims
                 if c.kind in ("source_reached", "source_unreached")]


@pytest.mark.parametrize("lesson,claim", SOURCE_CLAIMS, ids=[f"{le.id}/{c.kind}-{c.on_try}" for le, c in SOURCE_CLAIMS])
def test_source_claims_hold_by_the_step_by_step_reference(lesson, claim):
    """The lesson's ratio from the float64 reference on the lesson's own float32 weights: no engine tracing."""
    ratio = source_reach_reference(measured_config(lesson, claim.on_try))
    if claim.kind == "source_reached":
        assert ratio > claim.params["ratio_above"], ratio
    else:
        assert ratio < claim.params["ratio_below"], ratio


ALIGNMENT_CLAIMS = [(lesson, c) for lesson in LESSONS for c in lesson.claims if c.kind == "alignment"]


def _alignment_model(cfg: Config, trained: bool):
    """The model a claim measures: the lesson's own untrained weights, or its weights after the lab's training."""
    return lab_lessons._train(cfg).model if trained else prepare(cfg)[0]


@pytest.mark.parametrize("lesson,claim", ALIGNMENT_CLAIMS,
                         ids=[f"{le.id}/{c.params['diagonal']}-{c.on_try}" for le, c in ALIGNMENT_CLAIMS])
def test_alignment_claims_hold_by_the_step_by_step_reference(lesson, claim):
    """The share of α on the claimed diagonal, α from the float64 reference on the measured model's weights."""
    cfg, p = measured_config(lesson, claim.on_try), claim.params
    share = alignment_share_reference(_alignment_model(cfg, p.get("after_training", False)), cfg, p["diagonal"])
    assert share > p["share_above"], (claim.says, share)


@pytest.mark.parametrize("kw", [CASES[1], CASES[5]], ids=("dot", "additive"))
def test_a_training_steps_profile_is_the_traces_norms_and_alignment(kw):
    """The Trainer reads its profile without tracing the rest (a decoder stepped a word at a time, call by call): the
    same ‖∂L/∂h_t‖ on the joined axis and the same alignment as the whole trace of that step's model and batch."""
    cfg = Config.from_dict({**_config(**kw).to_dict(), "steps": 3})
    model, _ = prepare(cfg)
    batch = make_batch(cfg.task, cfg.arch, cfg.seq_len, cfg.batch_size, data_generator(cfg.seed))
    ht = trace_encoder_decoder(model, batch)
    first = Trainer(cfg).step(1, with_profile=True)[0]
    np.testing.assert_allclose(first.profile, ht.joined("grad_h_norm"), rtol=1e-6, atol=0)
    np.testing.assert_array_equal(first.alignment, ht.alignment[:, 0])
    assert first.loss == ht.loss
