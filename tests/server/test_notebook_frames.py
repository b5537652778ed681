"""The notebook display's converter: any trace as the socket's frames, carrying exactly the trace's numbers.

Each case decodes the frames as docs/protocol.md defines them (tests/server/notebook_helpers.py) and compares
with the ModuleTrace's own arrays: per-unit views of one batch sample, norms over the whole batch.
"""

from __future__ import annotations

import json
import time

import numpy as np
import pytest
import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence

import server.notebook as notebook
from engine import Config, trace_config
from engine.tracing import trace_module, trace_submodules
from server.notebook import module_units, show, to_html
from server.notebook.frames import sections
from server.wire import trace_units
from tests.server.notebook_helpers import decode, displays

GATES = {"rnn": [], "lstm": ["input", "forget", "cell", "output"], "gru": ["reset", "update", "new"]}


def _module(cell: str, layers: int, bidirectional: bool, **kw) -> nn.RNNBase:
    torch.manual_seed(1)
    cls = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}[cell]
    return cls(3, 5, num_layers=layers, bidirectional=bidirectional, **kw).double()


def _loss(out):
    return out.pow(2).sum() if isinstance(out, torch.Tensor) else out.data.pow(2).sum()


def _check(run: dict, mt, sample: int = 0) -> None:
    """The decoded run holds ``mt``'s numbers: unit arrays of ``sample`` (as float32), norms exactly."""

    def unit(a):
        return (a[:, :, :, sample] if a.ndim == 5 else a).astype(np.float32)

    fwd = run["forward"]
    np.testing.assert_array_equal(fwd["hidden"], unit(mt.hidden))
    np.testing.assert_array_equal(run["grad_h"], unit(mt.grad_h))
    for name, act in mt.gates.items():
        np.testing.assert_array_equal(fwd[name], unit(act), err_msg=name)
    if mt.cell_state is not None:
        np.testing.assert_array_equal(fwd["cell_state"], unit(mt.cell_state))
        np.testing.assert_array_equal(run["series"]["grad_c_norm"], mt.grad_c_norm)
    else:
        assert "cell_state" not in fwd and run["series"]["grad_c_norm"] is None
    np.testing.assert_array_equal(run["series"]["grad_h_norm"], mt.grad_h_norm)
    np.testing.assert_array_equal(run["series"]["grad_out_norm"], mt.grad_out_norm)
    assert run["done"]["loss"] == mt.loss


@pytest.mark.parametrize("cell", ["rnn", "gru", "lstm"])
@pytest.mark.parametrize("layers,bidirectional", [(1, False), (2, False), (1, True), (2, True)])
def test_module_trace_frames_carry_its_arrays(cell, layers, bidirectional):
    module = _module(cell, layers, bidirectional)
    x = torch.randn(7, 4, 3, dtype=torch.float64)
    mt = trace_module(module, x, _loss)
    run = decode(module_units(mt))
    start = run["start"]
    D = 2 if bidirectional else 1
    assert start["shapes"] == {"T": 7, "L": layers, "D": D, "H": 5, "N": 4, "O": 0}
    assert start["gates"] == GATES[cell]
    assert start["has_cell_state"] == (cell == "lstm")
    assert start["config"]["cell"] == cell and start["config"]["bidirectional"] == bidirectional
    _check(run, mt)
    # The memory path the gates view draws: the product of the mean forget/update gate after t.
    if cell != "rnn":
        gate = mt.gates["forget" if cell == "lstm" else "update"].mean(axis=(3, 4))  # (L, D, T)
        for t in range(7):
            np.testing.assert_allclose(run["series"]["gate_product"][:, 0, t], gate[:, 0, t + 1 :].prod(axis=-1))
            if D == 2:
                np.testing.assert_allclose(run["series"]["gate_product"][:, 1, t], gate[:, 1, :t].prod(axis=-1))
    else:
        assert run["series"]["gate_product"] is None


