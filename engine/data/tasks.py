"""Sequence tasks: deterministic data generators and their trivial baselines.

Every generator writes inputs and targets for *every* step t = 0..T-1, so any
architecture can be laid over any task.  The architecture changes only which
inputs reach the network (:func:`~engine.data.layout.input_steps`; the others are zeroed) and at
which steps the loss is measured (:func:`~engine.data.layout.scored_steps`).

Layout is time first, as in ``torch.nn.RNN``:

* ``x``: (T, N, I) float inputs;
* ``y``: (T, N, O) float targets (regression, MSE) or (T, N) int64 class
  indices in [0, O) (classification, cross-entropy on O logits);
* ``scored``: (T,) bool, True where the loss enters.

The same ``torch.Generator`` state gives bit-identical batches.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import numpy as np
import torch
import torch.nn.functional as F

from engine.config import FIELD_BY_NAME
from engine.data.layout import input_steps, scored_steps
from engine.data.word_tasks import copy_sentence, reverse_sentence, sentence_baseline, translate_sentence

__all__ = [
    "COPY_BLANK", "COPY_DELIMITER", "COPY_SYMBOLS", "PATTERNS", "SENTIMENT_FILLER", "SENTIMENT_NOT",
    "SENTIMENT_WORDS", "SINE_AMPLITUDE", "SINE_NOISE", "SINE_OMEGA", "SINE_WALK", "TASKS", "Batch", "baseline",
    "copy_length", "get_task", "make_batch", "metric", "task_loss",
]  # fmt: skip

@dataclass(frozen=True)
class Task:
    name: str  # 'random' | 'adding' | 'copy' | 'sine' | 'sentiment' | 'pattern' | 'recall' | 'reverse' | 'translate'
    input_size: int  # I
    output_size: int  # O: regression target dims, or number of classes
    classification: bool  # True: cross-entropy on class indices; False: MSE
    natural_arch: str  # the architecture the task is meant for
    description: str  # one line for users
    learnable: bool = True  # False: the targets do not depend on the inputs, so training cannot beat the baseline


@dataclass(frozen=True)
class Batch:
    x: torch.Tensor  # (T, N, I) float, zero at the steps the arch does not feed
    y: torch.Tensor  # (T, N, O) float (regression) or (T, N) int64 (classification)
    scored: torch.Tensor  # (T,) bool, the steps where the loss enters


# A generator maps (T, N, generator, dtype) to (x, y) before arch masking.
Generate = Callable[[int, int, torch.Generator, torch.dtype], tuple[torch.Tensor, torch.Tensor]]
# A baseline maps (arch, T) to (expected loss per step (T,), expected accuracy per step or None, name, description).
Baseline = Callable[[str, int], tuple[np.ndarray, np.ndarray | None, str, str]]
# name -> (task, generator, baseline), in the order the sections below register them: the order of TASKS.
_REGISTRY: dict[str, tuple[Task, Generate, Baseline]] = {}


def _task(task: Task, generate: Generate) -> Callable[[Baseline], Baseline]:
    """Registers ``task``, made by ``generate``, with the baseline it decorates."""

    def register(baseline: Baseline) -> Baseline:
        _REGISTRY[task.name] = (task, generate, baseline)
        return baseline

    return register


# --- random: pure gradient flow --------------------------------------------------------------------


def _random(T: int, N: int, g: torch.Generator, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
    """x ~ N(0, 1) of shape (T, N, 4); y ~ N(0, 1) of shape (T, N, 2), independent of x."""
    x = torch.randn(T, N, 4, generator=g, dtype=dtype)
    y = torch.randn(T, N, 2, generator=g, dtype=dtype)
    return x, y


@_task(Task("random", 4, 2, False, "many-to-one",
            "Noise in, noise out: nothing to learn, only gradients to watch.", learnable=False), _random)
def _random_baseline(arch: str, T: int):
    return np.ones(T), None, "always answer 0", "The targets are unit normals, so answering 0 costs their variance, 1."


# --- adding problem (Hochreiter & Schmidhuber 1997; Le et al. 2015) --------------------------------


def _adding(T: int, N: int, g: torch.Generator, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
    """x[..., 0] ~ U(0, 1); x[..., 1] marks one step in [0, h) and one in [h, T), h = max(1, T // 2).

    y_t = sum of the marked values at steps <= t, shape (T, N, 1); y_{T-1} is the classic
    target u_a + u_b.  With T = 1 there is room for a single marker only: y = u_0.
    """
    values = torch.rand(T, N, generator=g, dtype=dtype)
    h, cols = max(1, T // 2), torch.arange(N)
    mask = torch.zeros(T, N, dtype=dtype)
    mask[torch.randint(0, h, (N,), generator=g), cols] = 1
    if T > h:
        mask[torch.randint(h, T, (N,), generator=g), cols] = 1
    x = torch.stack([values, mask], dim=-1)  # (T, N, 2)
    y = torch.cumsum(values * mask, dim=0).unsqueeze(-1)  # (T, N, 1)
    return x, y


@_task(Task("adding", 2, 1, False, "many-to-one",
            "Add the two numbers whose marker is on, however far apart."), _adding)
def _adding_baseline(arch: str, T: int):
    # y_t = u_a A_t + u_b B_t with A_t, B_t independent Bernoullis ("marker seen by t") and u ~ U(0, 1):
    # E[y_t] = (a + b) / 2 and Var(y_t) = a/3 - a²/4 + b/3 - b²/4, the MSE of answering E[y_t].
    h, t = max(1, T // 2), np.arange(T)
    a = np.minimum(t + 1, h) / h
    b = np.clip((t - h + 1) / max(T - h, 1), 0.0, 1.0)
    mean, var = (a + b) / 2, a / 3 - a**2 / 4 + b / 3 - b**2 / 4
    if scored_steps(arch, T) == (T - 1,):
        return var, None, f"always answer {mean[-1]:g}", "Answers the expected sum without reading the inputs."
    return var, None, "answer the expected sum so far", "Answers E[y_t] at each step without reading the inputs."


# --- copy memory (Arjovsky et al. 2016) --------------------------------------------------------------

COPY_SYMBOLS, COPY_BLANK, COPY_DELIMITER = 8, 8, 9


def copy_length(T: int) -> int:
    """Symbols to copy: 10 once T >= 21 (T = delay + 20); shorter sequences copy (T - 1) // 2."""
    return min(10, (T - 1) // 2)


def _copy(T: int, N: int, g: torch.Generator, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
    """K = copy_length(T) symbols in [0, 8) at steps 0..K-1, blanks (8), the delimiter (9) at
    T-K-1, blanks after.  x is that one-hot, (T, N, 10); y (T, N) is blank except the K symbols
    at steps T-K..T-1.  T = 1 or 2 leaves nothing to copy (K = 0): all targets are blank.
    """
    K = copy_length(T)
    symbols = torch.randint(0, COPY_SYMBOLS, (K, N), generator=g)
    shown = torch.full((T, N), COPY_BLANK, dtype=torch.long)
    shown[:K] = symbols
    shown[T - K - 1] = COPY_DELIMITER
    y = torch.full((T, N), COPY_BLANK, dtype=torch.long)
    y[T - K :] = symbols
    return F.one_hot(shown, COPY_DELIMITER + 1).to(dtype), y  # (T, N, 10), (T, N)


@_task(Task("copy", 10, 9, True, "many-to-many",
            "Remember 10 symbols through a long blank gap, then replay them."), _copy)
def _copy_baseline(arch: str, T: int):
    # Knowing the step but no symbol: blank for sure, then a uniform guess; many-to-many
    # averages to K ln 8 / T, i.e. 10 ln 8 / (delay + 20) in the standard layout.
    recall = np.arange(T) >= T - copy_length(T)
    loss = np.where(recall, math.log(COPY_SYMBOLS), 0.0)
    accuracy = np.where(recall, 1 / COPY_SYMBOLS, 1.0)
    return loss, accuracy, "memoryless", "Answers blank, then guesses uniformly among the 8 symbols when recall starts."


# --- sine: price-like next-value prediction ----------------------------------------------------------

SINE_AMPLITUDE = (0.5, 1.5)  # A ~ U(lo, hi)
SINE_OMEGA = (2 * math.pi / 50, 2 * math.pi / 10)  # ω ~ U(lo, hi): periods 10 to 50 steps
SINE_WALK = 0.1  # std of the random walk's steps
SINE_NOISE = 0.05  # std of the observation noise


def _sine(T: int, N: int, g: torch.Generator, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
    """s_t = A sin(ω t + φ) + w_t + ε_t for t = 0..T, with φ ~ U(0, 2π), w a random walk
    (steps N(0, 0.1²)) and ε ~ N(0, 0.05²).  x_t = s_t and y_t = s_{t+1}, both (T, N, 1).
    """
    (a_lo, a_hi), (w_lo, w_hi) = SINE_AMPLITUDE, SINE_OMEGA
    amplitude = a_lo + (a_hi - a_lo) * torch.rand(N, generator=g, dtype=dtype)
    omega = w_lo + (w_hi - w_lo) * torch.rand(N, generator=g, dtype=dtype)
    phase = 2 * math.pi * torch.rand(N, generator=g, dtype=dtype)
    t = torch.arange(T + 1, dtype=dtype).unsqueeze(1)  # (T+1, 1)
    walk = torch.cumsum(SINE_WALK * torch.randn(T + 1, N, generator=g, dtype=dtype), dim=0)
    noise = SINE_NOISE * torch.randn(T + 1, N, generator=g, dtype=dtype)
    s = amplitude * torch.sin(omega * t + phase) + walk + noise  # (T+1, N)
    return s[:-1].unsqueeze(-1), s[1:].unsqueeze(-1)


@_task(Task("sine", 1, 1, False, "many-to-many", "Forecast the next value of a wavy, drifting, noisy series."), _sine)
def _sine_baseline(arch: str, T: int):
    # Persistence: answer the last input seen, s_{t+1-k} for target s_{t+1} (k = 1 unless inputs
    # are withheld).  Averaging over φ, E[(A sin(ωk + α) - A sin α)²] = E[A²](1 - E[cos kω]),
    # the walk adds k σ_w² and the noise 2 σ_ε².
    seen = np.zeros(T, dtype=np.int64)
    seen[list(input_steps(arch, T))] = 1
    last = np.maximum.accumulate(np.where(seen == 1, np.arange(T), 0))
    lag = np.arange(T) + 1 - last
    (a_lo, a_hi), (w_lo, w_hi) = SINE_AMPLITUDE, SINE_OMEGA
    amplitude2 = (a_lo**2 + a_lo * a_hi + a_hi**2) / 3
    cos = (np.sin(lag * w_hi) - np.sin(lag * w_lo)) / (lag * (w_hi - w_lo))
    loss = amplitude2 * (1 - cos) + lag * SINE_WALK**2 + 2 * SINE_NOISE**2
    return loss, None, "repeat the last value seen", "The persistence forecast: tomorrow's price is today's."


# --- sentiment: an early word decides the label -----------------------------------------------------

SENTIMENT_WORDS = ("good", "great", "love", "bad", "awful", "hate", "not", "the", "movie", "was", "plot", "and")
SENTIMENT_NOT, SENTIMENT_FILLER = 6, 7  # token ids: 0-2 positive, 3-5 negative, 6 'not', 7-11 neutral filler


def _sentiment(T: int, N: int, g: torch.Generator, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
    """Filler tokens with one sentiment word at p ~ U[1, max(2, T // 4)) (p = 0 when T = 1),
    preceded by 'not' half the time.  Label 1 positive, 0 negative; 'not' flips it.
    x is the one-hot token, (T, N, 12); y (T, N) repeats the sequence's label at every step.
    """
    cols = torch.arange(N)
    tokens = torch.randint(SENTIMENT_FILLER, len(SENTIMENT_WORDS), (T, N), generator=g)
    positive = torch.randint(0, 2, (N,), generator=g)
    word = torch.randint(0, 3, (N,), generator=g) + 3 * (1 - positive)
    if T == 1:
        at, negated = torch.zeros(N, dtype=torch.long), torch.zeros(N, dtype=torch.long)
    else:
        at = torch.randint(1, max(2, T // 4), (N,), generator=g)
        negated = torch.randint(0, 2, (N,), generator=g)
        tokens[at - 1, cols] = torch.where(negated == 1, SENTIMENT_NOT, tokens[at - 1, cols])
    tokens[at, cols] = word
    y = (positive ^ negated).expand(T, N).clone()  # (T, N)
    return F.one_hot(tokens, len(SENTIMENT_WORDS)).to(dtype), y


@_task(Task("sentiment", 12, 2, True, "many-to-one", "Judge a review by one early word, maybe negated."), _sentiment)
def _sentiment_baseline(arch: str, T: int):
    # Word polarity and negation are independent fair coins, so the classes are exactly balanced.
    return np.full(T, math.log(2)), np.full(T, 0.5), "majority class", "Answers the class frequencies, ½ and ½."


# --- pattern: generate a whole sequence from one cue ------------------------------------------------

PATTERNS = ((12.0, 0.0), (12.0, math.pi / 2), (24.0, 0.0), (24.0, math.pi / 2))  # (period, phase)


def pattern_table(T: int) -> np.ndarray:
    """The K = 4 fixed patterns, (K, T): p_k(t) = sin(2π t / period_k + phase_k)."""
    t = np.arange(T)
    return np.stack([np.sin(2 * math.pi * t / period + phase) for period, phase in PATTERNS])


def _pattern(T: int, N: int, g: torch.Generator, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
    """A cue k ~ U{0..3}, one-hot at t = 0 only: x (T, N, 4); y_t = p_k(t), (T, N, 1)."""
    cue = torch.randint(0, len(PATTERNS), (N,), generator=g)
    x = torch.zeros(T, N, len(PATTERNS), dtype=dtype)
    x[0] = F.one_hot(cue, len(PATTERNS)).to(dtype)
    y = torch.from_numpy(pattern_table(T)).to(dtype)[cue].T.contiguous().unsqueeze(-1)  # (T, N, 1)
    return x, y


@_task(Task("pattern", 4, 1, False, "one-to-many", "From a single cue at the start, draw one of four waves."), _pattern)
def _pattern_baseline(arch: str, T: int):
    # Cues are uniform, so answering the mean pattern costs the variance across patterns at each step.
    return pattern_table(T).var(axis=0), None, "average pattern", "Ignores the cue and draws the mean of the patterns."


# --- recall: say again what came in a fixed number of steps ago --------------------------------------

RECALL_LAG = FIELD_BY_NAME["lag"].default


def _recall(T: int, N: int, g: torch.Generator, dtype: torch.dtype, lag: int = RECALL_LAG):
    """x_t = ±1 with equal odds, (T, N, 1); y_t = x_{t-D} for t >= D and 0 before, D = ``lag``, (T, N, 1).

    The rule spans exactly D steps, so a gradient cut into windows shorter than D + 1 steps never links the
    target at step t to the input it copies: truncated BPTT cannot learn it (the truncated-BPTT lesson).
    """
    x = 2 * torch.randint(0, 2, (T, N, 1), generator=g).to(dtype) - 1
    y = torch.zeros_like(x)
    y[lag:] = x[: max(T - lag, 0)]
    return x, y


@_task(Task("recall", 1, 1, False, "many-to-many",
            "Say again the sign that came in a fixed number of steps ago."), _recall)
def _recall_baseline(arch: str, T: int, lag: int = RECALL_LAG):
    # The signs are fair coins: answering 0 costs E[x²] = 1 once there is something to recall, 0 before.
    return ((np.arange(T) >= lag) * 1.0, None, "always answer 0",
            "Answers 0, the mean of the signs, without remembering any.")


# --- sentences for an encoder-decoder: copy, reverse, translate (engine/data/word_tasks.py) ---------------

# The copy task reads differently under the encoder-decoder: write the whole source back, in the copy task's inputs.
_SENTENCE_FORM: dict[str, tuple[Generate, Baseline]] = {
    "copy": (partial(copy_sentence, width=COPY_DELIMITER + 1), sentence_baseline),
}

_task(Task("reverse", 8, 8, True, "encoder-decoder", "Read a sentence of 8 words, then write it backwards."),
      reverse_sentence)(sentence_baseline)
_task(Task("translate", 8, 8, True, "encoder-decoder",
           "Translate word by word through a fixed dictionary, swapping each adjacent pair."),
      translate_sentence)(sentence_baseline)
TASKS: tuple[str, ...] = tuple(_REGISTRY)


def get_task(name: str) -> Task:
    """The task's static description; raises ValueError for an unknown name."""
    return _entry(name)[0]


def make_batch(
    task: str, arch: str, T: int, N: int, generator: torch.Generator, dtype: torch.dtype = torch.float32,
    lag: int = RECALL_LAG,
) -> Batch:
    """N sequences of length T of ``task``, laid out for ``arch`` (see the module docstring); ``lag`` is the recall
    task's D (the other tasks have none)."""
    _, generate, _ = _entry(task, arch, lag)
    if isinstance(N, bool) or not isinstance(N, int) or N < 1:
        raise ValueError(f"batch size N must be a positive integer; got {N!r}")
    fed = torch.zeros(T, dtype=torch.bool)
    fed[list(input_steps(arch, T))] = True
    scored = torch.zeros(T, dtype=torch.bool)
    scored[list(scored_steps(arch, T))] = True
    x, y = generate(T, N, generator, dtype)
    x = x.masked_fill(~fed[:, None, None], 0)  # out of place: x and y may share storage (sine)
    return Batch(x=x, y=y, scored=scored)


def task_loss(pred: torch.Tensor, batch: Batch) -> torch.Tensor:
    """Mean loss over the scored steps, the batch (and, for MSE, the output dims); a scalar.

    ``pred`` is (T, N, O), the head's output at every step.  Integer ``batch.y`` means
    classification: ``pred`` holds logits and the loss is cross-entropy; float ``batch.y``
    means regression and the loss is MSE.
    """
    scored = batch.scored.to(pred.device)
    y = batch.y.to(pred.device)
    if pred.dim() != 3 or pred.shape[:2] != y.shape[:2]:
        raise ValueError(f"pred must be (T, N, O) with (T, N) = {tuple(y.shape[:2])}; got {tuple(pred.shape)}")
    if _is_classification(batch):
        return F.cross_entropy(pred[scored].reshape(-1, pred.shape[-1]), y[scored].reshape(-1))
    if pred.shape != y.shape:
        raise ValueError(f"pred must have the targets' shape {tuple(y.shape)}; got {tuple(pred.shape)}")
    return F.mse_loss(pred[scored], y[scored])


def metric(pred: torch.Tensor, batch: Batch) -> float | None:
    """Accuracy (argmax of the logits) over the scored steps and batch; None for regression."""
    if not _is_classification(batch):
        return None
    scored = batch.scored.to(pred.device)
    hits = pred[scored].argmax(dim=-1) == batch.y.to(pred.device)[scored]
    return hits.float().mean().item()


def baseline(task: str, arch: str, T: int, lag: int = RECALL_LAG) -> dict:
    """The trivial predictor's expected loss under :func:`task_loss` for this arch and length.

    Returns ``{"loss", "metric", "name", "description"}``; ``metric`` is its expected accuracy
    (argmax breaking ties towards class 0) for classification tasks, None for regression.
    Every figure is exact (analytic), not estimated.
    """
    _, _, base = _entry(task, arch, lag)
    steps = list(scored_steps(arch, T))
    loss, accuracy, name, description = base(arch, T)
    return {
        "loss": float(np.mean(loss[steps])),
        "metric": None if accuracy is None else float(np.mean(accuracy[steps])),
        "name": name,
        "description": description,
    }


def _entry(name: str, arch: str = "", lag: int = RECALL_LAG) -> tuple[Task, Generate, Baseline]:
    """The task's generator and baseline as laid out for ``arch``: the recall task's at lag D, the copy task's
    sentence form under the encoder-decoder."""
    if name not in _REGISTRY:
        raise ValueError(f"unknown task {name!r}; known tasks: {', '.join(TASKS)}")
    task, generate, base = _REGISTRY[name]
    if name == "recall":
        generate, base = partial(_recall, lag=lag), partial(_recall_baseline, lag=lag)
    if arch == "encoder-decoder" and name in _SENTENCE_FORM:
        generate, base = _SENTENCE_FORM[name]
    return task, generate, base




def _is_classification(batch: Batch) -> bool:
    return not torch.is_floating_point(batch.y)
