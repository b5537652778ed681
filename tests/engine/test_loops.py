"""trace_submodules on torch cells stepped in a loop, as students write them (custom recurrences: test_loops_custom.py).

Every model runs as its tutorial writes it; the reference is the same loop on a copy of the model, its states
kept with retain_grad (tests/engine/loop_reference.py), in float64.
"""

import numpy as np
import pytest
import torch
from torch import nn
from torch.nn import functional as F

from engine import trace_submodules
from tests.engine.loop_reference import (
    check_plain_grads,
    check_steps,
    direct_by_cut,
    direct_by_vjp,
    lag_rows,
    twin,
)

T, N, I, H, V = 7, 3, 4, 5, 6
f64 = torch.float64


def _sigmoid_gates(x, h, cell, blocks):
    """A torch cell's pre-activations per gate block, from its documented equations: (input part, hidden part)."""
    gi = x @ cell.weight_ih.T + cell.bias_ih
    gh = h @ cell.weight_hh.T + cell.bias_hh
    return gi.chunk(blocks, -1), gh.chunk(blocks, -1)


# -- an RNNCell loop in the training function ------------------------------------------------------------------


def _cell_loop(cell, head, x, y, h0, trail=None):
    """A tanh RNNCell stepped by hand, a loss at every other step."""
    h, loss = h0, 0
    for t in range(T):
        h = cell(x[t], h)
        if trail is not None:
            h.retain_grad()
            trail.append((h,))
        if t % 2 == 0:
            loss = loss + F.mse_loss(head(h), y[t])
    return loss


@pytest.fixture(scope="module")
def cell_loop():
    torch.manual_seed(0)
    model = nn.ModuleDict({"cell": nn.RNNCell(I, H), "head": nn.Linear(H, 1)}).to(f64)
    x, y = torch.randn(T, N, I, dtype=f64), torch.randn(T, N, 1, dtype=f64)
    plain = twin(model)
    trail: list = []
    xr, h0 = x.clone().requires_grad_(), torch.zeros(N, H, dtype=f64, requires_grad=True)
    _cell_loop(plain["cell"], plain["head"], xr, y, h0, trail).backward(retain_graph=True)
    traces = trace_submodules(model, lambda: _cell_loop(model["cell"], model["head"], x, y, torch.zeros(N, H,
                                                                                                     dtype=f64)),
                              lag_rows=T)
    return model, plain, traces, trail, xr, h0, x


def test_an_rnn_cell_loop_is_one_trace_along_time(cell_loop):
    model, plain, traces, trail, xr, h0, x = cell_loop
    assert set(traces) == {"cell"}
    trace = traces["cell"]
    assert (trace.kind, trace.cell, trace.gates) == ("cell", "rnn", {})
    assert trace.grad_h_norm.shape == trace.grad_out_norm.shape == (1, 1, T)
    assert trace.hidden.shape == (1, 1, T, N, H) and trace.hidden.dtype == np.float64
    direct = direct_by_vjp(trail, lambda t, s: (plain["cell"](xr[t].detach(), s[0]),))
    check_steps(trace, trail, direct, h0=h0)
    check_plain_grads(model, plain)


def test_a_cell_loops_lag_rows_are_its_direct_parts_carried_back(cell_loop):
    model, plain, traces, trail, xr, h0, x = cell_loop
    trace = traces["cell"]
    direct = direct_by_vjp(trail, lambda t, s: (plain["cell"](xr[t].detach(), s[0]),))
    np.testing.assert_array_equal(trace.output_steps, [0, 2, 4, 6])  # the steps the loss reads
    want = lag_rows(trail, direct, trace.output_steps)
    np.testing.assert_allclose(trace.grad_h_by_output[0, 0], want, rtol=1e-9, atol=1e-13)
    for i, s in enumerate(trace.output_steps):  # ∂/∂x_t of row s through the user's graph
        got = torch.autograd.grad(trail[s][0], xr, direct[s], retain_graph=True)[0]
        np.testing.assert_allclose(trace.grad_x_by_output[i], torch.linalg.vector_norm(got, dim=(1, 2)).numpy(),
                                   rtol=1e-9, atol=1e-13)


def test_a_float32_cell_loop_stays_float32_to_its_rounding(cell_loop):
    model, _, traces, _, _, _, x = cell_loop
    model32 = twin(model).float()
    y = torch.zeros(T, N, 1)
    t32 = trace_submodules(model32, lambda: _cell_loop(model32["cell"], model32["head"], x.float(), y,
                                                       torch.zeros(N, H)), lag_rows=64)["cell"]
    t64 = trace_submodules(model, lambda: _cell_loop(model["cell"], model["head"], x, y.double(),
                                                     torch.zeros(N, H, dtype=f64)), lag_rows=64)["cell"]
    assert t32.hidden.dtype == t32.grad_h.dtype == np.float32 and t64.grad_h.dtype == np.float64
    np.testing.assert_allclose(t32.grad_h_norm, t64.grad_h_norm, rtol=1e-4)
    np.testing.assert_allclose(t32.grad_h_by_output, t64.grad_h_by_output, rtol=1e-4, atol=1e-12)


# -- a char-level Embedding + GRUCell ----------------------------------------------------------------------------