def test_another_sample_and_an_unbatched_input():
    module = _module("gru", 1, True)
    mt = trace_module(module, torch.randn(6, 3, 3, dtype=torch.float64), _loss)
    _check(decode(module_units(mt, sample=2)), mt, sample=2)
    alone = trace_module(module, torch.randn(6, 3, dtype=torch.float64), _loss)
    run = decode(module_units(alone))
    assert run["start"]["shapes"]["N"] == 1
    _check(run, alone)


def test_a_module_traced_with_its_lag_map_sends_it_before_done_as_a_run_does():
    from engine.tracing import lag_curve

    mt = trace_module(_module("gru", 2, True), torch.randn(7, 2, 3, dtype=torch.float64), _loss, lag_rows=4)
    units = module_units(mt)
    texts = [json.loads(u.text) for u in units]
    assert [t["type"] for t in texts][-2:] == ["lag", "done"]
    lag, data = texts[-2], units[-2].data
    assert lag["output_steps"] == mt.output_steps.tolist() and lag["rows"] == 4
    floats = np.frombuffer(data, "<f4")
    np.testing.assert_array_equal(floats, np.concatenate([mt.grad_h_by_output.ravel(), mt.grad_x_by_output.ravel()])
                                  .astype("<f4"))  # fmt: skip
    want = lag_curve(mt.grad_h_by_output, mt.output_steps)
    got = np.array([[[np.nan if v == "nan" else v for v in d] for d in layer] for layer in lag["lag_curve"]],
                   dtype=float)  # fmt: skip
    np.testing.assert_allclose(got, want, rtol=1e-12)
    assert "lag" not in [json.loads(u.text)["type"] for u in module_units(trace_module(_module("gru", 1, False),
                         torch.randn(5, 1, 3, dtype=torch.float64), _loss))]  # fmt: skip


def test_packed_padding_is_nan_in_the_payload_and_never_in_the_json():
    module = _module("lstm", 2, True)
    lengths = torch.tensor([3, 6, 2])  # the caller's order; sample 0 is shorter than T
    x = torch.randn(6, 3, 3, dtype=torch.float64)
    mt = trace_module(module, pack_padded_sequence(x, lengths, enforce_sorted=False), _loss)
    units = module_units(mt)
    run = decode(units)  # parses every text strictly: a NaN token would raise
    _check(run, mt)
    assert np.isnan(run["forward"]["hidden"][:, :, 3:]).all() and np.isfinite(run["forward"]["hidden"][:, :, :3]).all()
    assert run["start"]["lengths"] == [3, 6, 2]
    # The memory path over the steps each sequence has: the mean ignores padding.
    f = mt.gates["forget"]  # (L, D, T, N, H), NaN past each length
    mean = np.array([[[np.nanmean(f[lay, d, t]) for t in range(6)] for d in range(2)] for lay in range(2)])
    np.testing.assert_allclose(run["series"]["gate_product"][:, 0, 2], mean[:, 0, 3:].prod(axis=-1))
    assert np.isfinite(run["series"]["gate_product"]).all()
    for u in units:
        json.loads(u.text, parse_constant=lambda c: pytest.fail(f"JSON token {c}"))


def test_trace_submodules_each_module_and_each_call_under_its_name():
    class Seq2Seq(nn.Module):
        def __init__(self):
            super().__init__()
            self.encoder = nn.GRU(3, 4).double()
            self.decoder = nn.GRU(4, 4).double()

    torch.manual_seed(2)
    model = Seq2Seq()
    x = torch.randn(5, 2, 3, dtype=torch.float64)

    def compute_loss():
        _, h = model.encoder(x)
        out1, h = model.decoder(h, h)  # two calls that do not chain: the second starts from its own state
        out2, _ = model.decoder(out1, torch.zeros_like(h))
        return out2.pow(2).sum()

    traces = trace_submodules(model, compute_loss)
    secs = sections(traces)
    assert [s["title"] for s in secs] == ["encoder", "decoder · call 1 of 2", "decoder · call 2 of 2"]
    for s, mt in zip(secs, [traces["encoder"], *traces["decoder"]]):
        _check(decode(s["units"]), mt)
    html = to_html(traces, include_plotly=False)
    [(_, embedded)] = displays(html)
    assert [s["title"] for s in embedded] == [s["title"] for s in secs]
    _check(decode(embedded[1]["units"]), traces["decoder"][0])


