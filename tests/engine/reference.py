"""A naive step-by-step autograd reference, built from PyTorch's own cell modules.

Each sequence of the batch runs alone, one step at a time, through an ``nn.RNNCell``/``LSTMCell``/
``GRUCell`` holding a copy of the module's weights (an LSTM with ``proj_size`` steps through its written-out
equations instead, as no PyTorch cell has a projection).  Each h_t, c_t and h_0, c_0 is its own tensor
with ``retain_grad()``, so after ``backward`` its ``.grad`` is the total derivative ∂L/∂h_t that the fast
tracer must reproduce.
"""

from __future__ import annotations

import copy
import math
import statistics

import torch
from torch import nn
from torch.nn import functional as F
from torch.nn.utils.rnn import PackedSequence, pad_packed_sequence


def _weights(module: nn.RNNBase, layer: int, direction: int, live: bool = False) -> dict[str, torch.Tensor]:
    sfx = f"_l{layer}" + ("_reverse" if direction else "")
    names = ("weight_ih", "weight_hh") + (("bias_ih", "bias_hh") if module.bias else ())
    names += ("weight_hr",) if getattr(module, "proj_size", 0) else ()
    return {n: getattr(module, n + sfx) if live else getattr(module, n + sfx).detach().clone() for n in names}


_CELL_FNS = {"RNN_TANH": torch.rnn_tanh_cell, "RNN_RELU": torch.rnn_relu_cell, "LSTM": torch.lstm_cell,
             "GRU": torch.gru_cell}


def _step_for(module: nn.RNNBase, layer: int, direction: int, live: bool = False):
    """A function (x_t (1, I), state) -> state, with the weights of one layer and direction copied.

    ``live``: use the module's own parameters, one PyTorch cell function per step, so that ``backward``
    leaves the step-by-step parameter gradients on the module.
    """
    w = _weights(module, layer, direction, live)
    H, D = module.hidden_size, 2 if module.bidirectional else 1
    if getattr(module, "proj_size", 0):

        def lstm_proj(x, state):
            h, c = state
            gates = F.linear(x, w["weight_ih"], w.get("bias_ih")) + F.linear(h, w["weight_hh"], w.get("bias_hh"))
            i, f, g, o = gates.split(H, dim=-1)
            c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
            return F.linear(torch.sigmoid(o) * torch.tanh(c), w["weight_hr"]), c

        return lstm_proj
    if live:
        fn = _CELL_FNS[module.mode]
        b = (w["bias_ih"], w["bias_hh"]) if module.bias else (None, None)
        return lambda x, state: fn(x, state, w["weight_ih"], w["weight_hh"], *b)
    state_in = getattr(module, "proj_size", 0) or H
    in_size = module.input_size if layer == 0 else state_in * D
    kw = dict(bias=module.bias, dtype=module.weight_hh_l0.dtype)
    if isinstance(module, nn.LSTM):
        cell = nn.LSTMCell(in_size, H, **kw)
    elif isinstance(module, nn.GRU):
        cell = nn.GRUCell(in_size, H, **kw)
    else:
        cell = nn.RNNCell(in_size, H, nonlinearity=module.nonlinearity, **kw)
    with torch.no_grad():
        for name, value in w.items():
            getattr(cell, name).copy_(value)
    return cell


