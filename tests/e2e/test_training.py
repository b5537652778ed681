"""Train and Stop: the loss is plotted live, and the trained model's trace replaces the views."""

from __future__ import annotations

import json

from tests.e2e.harness import wait_complete


def test_train_plots_the_loss_then_shows_the_trained_model(page, server_url):
    page.goto(server_url + "/?steps=30&seq_len=20")
    run = wait_complete(page)
    # Read the buttons in the same task as the click: 30 steps may be over before another round trip.
    # They stay focusable while they do not apply (aria-disabled), so focus stays on the button pressed.
    train_disabled, stop_disabled = page.evaluate("""() => { const b = (id) => document.getElementById(id);
      const off = (id) => b(id).getAttribute('aria-disabled') === 'true';
      b('train').click(); return [off('train'), off('stop')]; }""")
    assert train_disabled and not stop_disabled
    # The trained model's trace arrives as the train request's ordinary frames.
    wait_complete(page, after=run)
    status = page.inner_text("#train-status")
    assert "30" in status, status
    losses = page.evaluate("() => document.getElementById('chart-loss').data[0].y")
    assert len(losses) == 30
    assert page.is_enabled("#train") and page.is_disabled("#stop")
    # Time left is rounded before it is split into minutes and seconds.
    assert page.evaluate("async () => (await import('/static/js/training.js')).formatSeconds(119.6)") == "2 min 0 s"
    assert page.log.errors == []


def text_frames(page) -> list[dict]:
    """Every JSON frame the page's sockets receive from now on, in order."""
    frames: list[dict] = []

    def received(payload):
        if isinstance(payload, str):
            frames.append(json.loads(payload))

    page.on("websocket", lambda ws: ws.on("framereceived", received))
    return frames


def test_stop_ends_training(page, server_url):
    frames = text_frames(page)
    page.goto(server_url + "/?steps=5000&seq_len=200&hidden_size=128")
    wait_complete(page)
    page.click("#train")
    page.wait_for_function("() => /step \\d+/.test(document.getElementById('train-status').textContent)")
    page.click("#stop")
    assert page.is_enabled("#train") and page.is_disabled("#stop")
    page.wait_for_function("() => /Stopped after/.test(document.getElementById('train-status').textContent)")
    assert "Stopped after" in page.inner_text("#train-banner")
    steps = page.evaluate("() => window.gfl.training.run.steps")
    assert 0 < steps < 5000
    assert page.evaluate("() => window.gfl.training.run.stopped")  # compare's row A says "stopped at step N"
    # The socket is still usable: a new trace comes back.
    run = page.evaluate("() => window.gfl.lastPaint.run")
    page.fill('[name="seq_len"]', "30")
    run = wait_complete(page, after=run)
    # On the wire: the train request ends with `cancelled`, and no train_step of it follows, up to the end of the
    # new setting's trace (a computation, which waits for the client's cancelled one to end).
    train_run = next(f["run"] for f in frames if f["type"] == "train_start")
    done = next(i for i, f in enumerate(frames) if f["type"] == "done" and f["run"] == run)
    kinds = [f["type"] for f in frames[:done] if f.get("run") == train_run]
    assert "cancelled" in kinds and kinds[kinds.index("cancelled") + 1 :] == [], kinds[-5:]
    assert steps <= kinds.count("train_step")
    assert page.log.errors == []
