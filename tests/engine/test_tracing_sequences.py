"""trace_module on packed batches, given initial states and LSTM proj_size, against the naive reference (float64)."""

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
    "lstm_proj": lambda **kw: nn.LSTM(proj_size=3, **kw),
}
LENGTHS = [5, 9, 2, 5, 7]  # unsorted, with a tie; T = 9


def _module(cell, layers, bidirectional, batch_first, seed=0):
    torch.manual_seed(seed)
    return CELLS[cell](input_size=3, hidden_size=5, num_layers=layers, bidirectional=bidirectional,
                       batch_first=batch_first, dtype=torch.float64)


def _packed(module, lengths=LENGTHS, seed=1):
    g = torch.Generator().manual_seed(seed)
    T, N = max(lengths), len(lengths)
    x = torch.randn((N, T, 3) if module.batch_first else (T, N, 3), generator=g, dtype=torch.float64)
    return pack_padded_sequence(x, torch.tensor(lengths), batch_first=module.batch_first, enforce_sorted=False)


def _state_width(module):
    return module.proj_size or module.hidden_size


def _hx(module, N, seed=2):
    g = torch.Generator().manual_seed(seed)
    k = module.num_layers * (2 if module.bidirectional else 1)
    h0 = torch.randn(k, N, _state_width(module), generator=g, dtype=torch.float64, requires_grad=True)
    if not isinstance(module, nn.LSTM):
        return h0
    return h0, torch.randn(k, N, module.hidden_size, generator=g, dtype=torch.float64, requires_grad=True)


def _packed_loss(module):
    """Unpacks as a user would and weighs every real step differently (padding is zero, so it adds nothing)."""
    width = _state_width(module) * (2 if module.bidirectional else 1)
    w = torch.randn(width, generator=torch.Generator().manual_seed(3), dtype=torch.float64)

    def loss(out):
        padded, lengths = pad_packed_sequence(out, batch_first=module.batch_first)
        steps = torch.arange(padded.shape[1 if module.batch_first else 0], dtype=torch.float64)
        scale = (1 + steps)[None, :, None] if module.batch_first else (1 + steps)[:, None, None]
        return (torch.sin(padded * w) ** 2 * scale).sum() + padded.sum()

    return loss


def _leaves(hx):
    return [] if hx is None else list(hx) if isinstance(hx, tuple) else [hx]


def _fresh(hx):
    if hx is None:
        return None
    return tuple(s.detach().clone().requires_grad_() for s in hx) if isinstance(hx, tuple) else (
        hx.detach().clone().requires_grad_())


def _check(trace, ref, module, rtol=1e-10, atol=1e-12):
    np.testing.assert_allclose(trace.hidden, ref["hidden"].numpy(), rtol=1e-12, atol=1e-13)  # NaN where ref's NaN
    np.testing.assert_allclose(trace.grad_h, ref["grad_h"].numpy(), rtol=rtol, atol=atol)
    np.testing.assert_allclose(trace.grad_h0, ref["grad_h0"].numpy(), rtol=rtol, atol=atol)
    ref_norm = ref["grad_h"].nan_to_num(0.0).flatten(3).norm(dim=-1).numpy()
    np.testing.assert_allclose(trace.grad_h_norm, ref_norm, rtol=rtol, atol=atol)
    if isinstance(module, nn.LSTM):
        np.testing.assert_allclose(trace.cell_state, ref["cell_state"].numpy(), rtol=1e-12, atol=1e-13)
        np.testing.assert_allclose(trace.grad_c, ref["grad_c"].numpy(), rtol=rtol, atol=atol)
        np.testing.assert_allclose(trace.grad_c0, ref["grad_c0"].numpy(), rtol=rtol, atol=atol)
        ref_c = ref["grad_c"].nan_to_num(0.0).flatten(3).norm(dim=-1).numpy()
        np.testing.assert_allclose(trace.grad_c_norm, ref_c, rtol=rtol, atol=atol)


def _plain(module, inputs, loss, hx):
    """PyTorch's own module: its output, and the .grad of its parameters and of hx after backward."""
    module.zero_grad(set_to_none=True)
    out, _ = module(inputs, hx)
    loss(out).backward()
    grads = {n: p.grad.clone() for n, p in module.named_parameters()}
    module.zero_grad(set_to_none=True)
    return out, grads, [s.grad.clone() for s in _leaves(hx)]


@pytest.mark.parametrize(
    "cell,layers,bidirectional,batch_first,given_state",
    list(itertools.product(CELLS, (1, 2), (False, True), (False, True), (False, True))),
)
def test_packed_batch_matches_reference_and_module(cell, layers, bidirectional, batch_first, given_state):
    module = _module(cell, layers, bidirectional, batch_first)
    packed, loss = _packed(module), _packed_loss(module)
    hx = _hx(module, len(LENGTHS)) if given_state else None
    out_plain, plain_grads, plain_hx_grads = _plain(module, packed, loss, hx)

    trace_hx = _fresh(hx)
    trace = trace_module(module, packed, loss, hx=trace_hx)
    ref = reference_trace(module, packed, loss, hx=_fresh(hx))

    torch.testing.assert_close(trace.output.data, out_plain.data.detach(), rtol=1e-12, atol=1e-13)
    assert torch.equal(trace.output.batch_sizes, packed.batch_sizes)
    assert trace.loss == pytest.approx(ref["loss"], rel=1e-12)
    for name, p in module.named_parameters():
        torch.testing.assert_close(p.grad, plain_grads[name], rtol=1e-10, atol=1e-12, msg=name)
    for leaf, want in zip(_leaves(trace_hx), plain_hx_grads):  # the gradient flows on through a given state
        torch.testing.assert_close(leaf.grad, want, rtol=1e-10, atol=1e-12)
    np.testing.assert_array_equal(trace.lengths, LENGTHS)
    _check(trace, ref, module)


