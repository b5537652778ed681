"""trace_submodules on the custom recurrences students write: the classic char-RNN built from nn.Linear, a marked
from-scratch LSTM, a cell written from a Linear layer, a forecaster feeding its prediction back; and what cannot be
traced says so.  Torch cells in a loop: tests/engine/test_loops.py.

Every model runs as its tutorial writes it; the reference is the same loop on a copy of the model, its states
kept with retain_grad (tests/engine/loop_reference.py), in float64.
"""

import numpy as np
import pytest
import torch
from torch import nn
from torch.nn import functional as F

from engine import mark_state, trace_submodules
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


# -- the classic "RNN from scratch" char-RNN, called once per character ------------------------------------------


class CharRNN(nn.Module):
    def __init__(self, input_size, hidden_size, output_size):
        super().__init__()
        self.hidden_size = hidden_size
        self.i2h = nn.Linear(input_size + hidden_size, hidden_size)
        self.i2o = nn.Linear(input_size + hidden_size, output_size)
        self.softmax = nn.LogSoftmax(dim=1)

    def forward(self, input, hidden):
        combined = torch.cat((input, hidden), 1)
        hidden = self.i2h(combined)
        output = self.i2o(combined)
        output = self.softmax(output)
        return output, hidden

    def initHidden(self):  # noqa: N802 (the tutorial's name)
        return torch.zeros(1, self.hidden_size, dtype=self.i2h.weight.dtype)


def test_the_classic_char_rnn_called_per_character_with_nll_loss():
    torch.manual_seed(3)
    rnn = CharRNN(V, H, 3).to(f64)
    line = F.one_hot(torch.randint(V, (T,)), V).to(f64)[:, None]  # (T, 1, V), one character per step
    category = torch.tensor([1])
    criterion = nn.NLLLoss()

    def train_step(m, trail=None):  # the tutorial's train(): the last output scores the line
        hidden = m.initHidden()
        for i in range(line.size(0)):
            output, hidden = m(line[i], hidden)
            if trail is not None:
                hidden.retain_grad()
                trail.append((hidden,))
        return criterion(output, category)

    plain, trail = twin(rnn), []
    train_step(plain, trail).backward()
    traces = trace_submodules(rnn, lambda: train_step(rnn))
    assert set(traces) == {""}  # the root model; its Linear layers are no recurrence of their own
    trace = traces[""]
    assert (trace.kind, trace.cell, trace.gates, trace.cell_state) == ("custom", "custom", {}, None)
    check_steps(trace, trail, direct_by_vjp(trail, lambda t, s: (plain(line[t], s[0])[1],)))
    # only h_{T-2} reaches the loss other than through the next hidden state (the last output reads it)
    assert np.flatnonzero(trace.grad_out_norm[0, 0]).tolist() == [T - 2]
    assert np.isnan(trace.grad_h0).all()  # it started from a constant: nothing left through it to read
    check_plain_grads(rnn, plain)


def test_a_char_rnns_lag_rows_follow_its_hidden_state_alone():
    """Scored at every character, each output reads the hidden state before it: rows start one step early and
    travel back through the hidden state only."""
    torch.manual_seed(6)
    rnn = CharRNN(V, H, 3).to(f64)
    line = F.one_hot(torch.randint(V, (T,)), V).to(f64)[:, None]
    targets = torch.randint(3, (T,))

    def every_char(m, trail=None):
        hidden, loss = m.initHidden(), 0
        for i in range(T):
            output, hidden = m(line[i], hidden)
            if trail is not None:
                hidden.retain_grad()
                trail.append((hidden,))
            loss = loss + F.nll_loss(output, targets[i : i + 1])
        return loss

    plain, trail = twin(rnn), []
    every_char(plain, trail).backward(retain_graph=True)
    trace = trace_submodules(rnn, lambda: every_char(rnn), lag_rows=T)[""]
    direct = direct_by_vjp(trail, lambda t, s: (plain(line[t], s[0])[1],))
    check_steps(trace, trail, direct)
    np.testing.assert_array_equal(trace.output_steps, np.arange(T - 1))  # the last hidden state is read by nothing
    np.testing.assert_allclose(trace.grad_h_by_output[0, 0], lag_rows(trail, direct, trace.output_steps), rtol=1e-9,
                               atol=1e-13)
    assert trace.grad_x_by_output is None


