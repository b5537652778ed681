"""An independent reference for traces of loops: the states the user's own loop returned, read with retain_grad.

A test runs the model's loop as the user wrote it on a copy of the model, keeping each step's returned state
(h, c, ...) with ``retain_grad()``.  After a plain backward:

- the total derivative of step t is the ``.grad`` of its state;
- the direct part of h_t is what is left when nothing flows back through step t+1's state: either the
  ``.grad`` of h_t in a run of the same loop whose state entering step t+1 is detached (``direct_by_cut``),
  or, for a state of one tensor, the total less ``torch.autograd.functional.vjp`` of a function
  ``step(t, state) -> state`` that recomputes step t+1 from h_t, its other inputs fixed (``direct_by_vjp``);
- lag-map row s at step t, for a loop whose inputs do not depend on its states, is one ``autograd.grad`` of
  h_s with respect to step t's state, started from h_s's direct part (c_s has no use outside its step in
  these models).
"""

from __future__ import annotations

import copy

import numpy as np
import torch


def grads(states: list[tuple[torch.Tensor, ...]]) -> list[tuple[torch.Tensor, ...]]:
    return [tuple(s.grad if s.grad is not None else torch.zeros_like(s) for s in parts) for parts in states]


def direct_by_vjp(states, step) -> list[torch.Tensor]:
    """Per step, ∂L/∂h_t less (∂h_{t+1}/∂h_t)ᵀ ∂L/∂h_{t+1} through step t+1 alone; a state of one tensor."""
    totals = [g[0] for g in grads(states)]
    out = []
    for t in range(len(states) - 1):
        _, rec = torch.autograd.functional.vjp(lambda h, t=t: step(t + 1, (h,))[0], states[t][0].detach(),
                                               totals[t + 1])
        out.append(totals[t] - rec)
    return out + [totals[-1]]


def direct_by_cut(run, T: int) -> list[torch.Tensor]:
    """Per step, the ``.grad`` of h_t in ``run(cut=t)``: the loop run again with the state entering step t+1
    detached, its backward done, its states returned."""
    return [run(cut=t)[t][0].grad.clone() for t in range(T)]


def frobenius(tensors) -> np.ndarray:
    """(T,) Frobenius norms."""
    return np.array([float(torch.linalg.vector_norm(t.double())) for t in tensors])


def lag_rows(states, direct, rows) -> np.ndarray:
    """(S, T) ‖δ_t^{(s)}‖ of h: h_s's direct part carried back through the user's own graph.

    Each ``autograd.grad`` adds to the ``.grad`` of the states it passes: read them before."""
    T = len(states)
    out = np.zeros((len(rows), T))
    for i, s in enumerate(rows):
        out[i, s] = float(torch.linalg.vector_norm(direct[s].double()))
        for t in range(s):
            g = torch.autograd.grad(states[s][0], states[t][0], direct[s], retain_graph=True, allow_unused=True)[0]
            out[i, t] = 0.0 if g is None else float(torch.linalg.vector_norm(g.double()))
    return out


def check_steps(trace, states, direct, *, rtol=1e-9, atol=1e-12, h0=None):
    """A joined trace's per-step arrays against the reference: states, ∂L/∂h_t (and c), the direct part."""
    hidden = torch.stack([s[0].detach() for s in states])  # (T, N, H)
    np.testing.assert_allclose(trace.hidden[0, 0], hidden.numpy(), rtol=1e-12, atol=1e-13)
    totals = grads(states)
    np.testing.assert_allclose(trace.grad_h[0, 0], torch.stack([g[0] for g in totals]).numpy(), rtol=rtol, atol=atol)
    np.testing.assert_allclose(trace.grad_h_norm[0, 0], frobenius(g[0] for g in totals), rtol=rtol, atol=atol)
    np.testing.assert_allclose(trace.grad_out_norm[0, 0], frobenius(direct), rtol=1e-7, atol=1e-10)
    if len(states[0]) > 1:
        np.testing.assert_allclose(trace.grad_c[0, 0], torch.stack([g[1] for g in totals]).numpy(), rtol=rtol,
                                   atol=atol)
        np.testing.assert_allclose(trace.grad_c_norm[0, 0], frobenius(g[1] for g in totals), rtol=rtol, atol=atol)
    if h0 is not None:
        np.testing.assert_allclose(trace.grad_h0[0, 0], h0.grad.numpy(), rtol=rtol, atol=atol)


def check_plain_grads(model, plain) -> None:
    """Every parameter's .grad is what a plain backward on ``plain`` (a copy run as the user runs it) left."""
    want = dict(plain.named_parameters())
    for name, p in model.named_parameters():
        if want[name].grad is None:
            assert p.grad is None, name
        else:
            torch.testing.assert_close(p.grad, want[name].grad, rtol=1e-10, atol=1e-13, msg=name)


def twin(model):
    return copy.deepcopy(model)
