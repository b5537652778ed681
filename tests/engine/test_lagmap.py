"""The lag map against an independent reference: one autograd backward per output step, step by step.

Row s of the reference is the naive step-by-step model (tests/engine/reference.py) run forward again and
backpropagated from ⟨g_s, out_s⟩ alone, g_s = ∂L/∂out_s of the whole loss: every h_t and x_t then holds
(∂out_s/∂h_t)ᵀ g_s, whose norm over batch and units is the map's entry.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from engine.tracing import lagmap, start_trace, trace_module
from engine.tracing.fused import finish_trace
from tests.engine.reference import NaiveRecurrent, collect

DT = torch.float64


def _padded(out):
    return pad_packed_sequence(out)[0] if isinstance(out, nn.utils.rnn.PackedSequence) else out


def reference_rows(module, x, loss, rows, tbptt=0, time_axis=0):
    """(grad_h (L, D, S, T), grad_x (S, T)) row by row, with one backward per output step."""
    naive = NaiveRecurrent(module, tbptt)
    out, _ = naive(x.clone().requires_grad_() if not isinstance(x, nn.utils.rnn.PackedSequence) else x)
    padded = _padded(out)
    padded.retain_grad()
    loss(padded).backward()  # a loss reads the padded output the same way
    g = padded.grad.detach().clone()
    hs, xs = [], []
    for s in rows:
        if isinstance(x, nn.utils.rnn.PackedSequence):
            data = x.data.clone().requires_grad_()
            xx = x._replace(data=data)
        else:
            xx = data = x.clone().requires_grad_()
        naive = NaiveRecurrent(module, tbptt)
        out, _ = naive(xx)
        padded = _padded(out)
        (padded.select(time_axis, s) * g.select(time_axis, s)).sum().backward()
        grad_h = collect(dict(naive.calls[0], batched=True))["grad_h"].nan_to_num()  # (L, D, T, N, P)
        hs.append(torch.linalg.vector_norm(grad_h, dim=(3, 4)))
        if isinstance(x, nn.utils.rnn.PackedSequence):
            grad_x = pad_packed_sequence(x._replace(data=data.grad))[0]
        else:
            grad_x = data.grad if data.dim() == 3 else data.grad.unsqueeze(1)
            grad_x = grad_x.transpose(0, 1) if time_axis == 1 else grad_x
        xs.append(torch.linalg.vector_norm(grad_x, dim=(1, 2)))
    return torch.stack(hs, 2).numpy(), torch.stack(xs).numpy()


def assert_close(got, want, rtol=1e-10):
    scale = np.abs(want).max()
    assert scale > 0
    np.testing.assert_allclose(got, want, rtol=0, atol=rtol * scale)


def assert_rows_are_the_references(module, x, loss, time_axis=0):
    """The module's lag map, its rows for every output step (64 at most), against :func:`reference_rows`."""
    trace = trace_module(module, x, loss, lag_rows=64)
    want_h, want_x = reference_rows(module, x, loss, trace.output_steps, time_axis=time_axis)
    assert_close(trace.grad_h_by_output, want_h)
    assert_close(trace.grad_x_by_output, want_x)


def every_step_loss(out):
    out = _padded(out)
    return out.square().sum() + out[-1].sum() * 3


MODULES = {
    "rnn-tanh": lambda **kw: nn.RNN(3, 5, dtype=DT, **kw),
    "rnn-relu": lambda **kw: nn.RNN(3, 5, nonlinearity="relu", dtype=DT, **kw),
    "lstm": lambda **kw: nn.LSTM(3, 5, dtype=DT, **kw),
    "gru": lambda **kw: nn.GRU(3, 5, dtype=DT, **kw),
    "lstm-proj": lambda **kw: nn.LSTM(3, 5, proj_size=2, dtype=DT, **kw),
}


