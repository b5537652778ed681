"""A naive step-by-step autograd reference, built from PyTorch's own cell modules.

Each h_t (and c_t) is its own tensor with ``retain_grad()``, so after ``backward`` its
``.grad`` is the total derivative ∂L/∂h_t that the fast tracer must reproduce.
"""

from __future__ import annotations

import torch
from torch import nn


def _cell_for(module: nn.RNNBase, layer: int, direction: int) -> nn.Module:
    sfx = f"_l{layer}" + ("_reverse" if direction else "")
    in_size = module.input_size if layer == 0 else module.hidden_size * (2 if module.bidirectional else 1)
    kw = dict(bias=module.bias, dtype=module.weight_hh_l0.dtype)
    if isinstance(module, nn.LSTM):
        cell = nn.LSTMCell(in_size, module.hidden_size, **kw)
    elif isinstance(module, nn.GRU):
        cell = nn.GRUCell(in_size, module.hidden_size, **kw)
    else:
        cell = nn.RNNCell(in_size, module.hidden_size, nonlinearity=module.nonlinearity, **kw)
    with torch.no_grad():
        for name in ("weight_ih", "weight_hh") + (("bias_ih", "bias_hh") if module.bias else ()):
            getattr(cell, name).copy_(getattr(module, name + sfx))
    return cell


def reference_trace(module: nn.RNNBase, inputs: torch.Tensor, loss):
    """Returns dict of (L, D, T, N, H) tensors: hidden, grad_h, cell_state, grad_c, gates; and output, loss."""
    batched = inputs.dim() == 3
    x = inputs if batched else inputs.unsqueeze(0 if module.batch_first else 1)
    if module.batch_first:
        x = x.transpose(0, 1)
    x = x.to(module.weight_hh_l0.dtype)
    T, N, _ = x.shape
    H, L = module.hidden_size, module.num_layers
    D = 2 if module.bidirectional else 1
    lstm = isinstance(module, nn.LSTM)
    hs = [[[None] * T for _ in range(D)] for _ in range(L)]
    cs = [[[None] * T for _ in range(D)] for _ in range(L)]
    layer_in = [x[t] for t in range(T)]
    for layer in range(L):
        for d in range(D):
            cell = _cell_for(module, layer, d)
            h = x.new_zeros(N, H)
            c = x.new_zeros(N, H)
            order = range(T - 1, -1, -1) if d else range(T)
            for t in order:
                if lstm:
                    h, c = cell(layer_in[t], (h, c))
                    c.retain_grad()
                    cs[layer][d][t] = c
                else:
                    h = cell(layer_in[t], h)
                h.retain_grad()
                hs[layer][d][t] = h
        layer_in = [torch.cat([hs[layer][d][t] for d in range(D)], dim=-1) for t in range(T)]
    out = torch.stack(layer_in)  # (T, N, D*H)
    if module.batch_first:
        out = out.transpose(0, 1)
    if not batched:
        out = out.squeeze(0 if module.batch_first else 1)
    value = loss(out)
    value.backward()

    def grid(items, attr=None):
        return torch.stack(
            [
                torch.stack(
                    [
                        torch.stack(
                            [
                                (getattr(v, attr) if attr else v.detach())
                                if (attr is None or getattr(v, attr) is not None)
                                else torch.zeros_like(v)
                                for v in items[l][d]
                            ]
                        )
                        for d in range(D)
                    ]
                )
                for l in range(L)
            ]
        )

    result = {"hidden": grid(hs), "grad_h": grid(hs, "grad"), "output": out.detach(), "loss": float(value.detach())}
    if lstm:
        result["cell_state"] = grid(cs)
        result["grad_c"] = grid(cs, "grad")
    return result


def reference_gates(module: nn.RNNBase, ref: dict, inputs_tn: torch.Tensor) -> dict[str, torch.Tensor]:
    """Gate activations step by step from the reference states, each (L, D, T, N, H).

    Also rebuilds h_t from those gates, so a test can check the gate equations against PyTorch's cells.
    """
    L, D, T = ref["hidden"].shape[:3]
    H = module.hidden_size
    lstm = isinstance(module, nn.LSTM)
    names = ("input", "forget", "cell", "output") if lstm else ("reset", "update", "new")
    out = {n: torch.zeros_like(ref["hidden"]) for n in names + ("h_rebuilt",)}
    layer_in = inputs_tn
    for layer in range(L):
        for d in range(D):
            sfx = f"_l{layer}" + ("_reverse" if d else "")
            w_ih, w_hh = getattr(module, "weight_ih" + sfx).detach(), getattr(module, "weight_hh" + sfx).detach()
            b_ih = (
                getattr(module, "bias_ih" + sfx).detach()
                if module.bias
                else torch.zeros(w_ih.shape[0], dtype=w_ih.dtype)
            )
            b_hh = (
                getattr(module, "bias_hh" + sfx).detach()
                if module.bias
                else torch.zeros(w_ih.shape[0], dtype=w_ih.dtype)
            )
            order = list(range(T - 1, -1, -1)) if d else list(range(T))
            h_prev = torch.zeros_like(ref["hidden"][0, 0, 0])
            c_prev = torch.zeros_like(h_prev)
            for t in order:
                gi = torch.nn.functional.linear(layer_in[t], w_ih, b_ih)
                gh = torch.nn.functional.linear(h_prev, w_hh, b_hh)
                if lstm:
                    i, f, g, o = (gi + gh).split(H, dim=-1)
                    i, f, g, o = torch.sigmoid(i), torch.sigmoid(f), torch.tanh(g), torch.sigmoid(o)
                    c_prev = f * c_prev + i * g
                    h = o * torch.tanh(c_prev)
                    vals = (i, f, g, o)
                else:
                    r = torch.sigmoid(gi[..., :H] + gh[..., :H])
                    z = torch.sigmoid(gi[..., H : 2 * H] + gh[..., H : 2 * H])
                    n = torch.tanh(gi[..., 2 * H :] + r * gh[..., 2 * H :])
                    h = (1 - z) * n + z * h_prev
                    vals = (r, z, n)
                for name, v in zip(names, vals):
                    out[name][layer, d, t] = v
                out["h_rebuilt"][layer, d, t] = h
                h_prev = ref["hidden"][layer, d, t]
        layer_in = torch.cat([ref["hidden"][layer, d] for d in range(D)], dim=-1)
    return out
