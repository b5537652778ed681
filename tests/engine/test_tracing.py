"""trace_module against PyTorch's own modules and a naive step-by-step autograd reference (float64)."""

import itertools

import numpy as np
import pytest
import torch
from torch import nn

from engine import trace_module
from tests.engine.reference import reference_gates, reference_trace

CELLS = {
    "rnn_tanh": lambda **kw: nn.RNN(nonlinearity="tanh", **kw),
    "rnn_relu": lambda **kw: nn.RNN(nonlinearity="relu", **kw),
    "lstm": lambda **kw: nn.LSTM(**kw),
    "gru": lambda **kw: nn.GRU(**kw),
}
CASES = list(itertools.product(CELLS, (1, 2), (False, True), (False, True)))


def _make(cell, layers, bidirectional, batch_first, bias=True, seed=0):
    torch.manual_seed(seed)
    module = CELLS[cell](
        input_size=3,
        hidden_size=5,
        num_layers=layers,
        bidirectional=bidirectional,
        batch_first=batch_first,
        bias=bias,
        dtype=torch.float64,
    )
    x = torch.randn((4, 9, 3) if batch_first else (9, 4, 3), dtype=torch.float64)
    w = torch.randn(5 * (2 if bidirectional else 1), dtype=torch.float64)

    def loss(out):  # uses every step non-uniformly, plus a heavier last step
        last = out[:, -1] if batch_first else out[-1]
        return (torch.sin(out * w) ** 2).sum() + 3 * last.sum()

    return module, x, loss


def _tn(x, module):
    return x.transpose(0, 1) if module.batch_first else x


@pytest.mark.parametrize("cell,layers,bidirectional,batch_first", CASES)
def test_matches_reference_and_module(cell, layers, bidirectional, batch_first):
    module, x, loss = _make(cell, layers, bidirectional, batch_first)
    out_plain, _ = module(x)
    loss(out_plain).backward()
    plain_grads = {n: p.grad.clone() for n, p in module.named_parameters()}
    module.zero_grad(set_to_none=True)

    trace = trace_module(module, x, loss)
    ref = reference_trace(module, x, loss)

    torch.testing.assert_close(trace.output, out_plain.detach(), rtol=1e-12, atol=1e-13)
    assert trace.loss == pytest.approx(ref["loss"], rel=1e-12)
    for name, p in module.named_parameters():
        torch.testing.assert_close(p.grad, plain_grads[name], rtol=1e-10, atol=1e-12, msg=name)
    np.testing.assert_allclose(trace.hidden, ref["hidden"].numpy(), rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(trace.grad_h, ref["grad_h"].numpy(), rtol=1e-10, atol=1e-12)
    ref_norm = ref["grad_h"].flatten(3).norm(dim=-1).numpy()
    np.testing.assert_allclose(trace.grad_h_norm, ref_norm, rtol=1e-10, atol=1e-12)
    if cell == "lstm":
        np.testing.assert_allclose(trace.cell_state, ref["cell_state"].numpy(), rtol=1e-12, atol=1e-13)
        np.testing.assert_allclose(trace.grad_c, ref["grad_c"].numpy(), rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(trace.grad_c_norm, ref["grad_c"].flatten(3).norm(dim=-1).numpy(), rtol=1e-10)
    else:
        assert trace.grad_c_norm is None and trace.cell_state is None
    if cell in ("lstm", "gru"):
        gates = reference_gates(module, ref, _tn(x, module).double())
        # the reference's gate equations rebuild PyTorch's own cell outputs ...
        torch.testing.assert_close(gates["h_rebuilt"], ref["hidden"], rtol=1e-12, atol=1e-13)
        # ... and the fast tracer's gates equal them
        assert set(trace.gates) == (
            {"input", "forget", "cell", "output"} if cell == "lstm" else {"reset", "update", "new"}
        )
        for name, act in trace.gates.items():
            np.testing.assert_allclose(act, gates[name].numpy(), rtol=1e-12, atol=1e-13, err_msg=name)
    else:
        assert trace.gates == {}


@pytest.mark.parametrize("cell", list(CELLS))
@pytest.mark.parametrize("batch_first", [False, True])
def test_unbatched_input(cell, batch_first):
    module, x, loss = _make(cell, 2, True, batch_first)
    x1 = x[0] if batch_first else x[:, 0]  # (T, I)
    trace = trace_module(module, x1, lambda out: (out**2).sum() + out[-1].sum())
    ref = reference_trace(module, x1, lambda out: (out**2).sum() + out[-1].sum())
    assert trace.hidden.shape == (2, 2, 9, 5)
    assert trace.grad_h_norm.shape == (2, 2, 9)
    np.testing.assert_allclose(trace.hidden, ref["hidden"][:, :, :, 0].numpy(), rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(trace.grad_h, ref["grad_h"][:, :, :, 0].numpy(), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("cell", list(CELLS))
def test_without_bias(cell):
    module, x, loss = _make(cell, 2, True, False, bias=False)
    trace = trace_module(module, x, loss)
    ref = reference_trace(module, x, loss)
    np.testing.assert_allclose(trace.grad_h, ref["grad_h"].numpy(), rtol=1e-10, atol=1e-12)


def test_float32_close_to_float64():
    module, x, loss = _make("lstm", 2, False, False)
    t64 = trace_module(module, x, loss)
    module32 = nn.LSTM(3, 5, num_layers=2)
    module32.load_state_dict({k: v.float() for k, v in module.state_dict().items()})
    t32 = trace_module(module32, x.float(), loss)
    assert t32.hidden.dtype == np.float32
    np.testing.assert_allclose(t32.grad_h_norm, t64.grad_h_norm, rtol=1e-4)


def test_loss_only_at_first_step_leaves_later_gradients_zero():
    module, x, _ = _make("gru", 1, False, False)
    trace = trace_module(module, x, lambda out: out[0].sum())
    assert trace.grad_h_norm[0, 0, 0] > 0
    assert np.all(trace.grad_h_norm[0, 0, 1:] == 0)


def test_nonfinite_values_are_kept():
    module = nn.RNN(2, 4, nonlinearity="relu")
    with torch.no_grad():
        module.weight_hh_l0.copy_(torch.eye(4) * 1e4)
        module.weight_ih_l0.fill_(1.0)
    trace = trace_module(module, torch.ones(40, 1, 2), lambda out: out.sum())
    assert not np.all(np.isfinite(trace.grad_h_norm)) or not np.all(np.isfinite(trace.hidden))


def test_rejects_what_it_cannot_trace():
    with pytest.raises(TypeError, match="nn.RNN, LSTM or GRU"):
        trace_module(nn.Linear(2, 2), torch.zeros(3, 2), lambda o: o.sum())
    with pytest.raises(ValueError, match="inputs must be"):
        trace_module(nn.GRU(2, 4), torch.zeros(3, 1, 1, 2), lambda o: o.sum())
