"""Sequence tasks: layout, determinism, losses against torch.nn.functional, baselines against samples."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from engine.config import FIELD_BY_NAME
from engine.data import baseline, get_task, input_steps, make_batch, metric, scored_steps, task_loss, tasks
from engine.data.layout import ARCHS
from engine.data.tasks import TASKS

LENGTHS = (1, 2, 5, 24)


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_tasks_and_archs_are_the_configs():
    assert set(TASKS) == set(FIELD_BY_NAME["task"].choices)
    assert set(ARCHS) == set(FIELD_BY_NAME["arch"].choices)
    for name in TASKS:
        task = get_task(name)
        assert task.name == name and task.natural_arch in ARCHS and task.description


def test_unknown_names_and_bad_lengths_raise():
    with pytest.raises(ValueError, match="unknown task"):
        get_task("parity")
    with pytest.raises(ValueError, match="unknown arch"):
        make_batch("adding", "two-to-two", 5, 2, gen())
    with pytest.raises(ValueError, match="T must be"):
        baseline("adding", "many-to-one", 0)
    with pytest.raises(ValueError, match="N must be"):
        make_batch("adding", "many-to-one", 5, 0, gen())


def test_steps_per_arch():
    assert input_steps("one-to-many", 4) == (0,)
    assert scored_steps("one-to-many", 4) == (0, 1, 2, 3)
    assert input_steps("many-to-one", 4) == (0, 1, 2, 3)
    assert scored_steps("many-to-one", 4) == (3,)
    assert input_steps("many-to-many", 4) == scored_steps("many-to-many", 4) == (0, 1, 2, 3)
    assert input_steps("one-to-one", 1) == scored_steps("one-to-one", 1) == (0,)


@pytest.mark.parametrize("name", TASKS)
@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("T", LENGTHS)
def test_shapes_masks_and_scored(name, arch, T):
    task, N = get_task(name), 3
    b = make_batch(name, arch, T, N, gen(), dtype=torch.float64)
    assert b.x.shape == (T, N, task.input_size) and b.x.dtype == torch.float64
    assert b.scored.shape == (T,) and b.scored.dtype == torch.bool
    assert b.scored.nonzero().flatten().tolist() == list(scored_steps(arch, T))
    if task.classification:
        assert b.y.shape == (T, N) and b.y.dtype == torch.int64
        assert 0 <= b.y.min() and b.y.max() < task.output_size
    else:
        assert b.y.shape == (T, N, task.output_size) and b.y.dtype == torch.float64
    if arch == "encoder-decoder" and name == "copy":
        return  # the copy task's sentence form: tests/engine/test_tasks_sentences.py
    # The arch only zeroes inputs; the data underneath and the targets are the same.
    full = make_batch(name, "many-to-many", T, N, gen(), dtype=torch.float64)
    fed = list(input_steps(arch, T))
    assert torch.equal(b.y, full.y) and torch.equal(b.x[fed], full.x[fed])
    assert not b.x[[t for t in range(T) if t not in fed]].any()


@pytest.mark.parametrize("name", TASKS)
def test_deterministic_per_seed(name):
    a, b, c = (make_batch(name, "many-to-many", 30, 8, gen(seed)) for seed in (7, 7, 8))
    assert torch.equal(a.x, b.x) and torch.equal(a.y, b.y) and torch.equal(a.scored, b.scored)
    assert not (torch.equal(a.x, c.x) and torch.equal(a.y, c.y))


# --- what each generator puts in the sequences ------------------------------------------------------


@pytest.mark.parametrize("T", (1, 2, 3, 10, 11))
def test_adding_markers_and_running_sum(T):
    b = make_batch("adding", "many-to-many", T, 200, gen())
    values, mask = b.x[..., 0], b.x[..., 1]
    half = max(1, T // 2)
    assert torch.all(mask[:half].sum(0) == 1)
    assert torch.all(mask[half:].sum(0) == (1 if T > 1 else 0))
    for t in range(T):
        assert torch.allclose(b.y[t, :, 0], (values[: t + 1] * mask[: t + 1]).sum(0))


@pytest.mark.parametrize("T", (1, 2, 3, 4, 20, 21, 45))
def test_copy_layout(T):
    b = make_batch("copy", "many-to-many", T, 50, gen())
    shown = b.x.argmax(-1)  # (T, N)
    K = min(10, (T - 1) // 2)
    assert torch.all(shown[T - K - 1] == 9) and torch.all(b.x.sum(-1) == 1)
    assert torch.all(shown[:K] < 8) and torch.all(shown[K : T - K - 1] == 8) and torch.all(shown[T - K :] == 8)
    assert torch.equal(b.y[T - K :], shown[:K]) and torch.all(b.y[: T - K] == 8)


def test_sine_target_is_the_next_input():
    b = make_batch("sine", "many-to-many", 40, 6, gen())
    assert torch.equal(b.y[:-1], b.x[1:])


@pytest.mark.parametrize("T", (1, 2, 8, 40))
def test_sentiment_label_follows_the_word_and_its_negation(T):
    b = make_batch("sentiment", "many-to-many", T, 100, gen())
    tokens = b.x.argmax(-1)  # (T, N)
    for n in range(tokens.shape[1]):
        where = [t for t in range(T) if tokens[t, n] < 6]
        assert len(where) == 1 and where[0] < max(2, T // 4)
        word = tasks.SENTIMENT_WORDS[tokens[where[0], n]]
        negated = where[0] > 0 and tasks.SENTIMENT_WORDS[tokens[where[0] - 1, n]] == "not"
        assert torch.all(b.y[:, n] == int((word in ("good", "great", "love")) != negated))


def test_pattern_follows_the_cue_and_is_fixed():
    a, b = make_batch("pattern", "one-to-many", 30, 64, gen(1)), make_batch("pattern", "one-to-many", 30, 64, gen(2))
    x, y = torch.cat([a.x, b.x], 1), torch.cat([a.y, b.y], 1)
    cue = x[0].argmax(-1)
    assert x[0].sum(-1).eq(1).all() and not x[1:].any()
    assert set(cue.tolist()) == {0, 1, 2, 3}
    for k in range(4):
        rows = y[:, cue == k, 0]
        assert torch.equal(rows, rows[:, :1].expand_as(rows))


# --- loss and metric against torch.nn.functional ----------------------------------------------------


@pytest.mark.parametrize("name", TASKS)
@pytest.mark.parametrize("arch", ("many-to-one", "many-to-many", "one-to-many"))
def test_task_loss_matches_functional(name, arch):
    task, T, N = get_task(name), 7, 5
    b = make_batch(name, arch, T, N, gen(3))
    pred = torch.randn(T, N, task.output_size, generator=gen(4), requires_grad=True)
    steps = scored_steps(arch, T)
    if task.classification:
        expected = sum(F.cross_entropy(pred[t], b.y[t]) for t in steps) / len(steps)
        by_hand = -torch.stack([pred[t].log_softmax(-1)[torch.arange(N), b.y[t]] for t in steps]).mean()
    else:
        expected = sum(F.mse_loss(pred[t], b.y[t]) for t in steps) / len(steps)
        by_hand = torch.stack([(pred[t] - b.y[t]) ** 2 for t in steps]).mean()
    loss = task_loss(pred, b)
    assert loss.shape == () and torch.allclose(loss, expected) and torch.allclose(loss, by_hand)
    loss.backward()
    unscored = [t for t in range(T) if t not in steps]
    assert not pred.grad[unscored].any() and pred.grad[list(steps)].abs().sum() > 0


def test_task_loss_rejects_wrong_shapes():
    b = make_batch("adding", "many-to-one", 6, 4, gen())
    with pytest.raises(ValueError, match="pred must"):
        task_loss(torch.zeros(6, 3, 1), b)
    with pytest.raises(ValueError, match="pred must"):
        task_loss(torch.zeros(6, 4, 2), b)


def test_metric_is_accuracy_over_scored_steps():
    b = make_batch("copy", "many-to-many", 25, 9, gen())
    pred = torch.randn(25, 9, 9, generator=gen(1))
    pred[20:] += 10 * F.one_hot(b.y[20:], 9)  # right at the last 5 steps
    hits = [[int(pred[t, n].argmax() == b.y[t, n]) for n in range(9)] for t in range(25)]
    assert metric(pred, b) == pytest.approx(sum(map(sum, hits)) / (25 * 9))
    last = make_batch("copy", "many-to-one", 25, 9, gen())
    assert metric(pred, last) == 1.0
    assert metric(torch.zeros(25, 9, 1), make_batch("sine", "many-to-many", 25, 9, gen())) is None


# --- baselines: the analytic figure against the trivial predictor on a large sample -----------------


def per_sequence_loss(pred: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """(N,) loss of each sequence over its scored steps, computed without task_loss."""
    s = b.scored
    if b.y.dtype == torch.int64:
        return -pred[s].log_softmax(-1).gather(-1, b.y[s].unsqueeze(-1)).squeeze(-1).mean(0)
    return ((pred[s] - b.y[s]) ** 2).mean(dim=(0, 2))


def trivial_predictor(name: str, arch: str, b) -> torch.Tensor:
    """The baseline predictor, built from the sample: it never reads an input except persistence."""
    T, N = b.y.shape[:2]
    if name == "sine":  # persistence: the last input that reached the network
        last = [max(s for s in input_steps(arch, T) if s <= t) for t in range(T)]
        return b.x[last]
    if name in ("copy", "sentiment", "reverse", "translate"):  # log of the per-step class frequencies
        freq = F.one_hot(b.y, get_task(name).output_size).double().mean(1, keepdim=True)
        return freq.clamp_min(1e-12).log().expand(T, N, -1)
    return b.y.mean(1, keepdim=True).expand_as(b.y)  # per-step mean of the targets


@pytest.mark.parametrize("name", TASKS)
@pytest.mark.parametrize(
    ("arch", "T"), [("one-to-one", 1)] + [(a, T) for a in ARCHS if a != "one-to-one" for T in (1, 3, 24)]
)
def test_baseline_matches_a_large_sample(name, arch, T):
    N = 10_000
    b = make_batch(name, arch, T, N, gen(11), dtype=torch.float64)
    pred = trivial_predictor(name, arch, b)
    per_seq = per_sequence_loss(pred, b)
    estimate = task_loss(pred, b).item()
    assert estimate == pytest.approx(per_seq.mean().item(), rel=1e-9)
    # Five standard errors of the mean: a correct figure fails with probability < 1e-6.  The
    # predictors fitted on the sample itself are biased low by O(1/N); 1e-3 covers that.
    se = per_seq.std().item() / math.sqrt(N)
    assert abs(estimate - baseline(name, arch, T)["loss"]) <= 5 * se + 1e-3


def test_adding_baseline_is_one_sixth():
    assert baseline("adding", "many-to-one", 50)["loss"] == pytest.approx(1 / 6, abs=1e-12)
    assert baseline("adding", "many-to-one", 50)["name"] == "always answer 1"
    N = 100_000
    b = make_batch("adding", "many-to-one", 10, N, gen(5), dtype=torch.float64)
    ones = torch.ones_like(b.y)
    se = per_sequence_loss(ones, b).std().item() / math.sqrt(N)
    assert abs(task_loss(ones, b).item() - 1 / 6) <= 5 * se


@pytest.mark.parametrize("delay", (1, 10, 100, 1980))
def test_copy_baseline_is_ten_ln8_over_length(delay):
    T = delay + 20
    assert baseline("copy", "many-to-many", T)["loss"] == pytest.approx(10 * math.log(8) / T)
    assert baseline("copy", "many-to-one", T)["loss"] == pytest.approx(math.log(8))


@pytest.mark.parametrize("T", (1, 2, 3, 8, 20))
def test_copy_baseline_for_short_sequences_counts_the_copied_symbols(T):
    b = make_batch("copy", "many-to-many", T, 4, gen())
    copied = int((b.x[:, 0].argmax(-1) < 8).sum())  # symbols shown to sequence 0
    assert baseline("copy", "many-to-many", T)["loss"] == pytest.approx(copied * math.log(8) / T)
    assert baseline("copy", "many-to-one", T)["loss"] == pytest.approx(math.log(8) if copied else 0.0)


def test_pattern_baseline_is_exact():
    b = make_batch("pattern", "one-to-many", 40, 64, gen())
    first = [int((b.x[0].argmax(-1) == k).nonzero()[0]) for k in range(4)]  # one sequence per cue
    y = b.y[:, first]  # (T, 4, 1)
    pred = y.mean(1, keepdim=True).expand_as(y)  # the mean pattern over the four equally likely cues
    one_each = tasks.Batch(x=b.x[:, first], y=y, scored=b.scored)
    assert task_loss(pred, one_each).item() == pytest.approx(baseline("pattern", "one-to-many", 40)["loss"], rel=1e-6)


def test_classification_baselines_accuracy():
    N = 20_000
    b = make_batch("sentiment", "many-to-one", 30, N, gen(2))
    # Balanced classes: five binomial standard errors around one half.
    assert abs(b.y[-1].double().mean().item() - 0.5) <= 5 * 0.5 / math.sqrt(N)
    expected = baseline("sentiment", "many-to-one", 30)
    assert expected["loss"] == pytest.approx(math.log(2)) and expected["metric"] == 0.5
    assert abs(metric(torch.zeros(30, N, 2), b) - 0.5) <= 5 * 0.5 / math.sqrt(N)

    c = make_batch("copy", "many-to-many", 30, N, gen(3))
    blind = torch.zeros(30, N, 9)
    blind[:20, :, 8] = 1  # blank until recall, then all-equal logits (argmax picks symbol 0)
    expected = baseline("copy", "many-to-many", 30)["metric"]
    assert expected == pytest.approx((20 + 10 / 8) / 30)
    # Each of the 10 recalled symbols is right with probability 1/8, independently.
    se = math.sqrt(10 * (1 / 8) * (7 / 8) / N) / 30
    assert abs(metric(blind, c) - expected) <= 5 * se


@pytest.mark.parametrize(("lag", "T"), [(1, 6), (4, 16), (7, 7), (9, 5)])
def test_recall_asks_at_each_step_for_the_sign_lag_steps_back(lag, T):
    b = make_batch("recall", "many-to-many", T, 50, gen(4), lag=lag)
    x, y = b.x[..., 0], b.y[..., 0]  # (T, N)
    assert set(x.unique().tolist()) == {-1.0, 1.0}
    for t in range(T):
        assert torch.equal(y[t], x[t - lag] if t >= lag else torch.zeros(50)), t
    # Answering 0 costs E[x²] = 1 at each step with a sign to recall, 0 before: over all T steps, (T − lag) / T.
    assert baseline("recall", "many-to-many", T, lag)["loss"] == pytest.approx(max(T - lag, 0) / T, abs=1e-12)
