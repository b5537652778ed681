"""The encoder-decoder's trace against a naive step-by-step float64 autograd reference, written out here."""

import copy

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from engine.config import Config, ConfigError
from engine.lab import prepare, trace_config
from engine.tracing import trace_encoder_decoder
from tests.engine.reference import NaiveRecurrent, collect

CASES = [
    dict(cell="rnn"),
    dict(cell="lstm"),
    dict(cell="gru"),
    dict(cell="rnn", num_layers=2),
    dict(cell="lstm", num_layers=2, bidirectional=True),
    dict(cell="gru", bidirectional=True, reverse_source=True),
    dict(cell="lstm", reverse_source=True, task="reverse"),
    dict(cell="rnn", nonlinearity="relu", bidirectional=True, num_layers=2, task="copy"),
]


def _config(**kw) -> Config:
    base = dict(arch="encoder-decoder", task="translate", seq_len=5, hidden_size=4, batch_size=3, seed=3)
    return Config.from_dict({**base, **kw})


def _reference(model, batch, cfg: Config) -> dict:
    """Each module replaced by its step-by-step stand-in; the handoff and teacher forcing written out again."""
    enc, dec = NaiveRecurrent(model.rnn), NaiveRecurrent(model.decoder)
    src = torch.flip(batch.x, [0]) if cfg.reverse_source else batch.x
    _, final = enc(src)
    D = cfg.num_directions

    def join(f):  # (L*D, N, H): layer l's directions are rows l*D .. l*D+D-1
        return torch.stack([sum(f[layer * D + d] for d in range(D)) for layer in range(cfg.num_layers)])

    state = tuple(join(f) for f in final) if cfg.cell == "lstm" else join(final)
    O = model.head.out_features
    prev = torch.cat([torch.full((1, batch.y.shape[1]), O), batch.y[:-1]])
    out, _ = dec(F.one_hot(prev, O + 1).double(), state)
    logits = model.head(out)
    loss = F.cross_entropy(logits.reshape(-1, O), batch.y.reshape(-1))
    loss.backward()
    return dict(enc=collect(enc.calls[0]), dec=collect(dec.calls[0]), loss=float(loss.detach()), logits=logits.detach())


@pytest.mark.parametrize("kw", CASES, ids=lambda kw: "-".join(f"{k}={v}" for k, v in kw.items()))
def test_trace_equals_naive_reference(kw):
    cfg = _config(**kw)
    model, batch = prepare(cfg, torch.float64)
    ref_model = copy.deepcopy(model)
    ht = trace_encoder_decoder(model, batch)
    ref = _reference(ref_model, batch, cfg)
    assert ht.loss == pytest.approx(ref["loss"], rel=1e-12)
    np.testing.assert_allclose(ht.logits.numpy(), ref["logits"].numpy(), rtol=1e-10, atol=1e-12)
    T, D = cfg.seq_len, cfg.num_directions
    names = ("hidden", "grad_h") + (("cell_state", "grad_c") if cfg.cell == "lstm" else ())
    for name in names:
        joined = ht.joined(name)  # (L, D, 2T, N, H)
        assert joined.shape[2] == 2 * T
        np.testing.assert_allclose(joined[:, :, :T], ref["enc"][name].numpy(), rtol=1e-9, atol=1e-12, err_msg=name)
        np.testing.assert_allclose(joined[:, :1, T:], ref["dec"][name].numpy(), rtol=1e-9, atol=1e-12, err_msg=name)
        assert not joined[:, 1:, T:].any()  # the decoder has one direction
    # What crosses the handoff: ∂L/∂s_0 of the decoder, and each encoder direction receives it whole.
    np.testing.assert_allclose(ht.decoder.grad_h0, ref["dec"]["grad_h0"].numpy(), rtol=1e-9, atol=1e-14)
    s0 = ref["dec"]["grad_h0"].numpy()[:, 0]  # (L, N, H)
    assert ht.handoff_grad_norm == pytest.approx(np.sqrt((s0**2).sum()), rel=1e-10)
    if cfg.num_layers == 1:  # the encoder's outputs are unused: its final step receives exactly ∂L/∂s_0
        np.testing.assert_allclose(ht.encoder.grad_h[0, 0, T - 1], s0[0], rtol=1e-9, atol=1e-14)
        if D == 2:  # the reverse direction ends at input position 0 and receives the same
            np.testing.assert_allclose(ht.encoder.grad_h[0, 1, 0], s0[0], rtol=1e-9, atol=1e-14)
    # Parameter gradients as a plain backward through the stock modules leaves them.
    plain = copy.deepcopy(ref_model)
    plain.zero_grad(set_to_none=True)
    F.cross_entropy(plain(batch.x, batch.y).reshape(-1, plain.head.out_features), batch.y.reshape(-1)).backward()
    for (name, p), q in zip(model.named_parameters(), plain.parameters()):
        np.testing.assert_allclose(p.grad.numpy(), q.grad.numpy(), rtol=1e-9, atol=1e-13, err_msg=name)


