"""Truncated BPTT: trace_module(tbptt=k) against a naive step-by-step autograd loop that detaches every k steps.

The reference runs on the module's own parameters (one PyTorch cell function per step), so the parameter
gradients are checked as well as every ∂L/∂h_t, ∂L/∂c_t and ∂L/∂h_0, in float64.
"""

import itertools

import numpy as np
import pytest
import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from engine import trace_module
from tests.engine.reference import reference_trace

CELLS = {
    "rnn_tanh": lambda **kw: nn.RNN(nonlinearity="tanh", **kw),
    "rnn_relu": lambda **kw: nn.RNN(nonlinearity="relu", **kw),
    "lstm": lambda **kw: nn.LSTM(**kw),
    "gru": lambda **kw: nn.GRU(**kw),
}
T, N = 9, 3


def _module(cell, layers, bidirectional, batch_first, proj_size=0):
    torch.manual_seed(0)
    kw = dict(input_size=3, hidden_size=5, num_layers=layers, bidirectional=bidirectional, batch_first=batch_first,
              dtype=torch.float64)
    return nn.LSTM(proj_size=proj_size, **kw) if proj_size else CELLS[cell](**kw)


def _loss(module):
    width = (module.proj_size or module.hidden_size) if isinstance(module, nn.LSTM) else module.hidden_size
    w = torch.randn(width * (2 if module.bidirectional else 1), generator=torch.Generator().manual_seed(3),
                    dtype=torch.float64)

    def loss(out):  # every step counts, each differently, and the last one most
        if isinstance(out, torch.nn.utils.rnn.PackedSequence):
            out = pad_packed_sequence(out, batch_first=module.batch_first)[0]
        last = out[:, -1] if module.batch_first else out[-1]
        return (torch.sin(out * w) ** 2).sum() + 3 * last.sum()

    return loss


def _fresh(hx):
    if hx is None:
        return None
    return tuple(_fresh(s) for s in hx) if isinstance(hx, tuple) else hx.detach().clone().requires_grad_()


def _compare(module, inputs, loss, tbptt, hx=None):
    module.zero_grad(set_to_none=True)
    ref = reference_trace(module, inputs, loss, hx=_fresh(hx), tbptt=tbptt, live=True)
    want = {n: p.grad.clone() for n, p in module.named_parameters()}
    module.zero_grad(set_to_none=True)
    trace = trace_module(module, inputs, loss, hx=_fresh(hx), tbptt=tbptt)
    for name, p in module.named_parameters():
        torch.testing.assert_close(p.grad, want[name], rtol=1e-10, atol=1e-12, msg=name)
    tol = dict(rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(trace.hidden, ref["hidden"].numpy(), rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(trace.grad_h, ref["grad_h"].numpy(), **tol)
    np.testing.assert_allclose(trace.grad_h0, ref["grad_h0"].numpy(), **tol)
    np.testing.assert_allclose(trace.grad_h_norm, ref["grad_h"].nan_to_num(0.0).flatten(3).norm(dim=-1).numpy(), **tol)
    if isinstance(module, nn.LSTM):
        np.testing.assert_allclose(trace.grad_c, ref["grad_c"].numpy(), **tol)
        np.testing.assert_allclose(trace.grad_c0, ref["grad_c0"].numpy(), **tol)
    return trace, ref


@pytest.mark.parametrize("tbptt", [1, 3, 4])
@pytest.mark.parametrize(
    "cell,layers,bidirectional,batch_first", list(itertools.product(CELLS, (1, 2), (False, True), (False, True)))
)
def test_padded_matches_a_loop_that_detaches_every_k_steps(cell, layers, bidirectional, batch_first, tbptt):
    module = _module(cell, layers, bidirectional, batch_first)
    x = torch.randn((N, T, 3) if batch_first else (T, N, 3), generator=torch.Generator().manual_seed(1),
                    dtype=torch.float64)
    _compare(module, x, _loss(module), tbptt)


@pytest.mark.parametrize("cell", list(CELLS))
def test_packed_batch_with_a_given_state(cell):
    """Each sequence's reverse windows start at its own last position; the given h_0 still receives gradient."""
    module = _module(cell, 2, True, False)
    lengths = [5, 9, 2, 7]
    x = torch.randn(T, len(lengths), 3, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    packed = pack_padded_sequence(x, torch.tensor(lengths), enforce_sorted=False)
    g = torch.Generator().manual_seed(2)
    hx = torch.randn(4, len(lengths), 5, generator=g, dtype=torch.float64)
    hx = (hx, torch.randn(4, len(lengths), 5, generator=g, dtype=torch.float64)) if cell == "lstm" else hx
    _compare(module, packed, _loss(module), 3, hx=hx)


def test_lstm_with_projection():
    module = _module("lstm", 2, True, False, proj_size=3)
    x = torch.randn(T, N, 3, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    _compare(module, x, _loss(module), 4)


def test_the_cut_is_where_the_windows_say():
    """k = 4, T = 9: forward windows t = 0..3, 4..7, 8; reverse windows (from its own first step) t = 8..5,
    4..1, 0.  A loss on one step reaches back only to its window's start, in each direction's own order."""
    module = _module("lstm", 1, True, False)
    x = torch.randn(T, N, 3, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    trace = trace_module(module, x, lambda out: out[-1].sum(), tbptt=4)
    forward, reverse = trace.grad_h_norm[0]
    assert forward[8] > 0 and np.all(forward[:8] == 0)
    # t = 8 is the reverse direction's first step: nothing comes before it to receive gradient
    assert reverse[8] > 0 and np.all(reverse[:8] == 0)
    full = trace_module(module, x, lambda out: out[0].sum(), tbptt=0).grad_h_norm[0, 1]
    cut = trace_module(module, x, lambda out: out[0].sum(), tbptt=4).grad_h_norm[0, 1]
    # t = 0 is alone in the reverse direction's last window
    assert np.all(full > 0) and cut[0] > 0 and np.all(cut[1:] == 0)
    mid = trace_module(module, x, lambda out: out[2].sum(), tbptt=4).grad_h_norm[0, 1]
    # t = 2 flows back to t = 3, 4, its window's start, and no farther
    assert np.all(mid[2:5] > 0) and np.all(mid[5:] == 0) and np.all(mid[:2] == 0)


def test_tbptt_zero_or_longer_than_the_sequence_is_full_bptt():
    module = _module("gru", 2, True, False)
    x = torch.randn(T, N, 3, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    loss = _loss(module)
    full = trace_module(module, x, loss).grad_h
    np.testing.assert_array_equal(trace_module(module, x, loss, tbptt=T).grad_h, full)
    assert not np.allclose(trace_module(module, x, loss, tbptt=T - 1).grad_h, full)


@pytest.mark.parametrize("bad", [-1, 2.5, True, "4"])
def test_rejects_a_bad_window(bad):
    with pytest.raises(ValueError, match=r"module: tbptt must be an integer ≥ 0"):
        trace_module(nn.RNN(2, 3), torch.zeros(4, 1, 2), lambda o: o.sum(), tbptt=bad)
