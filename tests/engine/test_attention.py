"""Attention's trace against a step-by-step float64 reference written out here: alignment, split gradient, lag map."""

import copy

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from engine.config import Config
from engine.lab import prepare
from engine.models.network import teacher_inputs
from engine.tracing import trace_encoder_decoder
from tests.engine.reference import NaiveRecurrent, collect

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


def _additive(att, s_prev, h):
    """α_i (N, T) and c_i (N, H) from e_ij = vᵀ tanh(W s_{i−1} + U h_j), one source step at a time."""
    W, U, v = att.query.weight, att.key.weight, att.score.weight[0]
    e = torch.stack([torch.tanh(s_prev @ W.T + h[j] @ U.T) @ v for j in range(h.shape[0])], dim=1)  # (N, T)
    alpha = torch.exp(e) / torch.exp(e).sum(1, keepdim=True)
    return alpha, sum(alpha[:, j : j + 1] * h[j] for j in range(h.shape[0]))


def _dot(att, s_i, h):
    """s̃_i (N, H) and α_i (N, T) from e_ij = s_iᵀ h_j and s̃_i = tanh(W_c [c_i; s_i])."""
    e = torch.stack([(s_i * h[j]).sum(-1) for j in range(h.shape[0])], dim=1)  # (N, T)
    alpha = torch.exp(e) / torch.exp(e).sum(1, keepdim=True)
    c = sum(alpha[:, j : j + 1] * h[j] for j in range(h.shape[0]))
    return torch.tanh(torch.cat([c, s_i], -1) @ att.combine.weight.T), alpha


def _reference(model, batch, cfg: Config, seed_step: int | None = None) -> dict:
    """Everything step by step: the encoder and decoder as NaiveRecurrent stand-ins, the attention as the papers
    write it.  ``seed_step``: backpropagate only that decoder step's share of the loss's gradient (a lag-map row)."""
    enc, dec = NaiveRecurrent(model.rnn), NaiveRecurrent(model.decoder)
    src = torch.flip(batch.x, [0]) if cfg.reverse_source else batch.x
    src = src.detach().requires_grad_()
    out, final = enc(src)
    D, H, L = cfg.num_directions, cfg.hidden_size, cfg.num_layers
    ann = out[..., :H] + out[..., H:] if D == 2 else out * 1.0  # (T, N, H), its own tensor
    ann.retain_grad()

    def join(f):
        return torch.stack([sum(f[layer * D + d] for d in range(D)) for layer in range(L)])

    state = tuple(join(f) for f in final) if cfg.cell == "lstm" else join(final)
    for s in state if isinstance(state, tuple) else (state,):
        s.retain_grad()
    s0 = state
    O = model.head.out_features
    inputs = teacher_inputs(batch.y, O, torch.float64).requires_grad_()
    T = batch.y.shape[0]
    if cfg.attention == "dot":
        s, _ = dec(inputs, state)
        rows = [_dot(model.attention, s[i], ann) for i in range(T)]
        logits = model.head(torch.stack([r[0] for r in rows]))
        alpha = torch.stack([r[1] for r in rows])
    else:
        outs, alphas = [], []
        for i in range(T):
            top = (state[0] if isinstance(state, tuple) else state)[-1]
            a, c = _additive(model.attention, top, ann)
            step, state = dec(torch.cat([inputs[i : i + 1], c[None]], -1), state)
            outs.append(step)
            alphas.append(a)
        logits, alpha = model.head(torch.cat(outs)), torch.stack(alphas)
    loss = F.cross_entropy(logits.reshape(-1, O), batch.y.reshape(-1))
    if seed_step is None:
        loss.backward()
    else:
        g = torch.autograd.grad(loss, logits, retain_graph=True)[0]
        keep = torch.zeros_like(g)
        keep[seed_step] = g[seed_step]
        (logits * keep).sum().backward()
    enc_ref = collect(enc.calls[0])
    parts = [collect(call) for call in dec.calls]  # one call, or one per step (additive)
    dec_ref = {k: torch.cat([p[k] for p in parts], dim=2) for k in parts[0] if not k.endswith("0")}
    x_grad = src.grad.flip(0) if cfg.reverse_source else src.grad
    step_norms = lambda g: torch.linalg.vector_norm(g, dim=(1, 2))  # noqa: E731 - (T, N, X) -> (T,)
    return dict(enc=enc_ref, dec=dec_ref, loss=float(loss.detach()), logits=logits.detach(), alpha=alpha.detach(),
                ann_grad=ann.grad, s0=[s.grad for s in (s0 if isinstance(s0, tuple) else (s0,))],
                x_grad=step_norms(x_grad), in_grad=step_norms(inputs.grad))


def _norms(a: np.ndarray) -> np.ndarray:
    return np.sqrt((a**2).sum(axis=(-2, -1)))


@pytest.mark.parametrize("kw", CASES, ids=lambda kw: "-".join(f"{k}={v}" for k, v in kw.items()))
def test_attention_trace_equals_step_by_step_float64_reference(kw):
    cfg = _config(**kw)
    model, batch = prepare(cfg, torch.float64)
    ref_model, ht = copy.deepcopy(model), trace_encoder_decoder(model, batch)  # the trace leaves model's .grad
    T, D, ref = cfg.seq_len, cfg.num_directions, _reference(ref_model, batch, cfg)
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
        ref = _reference(copy.deepcopy(model), batch, cfg, seed_step=s)
        enc = _norms(ref["enc"]["grad_h"].numpy())  # (L, D, T)
        dec = _norms(ref["dec"]["grad_h"].numpy())[:, 0]
        np.testing.assert_allclose(ht.grad_h_by_output[:, :, row, :T], enc, rtol=1e-9, atol=1e-14)
        np.testing.assert_allclose(ht.grad_h_by_output[:, 0, row, T:], dec, rtol=1e-9, atol=1e-14)
        np.testing.assert_allclose(ht.grad_x_by_output[row, :T], ref["x_grad"].numpy(), rtol=1e-9, atol=1e-14)
        np.testing.assert_allclose(ht.grad_x_by_output[row, T:], ref["in_grad"].numpy(), rtol=1e-9, atol=1e-14)