def test_experiment_trace_has_handoff_on_one_time_axis():
    cfg = _config(cell="lstm", bidirectional=True)
    tr = trace_config(cfg)
    T = cfg.seq_len
    assert tr.handoff == T
    assert tr.grad_h_norm.shape == (1, 2, 2 * T)
    assert tr.scored_steps == tuple(range(T, 2 * T))
    assert tr.outputs.shape == (2 * T, 8)
    model, batch = prepare(cfg)
    assert tr.handoff_grad_norm == pytest.approx(trace_encoder_decoder(model, batch).handoff_grad_norm, rel=1e-4)
    assert any(k.startswith("decoder.") for k in tr.param_grad_norms)


def test_reverse_source_same_weights_and_data_other_trace():
    a, b = _config(), _config(reverse_source=True)
    (ma, ba), (mb, bb) = prepare(a), prepare(b)
    assert torch.equal(ba.x, bb.x) and torch.equal(ba.y, bb.y)
    for p, q in zip(ma.parameters(), mb.parameters()):
        assert torch.equal(p, q)
    assert trace_config(a).loss != trace_config(b).loss


def test_encoder_decoder_needs_a_sentence_task():
    with pytest.raises(ConfigError) as e:
        Config.from_dict({"arch": "encoder-decoder", "task": "adding"})
    assert e.value.field == "task" and "'copy', 'reverse', 'translate'" in e.value.message


def test_training_learns_the_copy_with_a_handoff_profile():
    from engine.lab import Trainer

    cfg = _config(cell="gru", task="copy", seq_len=4, hidden_size=32, batch_size=32, steps=150, lr=0.02)
    trainer = Trainer(cfg)
    reports = list(trainer.steps())
    profiles = [r.profile for r in reports if r.profile is not None]
    assert profiles and profiles[0].shape == (1, 1, 2 * cfg.seq_len)
    assert trainer.result.steps_done == cfg.steps
    # Measured against the exact baseline, ln 8: a model that reads the source through the handoff beats it.
    assert reports[-1].loss < 0.5 * trainer.baseline["loss"]


def test_gate_product_is_of_the_whole_batchs_forget_gates():
    """The memory-path overlay across the handoff: ∏ over later steps of the forget gate averaged over batch and
    units, with the gates recomputed from the reference's states and the LSTM equations."""
    cfg = _config(cell="lstm", batch_size=4)
    model, batch = prepare(cfg, torch.float64)
    ref = _reference(copy.deepcopy(model), batch, cfg)
    T, H, O = cfg.seq_len, cfg.hidden_size, model.head.out_features
    prev = torch.cat([torch.full((1, batch.y.shape[1]), O), batch.y[:-1]])

    def forget(module, x, h, h0):  # x (T, N, I), h (T, N, H) the states the module wrote, h0 (N, H)
        w_i, w_h = module.weight_ih_l0[H : 2 * H], module.weight_hh_l0[H : 2 * H]
        b = module.bias_ih_l0[H : 2 * H] + module.bias_hh_l0[H : 2 * H]
        before = torch.cat([h0[None], h[:-1]])
        return torch.sigmoid(x @ w_i.T + before @ w_h.T + b).detach()

    with torch.no_grad():
        h_enc = ref["enc"]["hidden"][0, 0]
        f_enc = forget(model.rnn, batch.x, h_enc, torch.zeros_like(h_enc[0]))
        f_dec = forget(model.decoder, F.one_hot(prev, O + 1).double(), ref["dec"]["hidden"][0, 0], h_enc[-1])
    mean = torch.cat([f_enc, f_dec]).mean(dim=(1, 2)).numpy()  # (2T,)
    want = [np.prod(mean[s + 1 :]) for s in range(2 * T)]
    got = trace_config(cfg, torch.float64).theory["gate_product"][0, 0]
    np.testing.assert_allclose(got, want, rtol=1e-4)