@pytest.mark.parametrize("cell", list(CELLS))
@pytest.mark.parametrize("batched", [True, False])
def test_given_state_on_a_padded_tensor(cell, batched):
    module = _module(cell, 2, True, False)
    g = torch.Generator().manual_seed(4)
    x = torch.randn((8, 3, 3) if batched else (8, 3), generator=g, dtype=torch.float64)
    hx = _hx(module, 3)
    if not batched:
        hx = tuple(s.detach()[:, 0].requires_grad_() for s in hx) if isinstance(hx, tuple) else (
            hx.detach()[:, 0].requires_grad_())

    def loss(out):
        return (torch.cos(out) * torch.arange(out.numel(), dtype=out.dtype).view(out.shape)).sum()

    out_plain, plain_grads, plain_hx_grads = _plain(module, x, loss, hx)
    trace_hx = _fresh(hx)
    trace = trace_module(module, x, loss, hx=trace_hx)
    ref = reference_trace(module, x, loss, hx=_fresh(hx))
    torch.testing.assert_close(trace.output, out_plain.detach(), rtol=1e-12, atol=1e-13)
    for name, p in module.named_parameters():
        torch.testing.assert_close(p.grad, plain_grads[name], rtol=1e-10, atol=1e-12, msg=name)
    reported = [trace.grad_h0, trace.grad_c0]
    for leaf, want, grad0 in zip(_leaves(trace_hx), plain_hx_grads, reported):
        torch.testing.assert_close(leaf.grad, want, rtol=1e-10, atol=1e-12)  # flows on through the given state
        # ... and the trace's ∂L/∂h_0 (∂L/∂c_0), (L, D, [N,] ·), is that gradient, laid out as (L*D, [N,] ·)
        np.testing.assert_allclose(grad0.reshape(leaf.shape), leaf.grad.numpy(), rtol=1e-10, atol=1e-12)
    if batched:
        _check(trace, ref, module)
    else:  # the reference keeps a batch axis of 1
        np.testing.assert_allclose(trace.grad_h, ref["grad_h"][:, :, :, 0].numpy(), rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(trace.grad_h0, ref["grad_h0"][:, :, 0].numpy(), rtol=1e-10, atol=1e-12)


def test_packed_gates_equal_each_sequence_traced_alone():
    """Gates need no reference of their own here: a packed batch's real steps must equal each sequence run alone."""
    for cell in ("lstm", "gru", "lstm_proj"):
        module = _module(cell, 2, True, False)
        packed = _packed(module)
        trace = trace_module(module, packed, _packed_loss(module))
        padded, _ = pad_packed_sequence(packed)
        for n, length in enumerate(LENGTHS):
            alone = trace_module(module, padded[:length, n], lambda out: out.sum())
            for name, act in trace.gates.items():
                np.testing.assert_allclose(act[:, :, :length, n], alone.gates[name], rtol=1e-12, atol=1e-13)
                assert np.all(np.isnan(act[:, :, length:, n])), name


def test_proj_size_float32_close_to_float64():
    module = _module("lstm_proj", 2, True, False)
    packed, loss = _packed(module), _packed_loss(module)
    t64 = trace_module(module, packed, loss)
    module32 = nn.LSTM(3, 5, num_layers=2, bidirectional=True, proj_size=3)
    module32.load_state_dict({k: v.float() for k, v in module.state_dict().items()})
    t32 = trace_module(module32, pack_padded_sequence(pad_packed_sequence(packed)[0].float(), torch.tensor(LENGTHS),
                                                      enforce_sorted=False), loss)
    assert t32.hidden.dtype == np.float32 and t32.hidden.shape == (2, 2, 9, 5, 3)
    assert t32.cell_state.shape == (2, 2, 9, 5, 5)
    np.testing.assert_allclose(t32.grad_h_norm, t64.grad_h_norm, rtol=1e-4)


def test_rejects_what_it_cannot_trace_with_the_field_named():
    lstm = nn.LSTM(2, 4, num_layers=2, dropout=0.5)
    with pytest.raises(ValueError, match=r"module: dropout=0.5 between its layers while training"):
        trace_module(lstm, torch.zeros(3, 1, 2), lambda o: o.sum())
    lstm.eval()
    with pytest.raises(ValueError, match=r"hx for an LSTM must be a tuple"):
        trace_module(lstm, torch.zeros(3, 1, 2), lambda o: o.sum(), hx=torch.zeros(2, 1, 4))
    with pytest.raises(ValueError, match=r"hx's c_0 must be shaped .* \(2, 1, 4\); got \(2, 1, 3\)"):
        trace_module(lstm, torch.zeros(3, 1, 2), lambda o: o.sum(), hx=(torch.zeros(2, 1, 4), torch.zeros(2, 1, 3)))
    with pytest.raises(ValueError, match=r"hx's h_0 must be shaped .* \(1, 2, 4\)"):
        trace_module(nn.GRU(2, 4), torch.zeros(3, 2, 2), lambda o: o.sum(), hx=torch.zeros(1, 1, 4))
    with pytest.raises(ValueError, match=r"inputs have 5 features per step; the module's input_size is 2"):
        trace_module(nn.RNN(2, 4), torch.zeros(3, 1, 5), lambda o: o.sum())
