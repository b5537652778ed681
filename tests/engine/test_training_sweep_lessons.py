"""Training-sweep lessons: what each claims about its runs, against a computation that does not use the engine.

The claims themselves are measured on the lessons' own sweeps by tests/engine/test_lessons.py, every run exactly the
Trainer's (tests/engine/test_sweep.py), whose steps match a naive step-by-step autograd (tests/engine/test_training.py).
Here the reason each lesson gives for its curve is computed again from PyTorch's own cells.
"""


import torch

from engine.lab import prepare
from engine.lessons import lesson_config
from engine.lessons.catalogue import get_lesson
from engine.lessons.sweep import curves
from tests.engine.reference import NaiveRecurrent


def reaches_copied_input(cfg) -> list[bool]:
    """For each step t ≥ D of the recall task: whether the truncated gradient of that step's loss alone reaches the
    input x_{t−D} it must copy, by PyTorch's cells one step at a time (the textbook ``h.detach()`` every k steps)."""
    model, batch = prepare(cfg)
    x = batch.x.clone().requires_grad_()
    out = NaiveRecurrent(model.rnn, tbptt=cfg.tbptt)(x)[0]  # (T, N, H)
    pred = model.head(out)  # (T, N, 1)
    reached = []
    for t in range(cfg.lag, cfg.seq_len):
        loss_t = ((pred[t] - batch.y[t]) ** 2).sum()
        (grad_x,) = torch.autograd.grad(loss_t, x, retain_graph=True)  # (T, N, 1)
        reached.append(bool(grad_x[t - cfg.lag].abs().max() > 0))
    return reached


def test_the_window_lesson_learns_exactly_where_an_answers_gradient_reaches_the_input_it_copies():
    sweep = lesson_config(get_lesson("window-against-lag"))
    lag, learned = sweep.config.lag, curves(sweep)["all"]["learned"]
    for k, fraction in zip(sweep.values, learned, strict=True):
        reached = reaches_copied_input(next(p.config for p in sweep.points() if p.value == k))
        # A window of k steps holds an answer and its input only when k > D, and then for the steps t with
        # t mod k ≥ D: never for k ≤ D.
        assert reached == [t % k >= lag for t in range(lag, sweep.config.seq_len)], k
        assert fraction == (1.0 if any(reached) else 0.0), (k, fraction)


def first_sign_gradient(cfg) -> float:
    """At the initial weights, ‖∂ŷ_{T−1}/∂x_0‖ over the batch: how much the answer's gradient reaches the sign it must
    recall, by PyTorch's cells one step at a time (full backpropagation)."""
    model, batch = prepare(cfg)
    x = batch.x.clone().requires_grad_()
    out = NaiveRecurrent(model.rnn)(x)[0]  # (T, N, H)
    (grad_x,) = torch.autograd.grad(model.head(out[-1]).sum(), x)  # (T, N, 1)
    return float(grad_x[0].double().norm())


def test_the_forget_bias_lesson_learns_where_the_open_gate_lets_the_gradient_reach_the_first_sign():
    sweep = lesson_config(get_lesson("forget-bias-against-learning"))
    assert sweep.config.seq_len == sweep.config.lag + 1  # the answer at the last step is the first sign
    learned = curves(sweep)["all"]["learned"]
    for seed in sweep.seeds:
        reach = [first_sign_gradient(p.config) for p in sweep.points() if p.seed == seed]
        # Each step up in bias lets more of the answer's gradient reach the first sign; from a bias of 0 to 3, over
        # ten thousand times more.
        assert all(b > a for a, b in zip(reach, reach[1:], strict=False)), reach
        assert reach[-1] > 1e4 * reach[sweep.values.index(0.0)], reach
    # The runs learn from the most open gates down: the fraction that learned never falls as the bias grows.
    assert all(b >= a for a, b in zip(learned, learned[1:], strict=False)) and learned[0] == 0 and learned[-1] == 1


def input_reach(cfg) -> float:
    """At the initial weights, ‖∂ŷ_{T−1}/∂x_0‖ over ‖∂ŷ_{T−1}/∂x_{T−1}‖ over the batch: how much of the gradient the
    answer sends to its last input reaches its first, by PyTorch's cells one step at a time."""
    model, batch = prepare(cfg)
    x = batch.x.clone().requires_grad_()
    out = NaiveRecurrent(model.rnn)(x)[0]  # (T, N, H)
    (grad_x,) = torch.autograd.grad(model.head(out[-1]).sum(), x)  # (T, N, 2)
    return float(grad_x[0].double().norm() / grad_x[-1].double().norm())


def test_the_irnn_of_the_adding_lesson_starts_with_its_gradient_alive_where_the_tanh_rnns_has_vanished():
    sweep = lesson_config(get_lesson("adding-problem-against-length"))
    for point in sweep.points():
        name, reach = sweep.curve_names[point.series], input_reach(point.config)
        if name == "IRNN":  # W_hh starts at the identity: an active ReLU unit passes its gradient back times one
            w_hh = prepare(point.config)[0].rnn.weight_hh_l0
            assert torch.equal(w_hh, torch.eye(point.config.hidden_size)), point
        if point.value == 40 and name == "IRNN":  # the identity start passes a third of it back or more ...
            assert reach > 1 / 3, (point, reach)
        if point.value == 40 and name == "RNN":  # ... where tanh and PyTorch's W_hh leave less than a millionth
            assert reach < 1e-6, (point, reach)
    # That neither learns within 300 steps is the lesson's claim, measured on its sweep by tests/engine/test_lessons.py.