class CharGRU(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(V, I)
        self.cell = nn.GRUCell(I, H)
        self.head = nn.Linear(H, V)

    def forward(self, chars, trail=None):  # chars (T, N)
        h = torch.zeros(chars.shape[1], H, dtype=self.head.weight.dtype)
        logits = []
        for t in range(chars.shape[0]):
            h = self.cell(self.embed(chars[t]), h)
            if trail is not None:
                h.retain_grad()
                trail.append((h,))
            logits.append(self.head(h))
        return torch.stack(logits)  # (T, N, V)


def test_a_char_level_gru_cell_loop_with_its_gates():
    torch.manual_seed(1)
    model = CharGRU().to(f64)
    chars = torch.randint(V, (T + 1, N))

    def loss(m, trail=None):
        return F.cross_entropy(m(chars[:-1], trail).flatten(0, 1), chars[1:].flatten())

    plain, trail = twin(model), []
    loss(plain, trail).backward()
    traces = trace_submodules(model, lambda: loss(model))
    assert set(traces) == {"cell"}  # the embedding and the head have no recurrence of their own
    trace = traces["cell"]
    assert (trace.kind, trace.cell, sorted(trace.gates)) == ("cell", "gru", ["new", "reset", "update"])
    check_steps(trace, trail, direct_by_vjp(trail, lambda t, s: (plain.cell(plain.embed(chars[t]), s[0]),)))
    check_plain_grads(model, plain)
    with torch.no_grad():
        x = plain.embed(chars[:-1])
        h_prev = torch.cat([torch.zeros(1, N, H, dtype=f64), torch.stack([s[0] for s in trail[:-1]])])
        (i_r, i_z, i_n), (h_r, h_z, h_n) = _sigmoid_gates(x, h_prev, plain.cell, 3)
        r, z = torch.sigmoid(i_r + h_r), torch.sigmoid(i_z + h_z)
        want = {"reset": r, "update": z, "new": torch.tanh(i_n + r * h_n)}
    for name, value in want.items():
        np.testing.assert_allclose(trace.gates[name][0, 0], value.numpy(), rtol=1e-12, atol=1e-13)


# -- the time-series tutorial's stacked LSTMCell sine predictor ----------------------------------------------------


class Sequence(nn.Module):
    """Two LSTMCells and a Linear; after the input runs out it feeds its own prediction back for ``future`` steps."""

    def __init__(self):
        super().__init__()
        self.lstm1 = nn.LSTMCell(1, 8)
        self.lstm2 = nn.LSTMCell(8, 8)
        self.linear = nn.Linear(8, 1)

    def forward(self, input, future=0, trail=None, cut=None):
        """``cut`` = (k, t), for the reference: the state entering cell k's step t+1 is detached."""
        zeros = lambda: torch.zeros(input.size(0), 8, dtype=input.dtype)  # noqa: E731
        h_t, c_t, h_t2, c_t2 = zeros(), zeros(), zeros(), zeros()
        outputs = []
        output = None
        for i in range(input.size(1) + future):
            input_t = input[:, i : i + 1] if i < input.size(1) else output  # the prediction fed back
            if cut == (0, i - 1):
                h_t, c_t = h_t.detach(), c_t.detach()
            h_t, c_t = self.lstm1(input_t, (h_t, c_t))
            if cut == (1, i - 1):
                h_t2, c_t2 = h_t2.detach(), c_t2.detach()
            h_t2, c_t2 = self.lstm2(h_t, (h_t2, c_t2))
            if trail is not None:
                for s in (h_t, c_t, h_t2, c_t2):
                    s.retain_grad()
                trail.append(((input_t, h_t), (h_t, c_t), (h_t2, c_t2)))
            output = self.linear(h_t2)
            outputs.append(output)
        return torch.cat(outputs, dim=1)


def test_a_stacked_lstm_cell_sine_predictor_feeding_its_prediction_back():
    torch.manual_seed(2)
    model = Sequence().to(f64)
    steps = torch.arange(8, dtype=f64)
    wave = torch.sin(steps[None] / 2 + torch.arange(N, dtype=f64)[:, None])  # (N, 8)

    def loss(m, trail=None, cut=None):
        return F.mse_loss(m(wave[:, :-1], 3, trail, cut), torch.cat([wave[:, 1:], wave[:, -3:]], 1))

    plain, trail = twin(model), []
    loss(plain, trail).backward()
    traces = trace_submodules(model, lambda: loss(model))

    def run(k, cut):
        again = []
        loss(twin(model), again, (k, cut)).backward()
        return [step[1 + k] for step in again]

    assert set(traces) == {"lstm1", "lstm2"}  # the model is called once: no recurrence of its own
    for key, cell, k in (("lstm1", plain.lstm1, 0), ("lstm2", plain.lstm2, 1)):
        trace = traces[key]
        assert (trace.kind, trace.cell, trace.hidden.shape) == ("cell", "lstm", (1, 1, 10, N, 8))
        states = [step[1 + k] for step in trail]
        feeds = [step[0][k].detach() for step in trail]
        check_steps(trace, states, direct_by_cut(lambda cut, k=k: run(k, cut), 10))
        with torch.no_grad():
            h_prev = torch.stack([torch.zeros(N, 8, dtype=f64)] + [s[0] for s in states[:-1]])
            gi, gh = _sigmoid_gates(torch.stack(feeds), h_prev, cell, 4)
            i, f, g, o = (a + b for a, b in zip(gi, gh))
            want = {"input": i.sigmoid(), "forget": f.sigmoid(), "cell": g.tanh(), "output": o.sigmoid()}
        for name, value in want.items():
            np.testing.assert_allclose(trace.gates[name][0, 0], value.numpy(), rtol=1e-12, atol=1e-13)
    # the prediction fed back reaches lstm2's state through lstm1, not through lstm2's own state input: direct
    assert traces["lstm2"].grad_out_norm[0, 0, -4:-1].min() > 0
    check_plain_grads(model, plain)
