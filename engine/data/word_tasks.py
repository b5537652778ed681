"""Sentences for an encoder-decoder: copy, reverse and translate.

A sentence is T words drawn uniformly from a vocabulary of :data:`WORDS` = 8, the same for source and
target.  Each generator maps (T, N, generator, dtype) to (x, y) as the other tasks' do (engine/data/tasks.py,
which lists them): x the one-hot source words (T, N, I), y the target words (T, N) int64.  The same
``torch.Generator`` state gives bit-identical sentences.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

__all__ = ["DICTIONARY", "WORDS"]

WORDS = 8  # source and target vocabulary
# The fixed "dictionary": source word w translates to target word DICTIONARY[w], the same for every seed.
DICTIONARY = (3, 6, 0, 7, 1, 4, 2, 5)


def translation_order(T: int) -> np.ndarray:
    """The reordering of the translation task: target position t takes source position order[t].

    Adjacent pairs swap (0 1 2 3 4 -> 1 0 3 2 4), as an adjective and its noun swap between English
    and Vietnamese; an odd last word stays.
    """
    order = np.arange(T)
    pairs = T - T % 2
    order[:pairs] = order[:pairs].reshape(-1, 2)[:, ::-1].reshape(-1)
    return order


def _sentence(T: int, N: int, g: torch.Generator) -> torch.Tensor:
    return torch.randint(0, WORDS, (T, N), generator=g)  # (T, N) source words


def copy_sentence(
    T: int, N: int, g: torch.Generator, dtype: torch.dtype, *, width: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """T words in [0, 8), one-hot in ``width`` >= 8 inputs; y = the same words, (T, N).

    x is (T, N, width): engine.data.tasks passes the copy task's 10 inputs, so the task keeps one input size.
    """
    words = _sentence(T, N, g)
    return F.one_hot(words, width).to(dtype), words.clone()


def reverse_sentence(T: int, N: int, g: torch.Generator, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
    """T words in [0, 8), one-hot (T, N, 8); y_t = the word at T-1-t, (T, N)."""
    words = _sentence(T, N, g)
    return F.one_hot(words, WORDS).to(dtype), words.flip(0)


def translate_sentence(T: int, N: int, g: torch.Generator, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
    """T words in [0, 8), one-hot (T, N, 8); y_t = DICTIONARY[word at translation_order(T)[t]], (T, N)."""
    words = _sentence(T, N, g)
    order = torch.from_numpy(translation_order(T))
    return F.one_hot(words, WORDS).to(dtype), torch.tensor(DICTIONARY)[words[order]]


def sentence_baseline(arch: str, T: int):
    """The trivial predictor of every sentence task: (loss per step (T,), accuracy per step (T,), name, description)."""
    # Every target word is uniform over the 8 words and independent of the previous target word (the
    # decoder's teacher-forced input), so without the source the best guess is uniform: ln 8 per step.
    return np.full(T, math.log(WORDS)), np.full(T, 1 / WORDS), "guess a word", (
        "Guesses uniformly among the 8 words without reading the source."
    )