# -- a from-scratch LSTM of nn.Parameter tensors, its state marked ---------------------------------------------


class ScratchLSTM(nn.Module):
    """The textbook LSTM: one Parameter per gate matrix, a Python loop over time, its state marked."""

    def __init__(self):
        super().__init__()
        p = lambda *shape: nn.Parameter(torch.randn(*shape, dtype=f64) * 0.4)  # noqa: E731
        self.W_x, self.W_h, self.b = p(I, 4 * H), p(H, 4 * H), p(4 * H)
        self.W_hq, self.b_q = p(H, 1), p(1)

    def step(self, x, H_, C):
        i, f, g, o = (x @ self.W_x + H_ @ self.W_h + self.b).chunk(4, -1)
        C = torch.sigmoid(f) * C + torch.sigmoid(i) * torch.tanh(g)
        return torch.sigmoid(o) * torch.tanh(C), C

    def forward(self, X, trail=None, cut=None):
        """``cut`` = t, for the reference: the state entering step t+1 is detached."""
        H_ = C = torch.zeros(X.shape[1], H, dtype=f64)
        outputs = []
        for t, x in enumerate(X):
            if cut == t - 1:
                H_, C = H_.detach(), C.detach()
            H_, C = self.step(x, H_, C)
            H_, C = mark_state((H_, C), "lstm")
            if trail is not None:
                H_.retain_grad(), C.retain_grad()
                trail.append((H_, C))
            outputs.append(H_ @ self.W_hq + self.b_q)
        return torch.stack(outputs)


def test_a_from_scratch_parameter_lstm_marked_with_mark_state():
    torch.manual_seed(4)
    model = ScratchLSTM()
    X, Y = torch.randn(T, N, I, dtype=f64), torch.randn(T, N, 1, dtype=f64)
    plain, trail = twin(model), []
    F.mse_loss(plain(X, trail), Y).backward(retain_graph=True)
    traces = trace_submodules(model, lambda: F.mse_loss(model(X), Y), lag_rows=3)
    assert set(traces) == {"lstm"}
    trace = traces["lstm"]
    assert (trace.kind, trace.cell, trace.gates) == ("marked", "custom", {})
    def run(cut):
        again = []
        F.mse_loss(twin(model)(X, again, cut), Y).backward()
        return again

    direct = direct_by_cut(run, T)
    check_steps(trace, trail, direct)
    np.testing.assert_array_equal(trace.output_steps, [0, 3, 6])  # three rows of seven, evenly spaced
    np.testing.assert_allclose(trace.grad_h_by_output[0, 0], lag_rows(trail, direct, trace.output_steps), rtol=1e-9,
                               atol=1e-13)
    check_plain_grads(model, plain)
    assert mark_state(X, "lstm") is X  # outside tracing an identity


def test_clear_messages_for_what_cannot_be_traced():
    torch.manual_seed(5)
    model = ScratchLSTM()
    X = torch.randn(T, N, I, dtype=f64)

    def calls_backward():
        loss = model(X).sum()
        loss.backward()
        return loss

    with pytest.raises(ValueError, match=r"compute_loss ran backward .* trace_submodules runs the backward pass once"):
        trace_submodules(model, calls_backward)

    def marks_a_constant():
        mark_state(torch.zeros(2, 3), "h0")
        return model(X).sum()

    with pytest.raises(ValueError, match=r"mark_state\('h0'\): the state does not require grad"):
        trace_submodules(model, marks_a_constant)
    cell = nn.GRUCell(I, H).to(f64)

    def no_grad_cell():
        with torch.no_grad():
            cell(X[0])
        return model(X).sum()

    holder = nn.ModuleDict({"scratch": model, "cell": cell})
    with pytest.raises(ValueError, match=r"^cell: ran with gradients disabled"):
        trace_submodules(holder, no_grad_cell)
    plain_loop = nn.Linear(H, H).to(f64)

    def unmarked():  # a loop over plain tensors with no module boundary and no mark: it cannot be seen
        h = torch.zeros(N, H, dtype=f64)
        for x in X:
            h = torch.tanh(plain_loop(h) + x.sum())
        return h.sum()

    with pytest.raises(ValueError, match=r"nothing recurrent ran .*mark_state"):
        trace_submodules(plain_loop, unmarked)