@pytest.mark.parametrize("tbptt", [0, 3])
@pytest.mark.parametrize("shape", ["one layer", "two layers both ways"])
@pytest.mark.parametrize("kind", list(MODULES))
def test_every_row_is_the_gradient_that_leaves_through_its_output(kind, shape, tbptt):
    torch.manual_seed(0)
    kw = dict(num_layers=2, bidirectional=True) if shape != "one layer" else {}
    module = MODULES[kind](**kw)
    x = torch.randn(8, 3, 3, dtype=DT)
    trace = trace_module(module, x, every_step_loss, tbptt=tbptt, lag_rows=64)
    assert trace.output_steps.tolist() == list(range(8))
    want_h, want_x = reference_rows(module, x, every_step_loss, trace.output_steps, tbptt)
    assert trace.grad_h_by_output.shape == want_h.shape
    assert_close(trace.grad_h_by_output, want_h)
    assert_close(trace.grad_x_by_output, want_x)


def test_packed_sequences_of_unequal_lengths_are_itemised_within_each_length():
    torch.manual_seed(1)
    module = nn.GRU(3, 4, num_layers=2, bidirectional=True, dtype=DT)
    x = pack_padded_sequence(torch.randn(7, 3, 3, dtype=DT), torch.tensor([7, 4, 6]), enforce_sorted=False)
    assert_rows_are_the_references(module, x, every_step_loss)


def test_few_rows_through_wide_layers_send_their_gradient_down_in_one_product_after_the_sweep():
    # One sequence, few rows and W_ih of 4H × 2H = 8192 entries: the layer's gradient for the one below is one
    # matrix product after the sweep (engine/tracing/lagmap.py), exact all the same.
    torch.manual_seed(8)
    module = nn.LSTM(3, 32, num_layers=2, bidirectional=True, dtype=DT)
    x = torch.randn(6, 1, 3, dtype=DT)
    assert_rows_are_the_references(module, x, every_step_loss)


def test_batch_first_and_unbatched_inputs_give_the_same_rows_as_time_major():
    torch.manual_seed(2)
    module = nn.LSTM(3, 4, batch_first=True, dtype=DT)
    x = torch.randn(2, 6, 3, dtype=DT)  # (N, T, I)

    def loss(out):
        return out.square().sum()

    assert_rows_are_the_references(module, x, loss, time_axis=1)
    one = trace_module(module, x[0], loss, lag_rows=64)  # unbatched (T, I)
    want_h, _ = reference_rows(module, x[:1], loss, one.output_steps, time_axis=1)
    assert_close(one.grad_h_by_output, want_h)


@pytest.mark.parametrize("kind", ["rnn-tanh", "lstm", "gru"])
def test_the_rows_sum_to_the_total_gradient_as_vectors(kind):
    torch.manual_seed(3)
    module = MODULES[kind](num_layers=2, bidirectional=True)
    x = torch.randn(9, 2, 3, dtype=DT)
    run, out, _ = start_trace(module, x)
    value = every_step_loss(out)
    value.backward()
    trace = finish_trace(run, float(value.detach()), keep_backward=True)
    rows = lagmap.output_steps(run.top_grad)
    result = lagmap.stack_rows(run.stack, lagmap.output_feeds(run.stack, run.top_grad, rows), vectors=True)
    for layer in range(2):
        for d in range(2):
            summed = result.vectors[layer * 2 + d].sum(1).numpy()  # (T, N, P) over every row
            assert_close(summed, trace.grad_h[layer, d], rtol=1e-12)


def test_a_many_to_one_loss_has_one_row_equal_to_the_total_curve():
    torch.manual_seed(4)
    module = nn.RNN(3, 6, num_layers=2, dtype=DT)
    x = torch.randn(12, 4, 3, dtype=DT)
    trace = trace_module(module, x, lambda out: out[-1].square().sum(), lag_rows=64)
    assert trace.output_steps.tolist() == [11]
    assert_close(trace.grad_h_by_output[:, :, 0], trace.grad_h_norm, rtol=1e-13)


def test_no_lag_map_unless_asked_for_and_a_bad_row_count_is_refused():
    module = nn.RNN(3, 4, dtype=DT)
    x = torch.randn(5, 2, 3, dtype=DT)
    trace = trace_module(module, x, every_step_loss)
    assert trace.output_steps is None and trace.grad_h_by_output is None and trace.grad_x_by_output is None
    for bad in (-1, 2.5, True):
        with pytest.raises(ValueError, match="lag_rows"):
            trace_module(module, x, every_step_loss, lag_rows=bad)


