"""The sentence tasks (copy under the encoder-decoder, reverse, translate): data from the seed, exact baselines."""

import math

import numpy as np
import pytest
import torch

from engine.data import DICTIONARY, baseline, make_batch
from engine.data.word_tasks import translation_order


def _batch(task, seed=5, T=7, N=400, arch="encoder-decoder"):
    return make_batch(task, arch, T, N, torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("task", ["copy", "reverse", "translate"])
def test_same_seed_same_batch_other_seed_other(task):
    a, b, c = _batch(task), _batch(task), _batch(task, seed=6)
    assert torch.equal(a.x, b.x) and torch.equal(a.y, b.y)
    assert not torch.equal(a.y, c.y)
    assert a.scored.all()


def test_targets_follow_the_source_words():
    words = {t: _batch(t).x.argmax(-1) for t in ("copy", "reverse", "translate")}  # (T, N)
    assert torch.equal(_batch("copy").y, words["copy"])
    assert torch.equal(_batch("reverse").y, words["reverse"].flip(0))
    src = words["translate"].numpy()
    expected = np.array(DICTIONARY)[src[[1, 0, 3, 2, 5, 4, 6]]]  # pairs swap, the odd last word stays
    assert np.array_equal(_batch("translate").y.numpy(), expected)
    assert sorted(DICTIONARY) == list(range(8))  # a dictionary: every target word has one source word
    assert list(translation_order(4)) == [1, 0, 3, 2]


def test_copy_keeps_its_memory_task_form_for_the_other_archs():
    b = _batch("copy", T=30, arch="many-to-many")
    assert (b.x.argmax(-1) == 9).any()  # the delimiter of the copy-memory task


@pytest.mark.parametrize("task", ["copy", "reverse", "translate"])
def test_baseline_is_a_uniform_guess_and_matches_its_empirical_loss(task):
    base = baseline(task, "encoder-decoder", 7)
    assert base["loss"] == pytest.approx(math.log(8)) and base["metric"] == pytest.approx(1 / 8)
    b = _batch(task, N=4000)
    O = 9 if task == "copy" else 8
    logits = torch.zeros(7, 4000, O)
    logits[..., 8:] = -1e9  # the copy task's blank class never appears in a sentence
    loss = torch.nn.functional.cross_entropy(logits.reshape(-1, O), b.y.reshape(-1))
    assert float(loss) == pytest.approx(base["loss"], rel=1e-6)
    # The words are uniform: the empirical frequencies agree with the uniform guess the baseline assumes.
    freq = np.bincount(b.y.reshape(-1).numpy(), minlength=8)[:8] / b.y.numel()
    assert np.allclose(freq, 1 / 8, atol=0.01)
