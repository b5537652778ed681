"""The app's trace of a config: determinism, clipping as PyTorch does it, initialisation, theory."""

import numpy as np
import pytest
import torch

from engine import Config, trace_config
from engine.data import Batch, task_loss
from engine.lab import prepare
from engine.lab.clipping import clip_gradients
from engine.lab.theory import geometric_bound
from tests.engine.reference import reference_trace


def _cfg(**kw):
    return Config.from_dict({"seq_len": 12, "hidden_size": 6, "batch_size": 3, **kw})


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_same_config_same_numbers(cell):
    cfg = _cfg(cell=cell, num_layers=2, bidirectional=True, task="adding")
    a, b = trace_config(cfg), trace_config(cfg)
    assert a.loss == b.loss
    assert np.array_equal(a.grad_h, b.grad_h) and np.array_equal(a.hidden, b.hidden)
    assert a.param_grad_norms == b.param_grad_norms
    c = trace_config(_cfg(cell=cell, num_layers=2, bidirectional=True, task="adding", seed=1))
    assert not np.array_equal(a.hidden, c.hidden)


def test_shapes_and_names():
    t = trace_config(_cfg(cell="lstm", num_layers=2, bidirectional=True))
    assert t.hidden.shape == (2, 2, 12, 6) and t.grad_h_norm.shape == (2, 2, 12)
    assert t.gate_names == ("input", "forget", "cell", "output")
    assert "weight_hh_l1_reverse" in t.param_grad_norms and "head.weight" in t.param_grad_norms
    assert t.param_count == sum(p.numel() for p in prepare(t.config)[0].parameters())


@pytest.mark.parametrize(
    "arch,scored",
    [("many-to-one", [11]), ("many-to-many", list(range(12))), ("one-to-many", list(range(12))), ("one-to-one", [0])],
)
def test_arch_decides_where_loss_enters(arch, scored):
    t = trace_config(_cfg(arch=arch))
    assert list(t.scored_steps) == scored
    T = t.config.seq_len
    injected = [s for s in range(T) if t.grad_out_norm[0, 0, s] > 0]
    assert injected == scored
    if arch == "one-to-many":
        assert t.input_steps == (0,)


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_app_trace_equals_reference(cell):
    cfg = _cfg(cell=cell, bidirectional=True, task="copy", arch="many-to-many")
    model, batch = prepare(cfg)
    model = model.double()
    batch = Batch(batch.x.double(), batch.y, batch.scored)
    ref = reference_trace(model.rnn, batch.x, lambda out: task_loss(model.head(out), batch))
    t = trace_config(cfg)  # float32
    np.testing.assert_allclose(t.grad_h, ref["grad_h"][:, :, :, 0].numpy(), rtol=2e-4, atol=1e-6)
    np.testing.assert_allclose(t.grad_h_norm, ref["grad_h"].flatten(3).norm(dim=-1).numpy(), rtol=2e-4)


@pytest.mark.parametrize("clip,clip_at", [("norm", 0.01), ("norm", 1e3), ("value", 1e-3), ("none", 1.0)])
def test_clipping_equals_pytorch(clip, clip_at):
    cfg = _cfg(clip=clip, clip_at=clip_at)
    t = trace_config(cfg)
    model, batch = prepare(cfg)
    task_loss(model(batch.x), batch).backward()
    params = list(model.parameters())
    if clip == "norm":
        before = torch.nn.utils.clip_grad_norm_(params, clip_at)
        assert t.clip_coef == pytest.approx(min(1.0, clip_at / (float(before) + 1e-6)))
    else:
        before = torch.nn.utils.get_total_norm([p.grad for p in params])
        if clip == "value":
            torch.nn.utils.clip_grad_value_(params, clip_at)
            assert t.clip_coef is None and 0 < t.clipped_fraction <= 1
        else:
            assert t.clip_coef == 1.0 and t.clipped_fraction == 0
    after = torch.nn.utils.get_total_norm([p.grad for p in params])
    assert t.total_norm == pytest.approx(float(before), rel=1e-5)
    assert t.total_norm_clipped == pytest.approx(float(after), rel=1e-5)


def test_clip_gradients_reports_norm_before_clipping():
    p = torch.nn.Parameter(torch.zeros(4))
    p.grad = torch.tensor([3.0, 4.0, 0.0, 0.0])
    r = clip_gradients([p], "norm", 1.0)
    assert r.total_norm == pytest.approx(5.0) and r.total_norm_clipped == pytest.approx(1.0, rel=1e-5)
    assert r.clip_coef == pytest.approx(1 / (5 + 1e-6))