def test_fewer_rows_than_outputs_are_evenly_spaced_and_keep_the_last():
    assert lagmap.choose_rows(range(5), 8).tolist() == [0, 1, 2, 3, 4]
    picked = lagmap.choose_rows(range(100), 8)
    assert len(picked) == 8 and picked[0] == 0 and picked[-1] == 99
    assert np.all(np.diff(np.diff(picked)) <= 1)  # evenly spaced, to the step
    torch.manual_seed(5)
    module = nn.GRU(3, 4, dtype=DT)
    x = torch.randn(30, 2, 3, dtype=DT)
    full = trace_module(module, x, every_step_loss, lag_rows=64)
    few = trace_module(module, x, every_step_loss, lag_rows=8)
    assert few.output_steps.tolist() == lagmap.choose_rows(range(30), 8).tolist()
    assert_close(few.grad_h_by_output, full.grad_h_by_output[:, :, few.output_steps], rtol=1e-13)


def test_rows_computed_a_chunk_at_a_time_equal_rows_computed_together():
    torch.manual_seed(6)
    module = nn.LSTM(3, 4, num_layers=2, bidirectional=True, dtype=DT)
    x = torch.randn(10, 3, 3, dtype=DT)
    run, out, _ = start_trace(module, x)
    every_step_loss(out).backward()
    finish_trace(run, 0.0, keep_backward=True)
    rows = lagmap.output_steps(run.top_grad)

    def feeds(lo, hi):
        return lagmap.output_feeds(run.stack, run.top_grad, rows[lo:hi])

    together = lagmap.itemise(run.stack, len(rows), feeds)
    one_by_one = lagmap.itemise(run.stack, len(rows), feeds, budget=1)  # a chunk of one row
    # The same sums, in float64: a batched product of another batch size may take another kernel (and split its work
    # another way over threads), so the two agree to the last bits, not always bit for bit.
    np.testing.assert_allclose(one_by_one.grad_h, together.grad_h, rtol=1e-13, atol=0)
    np.testing.assert_allclose(one_by_one.grad_x, together.grad_x, rtol=1e-13, atol=0)


def test_float32_modules_give_the_float64_map_to_float32_rounding():
    torch.manual_seed(7)
    module = nn.LSTM(3, 5, num_layers=2, dtype=DT)
    x = torch.randn(10, 4, 3, dtype=DT)
    exact = trace_module(module, x, every_step_loss, lag_rows=64)
    single = trace_module(module.float(), x.float(), every_step_loss, lag_rows=64)
    assert single.grad_h_by_output.dtype == np.float64  # norms accumulate in float64
    np.testing.assert_allclose(single.grad_h_by_output, exact.grad_h_by_output, rtol=1e-4, atol=1e-6)


def test_the_lag_curve_is_the_median_ratio_at_each_lag_in_each_directions_reading_order():
    # Two rows at s = 1 and 3 over T = 4; forward reads back (t = s - k), reverse forward (t = s + k).
    m = np.zeros((1, 2, 2, 4))
    m[0, 0, 0] = [1, 2, 0, 0]  # row s=1: own 2, lag 1 -> 1/2
    m[0, 0, 1] = [1, 2, 4, 8]  # row s=3: own 8, lags 1, 2, 3 -> 1/2, 1/4, 1/8
    m[0, 1, 0] = [0, 4, 2, 1]  # reverse, s=1: lags 1, 2 -> 1/2, 1/4
    m[0, 1, 1] = [0, 0, 0, 5]  # reverse, s=3: lag 0 only
    curve = lagmap.lag_curve(m, np.array([1, 3]))
    np.testing.assert_allclose(curve[0, 0], [1, 0.5, 0.25, 0.125])
    np.testing.assert_allclose(curve[0, 1, :3], [1, 0.5, 0.25])
    assert np.isnan(curve[0, 1, 3])


