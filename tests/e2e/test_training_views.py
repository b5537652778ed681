"""The live training views: loss against the baseline, ‖g‖ with clipping, the step × timestep profile, the end banner.

Step 1 of training uses the very batch and weights a plain trace of the same config uses
(engine: data and weights depend only on the seed), so the first training step's loss and
‖∂L/∂h_t‖ profile must equal what the page showed before Train was pressed.
"""

from __future__ import annotations

import math

from tests.e2e.harness import plot, wait_complete

# Steps < 100, so every step carries a profile.
LINK = "/?task=adding&seq_len=20&hidden_size=16&steps=40&clip=norm&clip_at=0.5"
UNTRAINED = "() => { const t = window.gfl.trace; return { loss: t.done.loss, norms: t.normSeries('h', 0, 0) }; }"
TRAIN_DONE = "() => { const t = window.gfl.training; return !t.active && !!(t.run && t.run.done); }"


def traces_by_name(page, chart_id: str) -> dict[str, dict]:
    return {t.get("name", ""): t for t in plot(page, chart_id)["data"]}


def test_train_paints_loss_with_baseline_norms_and_profile_heatmap(page, server_url):
    page.goto(server_url + LINK)
    page.select_option("#speed", "0")
    run = wait_complete(page)
    before = page.evaluate(UNTRAINED)
    page.click("#train")
    page.wait_for_function(TRAIN_DONE)
    trained = wait_complete(page, after=run)  # the trained model's trace

    # Loss: 40 points on a log axis, the baseline drawn as a line and labelled with its name.
    loss = plot(page, "chart-loss")
    assert loss["data"][0]["name"] == "loss" and len(loss["data"][0]["y"]) == 40
    assert page.evaluate("() => document.getElementById('chart-loss').layout.yaxis.type") == "log"
    assert math.isclose(loss["data"][0]["y"][0], before["loss"], rel_tol=1e-5)
    baseline = next(t for t in loss["data"] if t["name"].startswith("baseline"))
    assert all(math.isclose(y, 1 / 6, rel_tol=1e-6) for y in baseline["y"])
    assert "always answer 1: 0.167" in loss["notes"]

    # ‖g‖ before and after clipping, the threshold, and exactly the steps above it marked as clipped.
    norms = traces_by_name(page, "chart-train-norm")
    raw = norms["‖g‖ before clipping"]["y"]
    assert len(raw) == 40 and len(norms["after clipping"]["y"]) == 40
    assert all(a <= min(r, 0.5) * (1 + 1e-5) for a, r in zip(norms["after clipping"]["y"], raw))
    assert norms["clip at 0.5"]["y"] == [0.5, 0.5]
    above = {i + 1 for i, g in enumerate(raw) if g > 0.5 * (1 + 1e-5)}
    clipped = next(t for name, t in norms.items() if name.startswith("clipped ("))
    assert above and set(clipped["x"]) == above

    # The step × timestep heatmap: one column per profiled step, one row per t, log10 colour;
    # the first column is the profile of the untrained model on the trace's batch.
    heat = plot(page, "chart-train-profile")["data"][0]
    assert heat["type"] == "heatmap" and heat["x"] == list(range(1, 41))
    assert len(heat["z"]) == 20 and all(len(row) == 40 for row in heat["z"])
    for t, norm in enumerate(before["norms"]):
        assert math.isclose(heat["z"][t][0], math.log10(norm), abs_tol=1e-5), t

    # How it ended, and what the views above now show.
    assert page.is_visible("#train-banner .banner-train-ok")
    assert "Trained 40 steps" in page.inner_text("#train-banner")
    assert page.is_visible("#model-badge") and page.inner_text("#model-badge") == "trained model"
    assert page.evaluate("() => document.getElementById('train-progress').value") == 40
    assert page.is_enabled("#train") and page.is_disabled("#stop")
    # A new setting shows a fresh (untrained) model again.
    page.fill('[name="seq_len"]', "21")
    wait_complete(page, after=trained)
    assert page.is_hidden("#model-badge")
    assert page.log.errors == [] and page.log.foreign_requests() == []


def test_diverging_training_says_so_in_a_banner(page, server_url):
    # A relu RNN with a large gain overflows on its first batch: training stops at step 1.
    page.goto(server_url + "/?nonlinearity=relu&init=orthogonal&gain=3&seq_len=400&hidden_size=8&batch_size=2&steps=20")
    page.select_option("#speed", "0")
    wait_complete(page)
    page.click("#train")
    page.wait_for_function(TRAIN_DONE)
    banner = page.inner_text("#train-banner")
    assert page.is_visible("#train-banner .banner-train-diverged")
    assert "Training diverged at step 1:" in banner and "became" in banner, banner
    assert page.log.errors == []