@pytest.mark.parametrize("clip", ["none", "norm", "value"])
@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_clipping_non_finite_gradients_like_pytorch(clip, bad):
    grad = torch.tensor([bad, 4.0, -0.5, 0.0])
    ours, theirs = torch.nn.Parameter(torch.zeros(4)), torch.nn.Parameter(torch.zeros(4))
    ours.grad, theirs.grad = grad.clone(), grad.clone()
    r = clip_gradients([ours], clip, 1.0)
    if clip == "norm":
        norm = float(torch.nn.utils.clip_grad_norm_([theirs], 1.0))
        coef = torch.clamp(torch.tensor(1.0) / (torch.tensor(norm) + 1e-6), max=1.0)
        assert r.clip_coef == pytest.approx(float(coef), nan_ok=True)
    elif clip == "value":
        torch.nn.utils.clip_grad_value_([theirs], 1.0)
    torch.testing.assert_close(ours.grad, theirs.grad, equal_nan=True)
    # An entry clipping changed; a NaN that stays NaN is unchanged.
    changed = ~((ours.grad == grad) | (ours.grad.isnan() & grad.isnan()))
    assert r.clipped_fraction == pytest.approx(float(changed.float().mean()))
    if clip == "none":
        assert r.clipped_fraction == 0 and r.clip_coef == 1.0


@pytest.mark.parametrize("init", ["pytorch", "orthogonal", "normal", "identity"])
def test_init_and_gain(init):
    model, _ = prepare(_cfg(init=init, gain=2.0, cell="gru"))
    w = model.rnn.weight_hh_l0.detach().view(3, 6, 6)
    if init == "orthogonal":
        for block in w:
            torch.testing.assert_close(block @ block.T, 4.0 * torch.eye(6), rtol=1e-4, atol=1e-4)
    if init == "identity":
        assert torch.equal(w, 2.0 * torch.eye(6).expand(3, 6, 6))
    if init != "pytorch":
        assert torch.all(model.rnn.bias_hh_l0 == 0)


def test_forget_bias_shifts_only_forget_block():
    base, _ = prepare(_cfg(cell="lstm"))
    moved, _ = prepare(_cfg(cell="lstm", forget_bias=2.5))
    diff = (moved.rnn.bias_ih_l0 - base.rnn.bias_ih_l0).detach()
    torch.testing.assert_close(diff, torch.cat([torch.zeros(6), torch.full((6,), 2.5), torch.zeros(12)]))


def test_theory_figures_match_numpy():
    t = trace_config(_cfg(init="orthogonal", gain=1.5, num_layers=2))
    model, _ = prepare(t.config)
    w = model.rnn.weight_hh_l1.detach().double().numpy()
    assert t.theory["sigma_max"][1][0] == pytest.approx(np.linalg.svd(w, compute_uv=False)[0])
    assert t.theory["spectral_radius"][1][0] == pytest.approx(np.abs(np.linalg.eigvals(w)).max(), rel=1e-4)
    assert t.theory["sigma_max"][0][0] == pytest.approx(1.5, rel=1e-5)  # orthogonal × gain


@pytest.mark.parametrize(
    "kw",
    [
        dict(),
        dict(arch="many-to-many"),
        dict(nonlinearity="relu", gain=2.0, init="orthogonal"),
        dict(num_layers=2, bidirectional=True, gain=0.5),
    ],
)
def test_geometric_bound_holds_for_rnn(kw):
    t = trace_config(_cfg(**kw))
    bound = t.theory["bound"]
    assert np.all(t.grad_h_norm <= bound * (1 + 1e-4) + 1e-12)


def test_geometric_bound_recurrence():
    delta = np.array([[[0.0, 0.0, 1.0]], [[2.0, 0.0, 0.0]]]).reshape(2, 1, 3)
    b = geometric_bound(delta, [[0.5], [3.0]])
    np.testing.assert_allclose(b[0, 0], [0.25, 0.5, 1.0])
    np.testing.assert_allclose(b[1, 0], [2.0, 0.0, 0.0])


def test_gate_product_for_gated_cells():
    t = trace_config(_cfg(cell="lstm"))
    f = t.gates["forget"]  # sample 0 only; the product uses the batch mean, so recompute from a batch-1 run
    assert t.theory["gate_product"].shape == (1, 1, 12)
    assert t.theory["gate_product"][0, 0, -1] == 1.0
    assert np.all(np.diff(t.theory["gate_product"][0, 0]) >= 0)  # products of values in (0, 1) shrink backwards
    assert f.shape == (1, 1, 12, 6)


def test_exploding_config_keeps_nonfinite_values():
    t = trace_config(
        Config.from_dict({"cell": "rnn", "nonlinearity": "relu", "init": "orthogonal", "gain": 3.0, "seq_len": 400})
    )
    assert not np.all(np.isfinite(t.grad_h_norm))


