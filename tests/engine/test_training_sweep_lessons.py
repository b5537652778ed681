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