def _handoff_reference(model, batch, cfg, rows):
    """(L, D, S, 2T), (S, 2T): per decoder step s, the step-by-step model backpropagated from ⟨g_s, out_s⟩."""
    import torch.nn.functional as F

    from engine.models.network import handoff_state, teacher_inputs

    def forward():
        enc, dec = NaiveRecurrent(model.rnn), NaiveRecurrent(model.decoder)
        src = (batch.x.flip(0) if cfg.reverse_source else batch.x).clone().requires_grad_()
        _, final = enc(src)
        D = cfg.num_directions
        state = tuple(handoff_state(f, D) for f in final) if cfg.cell == "lstm" else handoff_state(final, D)
        fed = teacher_inputs(batch.y, model.head.out_features, DT).requires_grad_()
        out, _ = dec(fed, state)
        return enc, dec, src, fed, out

    *_, out = forward()
    out.retain_grad()
    O = model.head.out_features
    F.cross_entropy(model.head(out).reshape(-1, O), batch.y.reshape(-1)).backward()
    g = out.grad.detach().clone()
    hs, xs = [], []
    for s in rows:
        enc, dec, src, fed, out = forward()
        (out[s] * g[s]).sum().backward()
        e, d = (collect(naive.calls[0])["grad_h"] for naive in (enc, dec))
        d = torch.cat([d, torch.zeros_like(d).expand(-1, e.shape[1] - 1, -1, -1, -1)], 1)  # no reverse decoder
        hs.append(torch.linalg.vector_norm(torch.cat([e, d], 2), dim=(3, 4)))
        xs.append(torch.cat([torch.linalg.vector_norm(v.grad, dim=(1, 2)) for v in (src, fed)]))
    return torch.stack(hs, 2).numpy(), torch.stack(xs).numpy()


@pytest.mark.parametrize("kw", [dict(cell="rnn"), dict(cell="lstm", num_layers=2, bidirectional=True),
                                dict(cell="gru", bidirectional=True, reverse_source=True)],
                         ids=lambda kw: "-".join(f"{k}={v}" for k, v in kw.items()))
def test_an_encoder_decoders_rows_are_its_target_steps_and_cross_the_handoff(kw):
    from engine.config import Config
    from engine.lab import prepare
    from engine.tracing import trace_encoder_decoder

    cfg = Config.from_dict(dict(arch="encoder-decoder", task="translate", seq_len=5, hidden_size=4, batch_size=3,
                                seed=3, **kw))
    model, batch = prepare(cfg, DT)
    ht = trace_encoder_decoder(model, batch, lag_rows=64)
    T = cfg.seq_len
    assert ht.output_steps.tolist() == list(range(T, 2 * T))  # the decoder's steps on the joined axis
    want_h, want_x = _handoff_reference(model, batch, cfg, ht.output_steps - T)
    assert_close(ht.grad_h_by_output, want_h)
    assert_close(ht.grad_x_by_output, want_x)
    assert ht.grad_h_by_output[:, :, :, :T].any()  # the target words reach the source, across the handoff


@pytest.mark.parametrize("arch", ["one-to-one", "one-to-many", "many-to-one", "many-to-many"])
@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_the_apps_trace_of_every_arch_has_the_rows_of_a_backward_per_output(arch, cell):
    from engine.config import Config
    from engine.data import task_loss
    from engine.lab import prepare, trace_config

    cfg = Config.from_dict(dict(arch=arch, cell=cell, task="sine", seq_len=6, hidden_size=4, batch_size=2,
                                num_layers=2, bidirectional=cell == "gru", seed=5))
    trace = trace_config(cfg, DT, lag_rows=64)
    model, batch = prepare(cfg, DT)
    want_h, want_x = reference_rows(model.rnn, batch.x, lambda out: task_loss(model.head(out), batch),
                                    trace.output_steps)
    assert_close(trace.grad_h_by_output, want_h)
    assert_close(trace.grad_x_by_output, want_x)
    assert len(trace.output_steps) == (1 if arch == "many-to-one" else cfg.seq_len)