def test_the_apps_trace_is_sent_as_the_socket_sends_it():
    trace = trace_config(Config(cell="lstm", num_layers=2, seq_len=6, hidden_size=4))
    [section] = sections(trace)
    socket = trace_units(trace, time.perf_counter())
    got = section["units"]
    assert [(u.text, u.data) for u in got[:-1]] == [(u.text, u.data) for u in socket[:-1]]
    strip = lambda u: {k: v for k, v in json.loads(u.text).items() if k != "elapsed_ms"}  # noqa: E731
    assert strip(got[-1]) == strip(socket[-1])
    np.testing.assert_array_equal(decode(got)["series"]["grad_h_norm"], trace.grad_h_norm)


def test_a_relu_rnn_is_shown_on_its_signed_log_scale():
    torch.manual_seed(3)
    module = nn.RNN(3, 5, nonlinearity="relu").double()
    mt = trace_module(module, 10 * torch.randn(4, 2, 3, dtype=torch.float64), _loss)
    assert np.abs(mt.hidden).max() > 1
    assert decode(module_units(mt))["start"]["config"]["nonlinearity"] == "relu"


def test_what_cannot_be_shown_is_refused_by_name():
    module = _module("lstm", 1, False)
    mt = trace_module(module, torch.randn(4, 2, 3, dtype=torch.float64), _loss)
    with pytest.raises(ValueError, match=r"sample must be a batch index in 0\.\.1"):
        show(mt, sample=2)
    with pytest.raises(ValueError, match="tbptt"):
        show(mt, tbptt=-1)
    projected = nn.LSTM(3, 5, proj_size=2).double()
    pt = trace_module(projected, torch.randn(4, 2, 3, dtype=torch.float64), _loss)
    with pytest.raises(ValueError, match="proj_size"):
        show(pt)
    with pytest.raises(TypeError, match="cannot show int"):
        show(42)
    with pytest.raises(TypeError, match="b: expected an engine.ModuleTrace"):
        show({"a": mt, "b": "text"})
    with pytest.raises(ValueError, match="empty"):
        show({})


def test_blocks_have_their_own_ids_and_plotly_goes_into_the_first_cells_output_only(monkeypatch):
    monkeypatch.setattr(notebook, "_plotly_cell", None)
    monkeypatch.delitem(__import__("sys").modules, "google.colab", raising=False)
    running = ["cell-a"]
    monkeypatch.setattr(notebook, "_cell_id", lambda: running[0])
    mt = trace_module(_module("rnn", 1, False), torch.randn(4, 2, 3, dtype=torch.float64), _loss)
    title = "</script><script>alert(1)</script>"
    first = show({title: mt})._repr_html_()
    running[0] = "cell-b"
    second = show(mt)._repr_html_()
    assert "plotly.js v" in first and "plotly.js v" not in second
    assert "plotly.js v" in show(mt, include_plotly=True)._repr_html_()
    running[0] = "cell-a"  # the first cell run again: its new output replaces the one that held Plotly
    assert "plotly.js v" in show(mt)._repr_html_()
    running[0] = None  # a front end that does not say which cell runs: every output carries its own
    assert "plotly.js v" in show(mt)._repr_html_()
    (a, secs), (b, _) = displays(first + second)
    assert a != b
    assert secs[0]["title"] == title  # carried as data, never as markup
    data = first.split('class="gfl-nb-data">', 1)[1]
    assert data.index("</script>") > data.index("\\u003c/script")