def test_autograd_replaces_a_retained_grad_it_adds_to():
    """engine.tracing.joined.snapshot keeps the .grad tensors the backward pass left, and later vector-Jacobian products
    pass through the same tensors: autograd must add to a retained .grad by replacing it, not in place."""
    a = torch.randn(3, requires_grad=True)
    b = a * 2
    b.retain_grad()
    c = b * 3
    c.sum().backward(retain_graph=True)
    kept = b.grad
    torch.autograd.grad(c, b, torch.ones(3), retain_graph=True)
    assert b.grad is not kept and torch.equal(kept, torch.full((3,), 3.0))


class LinearLSTMCell(nn.Module):
    """An LSTM cell written from one nn.Linear, returning its state pair (h, c): h is computed from c."""

    def __init__(self):
        super().__init__()
        self.gates = nn.Linear(I + H, 4 * H)

    def forward(self, x, state):
        h, c = state
        i, f, g, o = self.gates(torch.cat([x, h], -1)).chunk(4, -1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        return torch.sigmoid(o) * torch.tanh(c), c


def test_a_cell_written_from_a_linear_layer_returning_h_and_c():
    torch.manual_seed(7)
    model = nn.ModuleDict({"cell": LinearLSTMCell(), "head": nn.Linear(H, 1)}).to(f64)
    X, Y = torch.randn(T, N, I, dtype=f64), torch.randn(T, N, 1, dtype=f64)

    def loss(m, trail=None, cut=None):
        state, total = (torch.zeros(N, H, dtype=f64),) * 2, 0
        for t in range(T):
            if cut == t - 1:
                state = tuple(s.detach() for s in state)
            state = m["cell"](X[t], state)
            if trail is not None:
                for s in state:
                    s.retain_grad()
                trail.append(state)
            total = total + F.mse_loss(m["head"](state[0]), Y[t])
        return total

    plain, trail = twin(model), []
    loss(plain, trail).backward(retain_graph=True)
    trace = trace_submodules(model, lambda: loss(model), lag_rows=T)["cell"]
    assert (trace.kind, trace.cell, trace.cell_state.shape) == ("custom", "custom", (1, 1, T, N, H))

    def run(cut):
        again = []
        loss(twin(model), again, cut).backward()
        return again

    direct = direct_by_cut(run, T)
    check_steps(trace, trail, direct)  # grad_c too: the total derivative, also through h
    np.testing.assert_array_equal(trace.output_steps, np.arange(T))
    np.testing.assert_allclose(trace.grad_h_by_output[0, 0], lag_rows(trail, direct, trace.output_steps), rtol=1e-9,
                               atol=1e-13)
    check_plain_grads(model, plain)


class Forecaster(nn.Module):
    """Called once per step; its prediction goes back in as the next input, its hidden state as the state."""

    def __init__(self):
        super().__init__()
        self.cell = nn.Linear(1 + H, H)
        self.head = nn.Linear(H, 1)

    def forward(self, pred, h):
        h = torch.tanh(self.cell(torch.cat([pred, h], -1)))
        return self.head(h), h


def test_a_model_whose_prediction_is_its_next_input_has_the_hidden_state_as_its_state():
    torch.manual_seed(8)
    model = Forecaster().to(f64)
    Y = torch.randn(T, N, 1, dtype=f64)

    def loss(m, trail=None, cut=None):
        pred, h, total = torch.zeros(N, 1, dtype=f64), torch.zeros(N, H, dtype=f64), 0
        for t in range(T):
            pred, h = m(pred, h.detach() if cut == t - 1 else h)
            if trail is not None:
                h.retain_grad()
                trail.append((h,))
            total = total + F.mse_loss(pred, Y[t])
        return total

    plain, trail = twin(model), []
    loss(plain, trail).backward()
    traces = trace_submodules(model, lambda: loss(model))
    assert set(traces) == {""} and traces[""].cell_state is None  # the prediction is an input, not state

    def run(cut):
        again = []
        loss(twin(model), again, cut).backward()
        return again

    check_steps(traces[""], trail, direct_by_cut(run, T))
    check_plain_grads(model, plain)