class NaiveRecurrent(nn.Module):
    """Drop-in stand-in for an ``nn.RNN``/``LSTM``/``GRU``: same call, same returns, one step at a time.

    Every call appends a record to ``self.calls``; after ``backward``, ``collect(record)`` reads it.
    ``tbptt`` = k > 0 detaches the state before every k-th step of each direction's own order (the
    textbook ``h = h.detach()`` every k steps); the input passed to the layer above is never detached.
    """

    def __init__(self, module: nn.RNNBase, tbptt: int = 0, live: bool = False):
        super().__init__()
        self.like = module
        self.tbptt = tbptt
        self.live = live
        self.calls: list[dict] = []

    def forward(self, inputs, hx=None):
        m = self.like
        lstm = isinstance(m, nn.LSTM)
        H, L, D = m.hidden_size, m.num_layers, 2 if m.bidirectional else 1
        P = getattr(m, "proj_size", 0) or H
        dtype = m.weight_hh_l0.dtype
        packed = isinstance(inputs, PackedSequence)
        if packed:
            x, lengths = pad_packed_sequence(inputs)  # (T, N, I), the caller's batch order
            batched = True
        else:
            batched = inputs.dim() == 3
            x = inputs if batched else inputs.unsqueeze(0 if m.batch_first else 1)
            x = x.transpose(0, 1) if m.batch_first else x
            lengths = torch.full((x.shape[1],), x.shape[0])
        x = x.to(dtype)
        T, N = x.shape[:2]
        given = None if hx is None else (list(hx) if lstm else [hx])
        if given is not None and not batched:
            given = [s.unsqueeze(1) for s in given]
        h0 = [[None] * N for _ in range(L * D)]
        c0 = [[None] * N for _ in range(L * D)]
        for k in range(L * D):
            for n in range(N):
                for store, i, width in ((h0, 0, P), (c0, 1, H)):
                    if i == 1 and not lstm:
                        continue
                    if given is not None:
                        s = given[i].to(dtype)[k, n : n + 1]
                    else:
                        s = x.new_zeros(1, width).requires_grad_()
                    s.retain_grad()
                    store[k][n] = s
        hs = [[[[None] * T for _ in range(N)] for _ in range(D)] for _ in range(L)]
        cs = [[[[None] * T for _ in range(N)] for _ in range(D)] for _ in range(L)]
        layer_in = [[x[t, n : n + 1] for t in range(int(lengths[n]))] for n in range(N)]
        for layer in range(L):
            for d in range(D):
                step = _step_for(m, layer, d, self.live)
                for n in range(N):
                    k = layer * D + d
                    state = (h0[k][n], c0[k][n]) if lstm else h0[k][n]
                    steps = range(int(lengths[n]))
                    for j, t in enumerate(reversed(steps) if d else steps):
                        if self.tbptt and j and j % self.tbptt == 0:
                            state = tuple(s.detach() for s in state) if lstm else state.detach()
                        state = step(layer_in[n][t], state)
                        h = state[0] if lstm else state
                        h.retain_grad()
                        hs[layer][d][n][t] = h
                        if lstm:
                            state[1].retain_grad()
                            cs[layer][d][n][t] = state[1]
            layer_in = [[torch.cat([hs[layer][d][n][t] for d in range(D)], -1) for t in range(int(lengths[n]))]
                        for n in range(N)]
        zero = x.new_zeros(1, D * P)
        out = torch.stack([torch.cat([layer_in[n][t] if t < lengths[n] else zero for n in range(N)]) for t in range(T)])
        if packed:
            order = inputs.sorted_indices if inputs.sorted_indices is not None else torch.arange(N)
            rows = [out[t, order[: int(b)]] for t, b in enumerate(inputs.batch_sizes)]
            output = PackedSequence(torch.cat(rows), inputs.batch_sizes, inputs.sorted_indices, inputs.unsorted_indices)
        else:
            output = out.transpose(0, 1) if m.batch_first else out
            output = output if batched else output.squeeze(0 if m.batch_first else 1)

        def last(states, k, n):
            layer, d = divmod(k, D)
            return states[layer][d][n][0 if d else int(lengths[n]) - 1]

        h_n = [torch.stack([torch.cat([last(hs, k, n) for n in range(N)]) for k in range(L * D)])]
        if lstm:
            h_n.append(torch.stack([torch.cat([last(cs, k, n) for n in range(N)]) for k in range(L * D)]))
        h_n = [h if batched else h.squeeze(1) for h in h_n]
        self.calls.append(dict(hs=hs, cs=cs, h0=h0, c0=c0, lengths=lengths, T=T, N=N, lstm=lstm, batched=batched))
        return output, (tuple(h_n) if lstm else h_n[0])


def collect(record: dict) -> dict[str, torch.Tensor]:
    """(L, D, T, N, ·) hidden, grad_h (and cell_state, grad_c), NaN past each length; grad_h0 (grad_c0) (L, D, N, ·).

    Unbatched calls drop the N axis, like the tracer's arrays.
    """
    hs, lengths, T, N = record["hs"], record["lengths"], record["T"], record["N"]
    L, D = len(hs), len(hs[0])

    def grid(states, grad: bool):
        like = states[0][0][0][0]
        nan = torch.full_like(like[0], math.nan)

        def value(v):
            if grad:
                return v.grad[0] if v.grad is not None else torch.zeros_like(v[0])
            return v.detach()[0]

        return torch.stack([torch.stack([torch.stack([torch.stack(
            [value(states[layer][d][n][t]) if t < lengths[n] else nan for n in range(N)])
            for t in range(T)]) for d in range(D)]) for layer in range(L)])

    def initial(states):
        return torch.stack([torch.stack([torch.stack(
            [s.grad[0] if s.grad is not None else torch.zeros_like(s[0]) for s in states[layer * D + d]])
            for d in range(D)]) for layer in range(L)])

    result = {"hidden": grid(hs, False), "grad_h": grid(hs, True), "grad_h0": initial(record["h0"])}
    if record["lstm"]:
        cs = record["cs"]
        result.update(cell_state=grid(cs, False), grad_c=grid(cs, True), grad_c0=initial(record["c0"]))
    if not record["batched"]:
        result = {k: v.select(3 if v.dim() == 5 else 2, 0) for k, v in result.items()}
    return result


