"""‖∂L/∂h_t‖ read alone (engine/tracing/grad_h.py) against the whole trace's norms of the same backward pass."""

import numpy as np
import pytest
import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence

from engine.tracing.fused import finish_trace, start_trace
from engine.tracing.grad_h import grad_h_norms

CASES = [
    dict(cell=nn.GRU, layers=2, both=True, steps=7, tbptt=0, packed=False, given=True),
    dict(cell=nn.GRU, layers=1, both=False, steps=9, tbptt=3, packed=False, given=False),
    dict(cell=nn.LSTM, layers=2, both=True, steps=6, tbptt=0, packed=True, given=False),
    dict(cell=nn.LSTM, layers=1, both=False, steps=8, tbptt=0, packed=False, given=True, proj=2),
    dict(cell=nn.RNN, layers=2, both=False, steps=5, tbptt=2, packed=False, given=False),
    dict(cell=nn.GRU, layers=2, both=True, steps=1, tbptt=0, packed=False, given=True),  # one step: no zero input
    dict(cell=nn.LSTM, layers=1, both=False, steps=1, tbptt=0, packed=False, given=False),
]


def _name(c: dict) -> str:
    flags = [f for f, on in (("packed", c["packed"]), ("h0", c["given"]), ("proj", "proj" in c)) if on]
    return "-".join([c["cell"].__name__, f"T{c['steps']}", f"k{c['tbptt']}", *flags])


@pytest.mark.parametrize("case", CASES, ids=_name)
def test_the_norms_read_alone_are_the_whole_traces(case):
    torch.manual_seed(0)
    N, I, H, L, D = 3, 4, 5, case["layers"], 2 if case["both"] else 1
    extra = {"proj_size": case["proj"]} if "proj" in case else {}
    module = case["cell"](I, H, num_layers=L, bidirectional=case["both"], dtype=torch.float64, **extra)
    x = torch.randn(case["steps"], N, I, dtype=torch.float64)
    inputs = pack_padded_sequence(x, [case["steps"], max(1, case["steps"] - 2), 1], enforce_sorted=False) \
        if case["packed"] else x
    hx = None
    if case["given"]:
        h0 = torch.randn(L * D, N, case.get("proj", H), dtype=torch.float64, requires_grad=True)
        hx = (h0, torch.randn(L * D, N, H, dtype=torch.float64)) if case["cell"] is nn.LSTM else h0
    run, output, h_n = start_trace(module, inputs, hx, tbptt=case["tbptt"])
    out = output.data if case["packed"] else output
    first = h_n[0] if isinstance(h_n, tuple) else h_n
    ((out * torch.randn_like(out)).sum() + (first * torch.randn_like(first)).sum()).backward()
    whole = finish_trace(run, 0.0).grad_h_norm
    alone = grad_h_norms(run)
    np.testing.assert_allclose(alone, whole, rtol=1e-12, atol=1e-15)
    assert alone.max() > 0