@pytest.mark.parametrize("cell,gate", [("lstm", "forget"), ("gru", "update")])
def test_gate_product_equals_a_direct_product(cell, gate):
    """The memory-path overlay: ∏_{s>t} of the batch-mean gate, checked against the reference's gates."""
    cfg = _cfg(cell=cell, bidirectional=True, batch_size=1)
    t = trace_config(cfg)
    model, batch = prepare(cfg)
    model = model.double()
    from tests.engine.reference import reference_gates

    ref = reference_trace(model.rnn, batch.x.double(), lambda out: task_loss(model.head(out), batch))
    gates = reference_gates(model.rnn, ref, batch.x.double())[gate][0]  # (D, T, N, H)
    mean = gates.mean(dim=(-1, -2)).numpy()  # (D, T)
    T = cfg.seq_len
    fwd = [np.prod(mean[0, s + 1 :]) for s in range(T)]
    rev = [np.prod(mean[1, :s]) for s in range(T)]
    np.testing.assert_allclose(t.theory["gate_product"][0, 0], fwd, rtol=1e-4)
    np.testing.assert_allclose(t.theory["gate_product"][0, 1], rev, rtol=1e-4)


@pytest.mark.parametrize("cell", ["rnn", "gru"])
def test_eigenvalues_equal_numpy(cell):
    cfg = _cfg(cell=cell, init="normal", gain=1.7)
    t = trace_config(cfg)
    model, _ = prepare(cfg)
    H = cfg.hidden_size
    blocks = model.rnn.weight_hh_l0.detach().double().numpy().reshape(-1, H, H)
    names = ["recurrent"] if cell == "rnn" else ["reset", "update", "new"]
    for name, block in zip(names, blocks):
        got = np.array(t.theory["eigenvalues"][name]["real"]) + 1j * np.array(t.theory["eigenvalues"][name]["imag"])
        want = np.linalg.eigvals(block)
        np.testing.assert_allclose(np.sort_complex(got), np.sort_complex(want), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("kw", [dict(), dict(arch="many-to-many", num_layers=2, bidirectional=True)])
def test_truncated_trace_is_a_loop_that_detaches_every_k_steps(kw):
    """trace_config with tbptt: ∂L/∂h_t and the parameter gradients of a naive loop detaching every 5 steps."""
    cfg = _cfg(cell="lstm", task="adding", tbptt=5, **kw)
    t = trace_config(cfg)
    model, batch = prepare(cfg)  # float32, as trace_config
    ref = reference_trace(model.rnn, batch.x, lambda out: task_loss(model.head(out), batch), tbptt=5, live=True)
    np.testing.assert_allclose(t.grad_h, ref["grad_h"][:, :, :, 0].numpy(), rtol=1e-4, atol=1e-6)
    for name, p in model.rnn.named_parameters():
        assert t.param_grad_norms[name] == pytest.approx(float(p.grad.norm()), rel=1e-4), name
    assert not np.allclose(t.grad_h, trace_config(_cfg(cell="lstm", task="adding", **kw)).grad_h)


@pytest.mark.parametrize("kw", [dict(), dict(num_layers=2, bidirectional=True, gain=2.0)])
def test_geometric_bound_holds_with_truncation(kw):
    t = trace_config(_cfg(tbptt=4, arch="many-to-many", **kw))
    bound = t.theory["bound"]
    assert np.all(t.grad_h_norm <= bound * (1 + 1e-4) + 1e-12)
    assert np.all(bound[:, 0, 3::4] == t.grad_out_norm[:, 0, 3::4])  # nothing crosses into a window's last step


def test_geometric_bound_recurrence_stops_at_window_starts():
    delta = np.ones((2, 1, 5))
    b = geometric_bound(delta.reshape(1, 2, 5), [[0.5, 0.5]], tbptt=2)
    np.testing.assert_allclose(b[0, 0], [1.5, 1.0, 1.5, 1.0, 1.0])  # forward windows t = 0-1, 2-3, 4
    np.testing.assert_allclose(b[0, 1], [1.0, 1.0, 1.5, 1.0, 1.5])  # reverse windows t = 4-3, 2-1, 0


def test_gradient_vanished_below_float32s_smallest_normal_is_zero_and_the_rest_is_autograds():
    """A vanishing gradient's trace: what a float64 reference puts far under float32's smallest normal value is 0
    (denormals flushed; near it, float32's rounding decides), the rest equals the reference, and the thread's
    arithmetic is left as it was."""
    cfg = _cfg(cell="rnn", arch="many-to-one", seq_len=300, hidden_size=16, gain=0.3)
    model, batch = prepare(cfg)
    model = model.double()
    batch = Batch(batch.x.double(), batch.y, batch.scored)
    want = reference_trace(model.rnn, batch.x, lambda out: task_loss(model.head(out), batch))["grad_h"][:, :, :, 0]
    got = trace_config(cfg).grad_h
    tiny = np.finfo(np.float32).tiny
    assert (np.abs(want.numpy()) < tiny / 1e3).any() and (np.abs(want.numpy()) > 1e-6).any()  # both regimes present
    assert not ((got != 0) & (np.abs(got) < tiny)).any()  # no denormal in the trace
    np.testing.assert_array_equal(got[np.abs(want.numpy()) < tiny / 1e3], 0)
    normal = np.abs(want.numpy()) > 1e3 * tiny
    np.testing.assert_allclose(got[normal], want.numpy()[normal], rtol=2e-3)
    assert torch.tensor([tiny / 4], dtype=torch.float32).item() != 0  # flushing ended with the trace