def reference_trace(module: nn.RNNBase, inputs, loss, hx=None, tbptt: int = 0, live: bool = False) -> dict:
    """``collect``'s arrays for ``loss(output)`` (batched layout kept even for unbatched input), plus output, loss.

    ``live``: the module's parameters are used step by step, and keep the ``.grad`` backward leaves."""
    naive = NaiveRecurrent(module, tbptt, live)
    output, _ = naive(inputs, hx)
    value = loss(output)
    value.backward()
    record = dict(naive.calls[0], batched=True)
    result = collect(record)
    result.update(output=output if isinstance(output, PackedSequence) else output.detach(), loss=float(value.detach()))
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


def reference_lag_rows(module: nn.RNNBase, x: torch.Tensor, loss, rows) -> torch.Tensor:
    """The lag map's rows (L, D, S, T), ‖(∂out_s/∂h_t)ᵀ g_s‖ over batch and units, in float64, without the engine.

    g = ∂L/∂out of ``loss(out)`` comes from the module itself and plain autograd.  Then S copies of the batch run
    side by side, one step at a time, through PyTorch's cells holding the module's weights in float64 (padded,
    time-major ``x``; no tbptt); copy i backpropagates ⟨g_{s_i}, out_{s_i}⟩ alone, so its h_t.grad is row i.  One
    forward and one backward in all, however many rows.
    """
    out, _ = module(x)
    out.retain_grad()
    loss(out).backward()
    g = out.grad.detach().double()  # (T, N, D·H)
    module, x = copy.deepcopy(module).double(), x.double()
    T, N = x.shape[:2]
    S, L, D = len(rows), module.num_layers, 2 if module.bidirectional else 1
    lstm = isinstance(module, nn.LSTM)
    layer_in = x.repeat(1, S, 1)  # (T, S·N, I): copy i is batch block i
    hs = []
    for layer in range(L):
        per_direction = []
        for d in range(D):
            cell, state, states = _step_for(module, layer, d), None, [None] * T
            for t in reversed(range(T)) if d else range(T):
                state = cell(layer_in[t], state)
                h = state[0] if lstm else state
                h.retain_grad()
                states[t] = h
            per_direction.append(states)
        hs.append(per_direction)
        layer_in = torch.stack([torch.cat([per_direction[d][t] for d in range(D)], -1) for t in range(T)])
    blocks = [(layer_in[s, i * N : (i + 1) * N] * g[s]).sum() for i, s in enumerate(rows)]
    torch.stack(blocks).sum().backward()
    grad = torch.stack([torch.stack([torch.stack([h.grad if h.grad is not None else torch.zeros_like(h) for h in per_t])
                                     for per_t in per_direction]) for per_direction in hs])  # (L, D, T, S·N, H)
    return torch.linalg.vector_norm(grad.unflatten(3, (S, N)), dim=(4, 5)).transpose(2, 3)  # (L, D, S, T)


def reference_lag_curve(rows: torch.Tensor, output_steps) -> torch.Tensor:
    """(L, D, T): for each lag k the median over the rows that reach it of ‖δ_{s∓k}‖ / ‖δ_s‖ (forward s − k,
    reverse s + k), NaN where none does; written out from the definition, row by row."""
    L, D, S, T = rows.shape
    curve = torch.full((L, D, T), math.nan, dtype=torch.float64)
    for layer in range(L):
        for d in range(D):
            for k in range(T):
                shares = []
                for i, s in enumerate(output_steps):
                    t = s - k if d == 0 else s + k
                    if 0 <= t < T and rows[layer, d, i, s] > 0:
                        shares.append(float(rows[layer, d, i, t] / rows[layer, d, i, s]))
                if shares:
                    curve[layer, d, k] = statistics.median(shares)
    return curve
