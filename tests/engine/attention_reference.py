"""A step-by-step reference for an encoder-decoder with attention, written out from the papers' equations: float64
for the attention's own tests, or in the model's float32 where a lesson's curve is compared with the lab's arithmetic.

The encoder and decoder run as :class:`tests.engine.reference.NaiveRecurrent` stand-ins (one PyTorch cell per step,
every state its own tensor with ``retain_grad``); the attention is computed a source step at a time.
"""

from __future__ import annotations

import copy
import dataclasses

import numpy as np
import torch
import torch.nn.functional as F

from engine.config import Config
from engine.lab import prepare
from engine.models.network import teacher_inputs
from tests.engine.reference import NaiveRecurrent, collect


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


def attention_reference(model, batch, cfg: Config, seed_step: int | None = None) -> dict:
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
    inputs = teacher_inputs(batch.y, O, model.head.weight.dtype).requires_grad_()
    T = batch.y.shape[0]
    if cfg.attention == "none":
        s, _ = dec(inputs, state)
        logits, alpha = model.head(s), torch.zeros(())
    elif cfg.attention == "dot":
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


def source_reach_reference(cfg: Config) -> float:
    """‖∂L/∂h_0‖ / ‖∂L/∂h_{T-1}‖ of the encoder (layer 0, forward) for ``cfg``'s own float32 weights, in float64."""
    model, batch = prepare(cfg)
    ref = attention_reference(model.double(), dataclasses.replace(batch, x=batch.x.double()), cfg)
    g = np.sqrt((ref["enc"]["grad_h"][0, 0].numpy() ** 2).sum(axis=(-2, -1)))  # (T,)
    return float(g[0] / g[-1])


def alignment_share_reference(model, cfg: Config, diagonal: str) -> float:
    """The mean over decoder steps i of α_i,T−1−i ('anti') or α_ii ('main') of batch sample 0, for ``model``'s weights
    on the batch the lab traces, α from :func:`attention_reference` in float64, one entry at a time."""
    _, batch = prepare(cfg)
    double = copy.deepcopy(model).double()
    alpha = attention_reference(double, dataclasses.replace(batch, x=batch.x.double()), cfg)["alpha"][:, 0]  # (T, T)
    T = cfg.seq_len
    return sum(float(alpha[i, T - 1 - i if diagonal == "anti" else i]) for i in range(T)) / T
