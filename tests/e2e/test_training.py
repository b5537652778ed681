"""Train and Stop: the loss is plotted live, and the trained model's trace replaces the views."""

from __future__ import annotations

from tests.e2e.harness import wait_complete


def test_train_plots_the_loss_then_shows_the_trained_model(page, server_url):
    page.goto(server_url + "/?steps=30&seq_len=20")
    run = wait_complete(page)
    page.click("#train")
    assert page.is_disabled("#train") and page.is_enabled("#stop")
    # The trained model's trace arrives as the train request's ordinary frames.
    wait_complete(page, after=run)
    status = page.inner_text("#train-status")
    assert "30" in status, status
    losses = page.evaluate("() => document.getElementById('chart-loss').data[0].y")
    assert len(losses) == 30
    assert page.is_enabled("#train") and page.is_disabled("#stop")
    assert page.log.errors == []


def test_stop_ends_training(page, server_url):
    page.goto(server_url + "/?steps=5000&seq_len=200&hidden_size=128")
    wait_complete(page)
    page.click("#train")
    page.wait_for_function("() => /step \\d+/.test(document.getElementById('train-status').textContent)")
    page.click("#stop")
    page.wait_for_function("() => /Stopped after/.test(document.getElementById('train-status').textContent)")
    assert page.is_enabled("#train")
    # The socket is still usable: a new trace comes back.
    run = page.evaluate("() => window.gfl.lastPaint.run")
    page.fill('[name="seq_len"]', "30")
    wait_complete(page, after=run)
    assert page.log.errors == []
