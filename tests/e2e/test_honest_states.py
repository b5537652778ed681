"""The page never says more than it knows: a diverged training is not called trained, a training no better than its
baseline is not a success, the controls show the uploaded model's shape, a long computation shows its progress
(not an error) over the earlier views, a CSV's column can be given after the refusal, and a refused script is said."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from tests.e2e.harness import DESKTOP, INSTANT, PHONE, VIEWPORT, PageLog, new_context, wait_complete

CLIPPING = "/?lesson=gradient-clipping&" + (
    "nonlinearity=relu&hidden_size=16&task=sine&seq_len=20&init=normal&gain=1.5&clip=norm&optimizer=sgd&lr=0.1&steps=200"
)
TRAINED_SHOWN = """() => { const s = window.gfl.state, v = s.view.shown;
  return !!v && !!v.trained && v.trained.seq === s.training.seq && window.gfl.lastPaint.complete
    && window.gfl.lastPaint.run === window.gfl.trace.run; }"""


@pytest.fixture(params=[DESKTOP, PHONE], ids=["desktop", "phone"])
def page(request, screen):
    """Each state is told the same way on a laptop and on a phone."""
    return screen(request.param)


SERIES_SAYS = "re => new RegExp(re).test(document.getElementById('upload-series-status').textContent)"


def test_a_diverged_training_is_labelled_diverged_and_its_banners_agree_with_the_lesson(page, server_url):
    page.goto(server_url + CLIPPING)
    wait_complete(page)
    page.click('#lesson button.try[data-key="clip"][data-value=\'"none"\']')
    page.wait_for_function("() => window.gfl.state.config.clip === 'none'")
    page.click("#train")
    page.wait_for_function(TRAINED_SHOWN, timeout=120_000)
    t = page.evaluate("() => window.gfl.state.training")
    assert t["status"] == "diverged" and t["divergedAt"] >= 1, t
    k = t["divergedAt"]
    # The summary's tab names the divergence, in the overflow colour; nothing calls this model trained.
    badge = page.locator("#model-badge")
    assert badge.is_visible() and badge.inner_text() == f"diverged at step {k}"
    assert "model-badge-diverged" in badge.get_attribute("class")
    head = page.locator("#train-banner .banner-train-diverged").inner_text()
    assert head.startswith(f"Training diverged at step {k}"), head
    assert "trained model" not in page.inner_text("#summary") + page.inner_text("#train-banner")
    # The overflow banner over this model's trace agrees with the lesson: clipping during training is the cure.
    banner = page.inner_text("#banner")
    assert f"diverged at step {k}" in banner and "clipping during training caps every update" in banner, banner
    assert "Clipping cannot help" not in banner and "Try clipping" in banner, banner
    assert page.log.errors == []


def random_walk(path, n: int = 300) -> None:
    """A series whose persistence forecast (the baseline) is as good as any: a random walk."""
    steps = np.random.default_rng(0).normal(size=n)
    path.write_text("day,price\n" + "".join(f"{i},{v:.6f}\n" for i, v in enumerate(100 + np.cumsum(steps))))


def lstm_file(path, hidden: int = 16) -> None:
    torch.manual_seed(0)
    torch.save(nn.LSTM(1, hidden).state_dict(), path)


def test_the_controls_follow_an_uploaded_model_and_go_back_when_it_is_cleared(page, server_url, tmp_path):
    page.goto(server_url + "/?seq_len=20")
    run = wait_complete(page)
    assert page.input_value('[name="cell"]') == "rnn" and page.input_value('[name="hidden_size"]') == "32"
    page.click("#upload summary")
    lstm_file(tmp_path / "lstm16.pt")
    page.set_input_files("#upload-model", str(tmp_path / "lstm16.pt"))
    run = wait_complete(page, after=run)
    assert page.evaluate("() => window.gfl.trace.config.cell") == "lstm"
    # The form shows what every run now uses, each control the file fixes disabled, saying why.
    assert page.input_value('[name="cell"]') == "lstm" and page.input_value('[name="hidden_size"]') == "16"
    for key in ("cell", "hidden_size", "num_layers", "bidirectional"):
        assert page.is_disabled(f'[name="{key}"]'), key
        assert "set by your uploaded model" in page.text_content(f'.control[data-field="{key}"] .why-disabled')
    assert page.is_enabled('[name="seq_len"]')
    assert "cell=" not in page.url and "hidden_size=" not in page.url  # the file cannot travel in the link
    page.click("#upload-model-clear")
    wait_complete(page, after=run)
    assert page.input_value('[name="cell"]') == "rnn" and page.input_value('[name="hidden_size"]') == "32"
    assert page.is_enabled('[name="cell"]') and page.evaluate("() => window.gfl.trace.config.cell") == "rnn"
    assert page.log.errors == []


def test_a_training_that_ends_above_its_baseline_is_not_a_success_and_each_loss_says_its_batch(
    page, server_url, tmp_path
):
    page.goto(server_url + "/?seq_len=12&task=sine&arch=many-to-one&steps=3&lr=0.000001&optimizer=sgd")
    run = wait_complete(page)
    page.click("#upload summary")
    lstm_file(tmp_path / "lstm16.pt")
    page.set_input_files("#upload-model", str(tmp_path / "lstm16.pt"))
    run = wait_complete(page, after=run)
    random_walk(tmp_path / "walk.csv")
    page.fill("#upload-column", "price")
    page.set_input_files("#upload-series", str(tmp_path / "walk.csv"))
    page.wait_for_function(SERIES_SAYS, arg="Your series: price")
    wait_complete(page, after=run)
    page.click("#train")
    page.wait_for_function(TRAINED_SHOWN, timeout=120_000)
    t = page.evaluate("() => [window.gfl.state.training.finalLoss, window.gfl.training.run.baseline.loss]")
    assert t[0] > t[1], f"the setting was meant to end above its baseline: {t}"
    banner = page.locator("#train-banner .banner")
    assert "banner-train-ok" not in banner.get_attribute("class")
    text = banner.inner_text()
    assert "no better than the baseline" in text and "loss on the training batches" in text, text
    assert "evaluation batch" in text, text
    # The status line's loss and the summary's say what each is measured on.
    assert "last training batch's loss" in page.inner_text("#train-status")
    assert "evaluation batch" in page.get_attribute('[data-stat="loss"]', "title")
    assert page.log.errors == []


def test_a_csv_refused_for_its_column_is_read_again_when_the_column_is_typed(page, server_url, tmp_path):
    page.goto(server_url + "/?seq_len=10&hidden_size=4&task=sine&arch=many-to-many")
    run = wait_complete(page)
    page.click("#upload summary")
    random_walk(tmp_path / "prices.csv", 60)
    page.set_input_files("#upload-series", str(tmp_path / "prices.csv"))
    page.wait_for_function(SERIES_SAYS, arg="choose one")
    status = page.inner_text("#upload-series-status")
    assert "press Enter" in status and "no need to choose it again" in status, status
    page.fill("#upload-column", "price")
    page.press("#upload-column", "Enter")
    page.wait_for_function(SERIES_SAYS, arg="Your series: price, 60 values")
    wait_complete(page, after=run)
    assert page.evaluate("() => !!window.gfl.trace.start.windows")
    assert page.log.errors == []


def test_a_slow_trace_shows_its_progress_and_estimate_over_the_dimmed_earlier_views(page, server_url):
    page.goto(server_url + "/?cell=lstm&seq_len=100&hidden_size=32")
    run = wait_complete(page)
    # Several seconds of work by the cost model's estimate (a seed of its own, one per screen size: never an answer
    # the other size's run left in the server's cache).
    page.evaluate("() => window.gfl.state.set({ seq_len: 2000, hidden_size: 256, batch_size: 8,"
                  " seed: 4242 + window.innerWidth })")
    page.wait_for_selector("#view-status.computing:not([hidden])", timeout=5_000)
    page.wait_for_function("() => window.gfl.state.request.estimate > 0.3", timeout=180_000)
    text = page.inner_text("#view-status")
    assert "Computing the trace for" in text and "the server estimates" in text, text
    assert "the views show" in text and "Sequence length T = 100" in text and "(dimmed)" in text, text
    assert page.is_visible("#view-status .view-progress")
    # Information, not an error: not the banners' style, and the earlier curves stay, dimmed.
    assert "banner" not in page.get_attribute("#view-status", "class")
    style = page.evaluate("""() => { const s = getComputedStyle(document.getElementById('view-status'));
      return [s.backgroundColor, s.borderLeftColor]; }""")
    assert style[0] != "rgb(253, 233, 226)" and style[1] != "rgb(163, 49, 0)", style  # --bad-bg, --bad
    assert page.evaluate("() => window.gfl.trace.run") == run and page.evaluate("() => window.gfl.trace.T") == 100
    assert page.evaluate("() => document.querySelector('.views').classList.contains('stale')")
    assert float(page.evaluate("() => getComputedStyle(document.querySelector('#chart-grad-norm')).opacity")) < 1
    page.wait_for_function("() => document.querySelector('#view-status .view-progress').value > 0", timeout=180_000)
    # The new curves replace them: no dimming, no indicator.
    wait_complete(page, after=run, timeout=180_000)
    assert page.evaluate("() => window.gfl.trace.T") == 2000
    page.wait_for_selector("#view-status", state="hidden", timeout=10_000)
    assert not page.evaluate("() => document.querySelector('.views').classList.contains('stale')")
    assert page.log.errors == []


def answer(status: int, content_type: str, body: str):
    """A route handler that answers with this status, type and body."""
    return lambda route: route.fulfill(status=status, content_type=content_type, body=body)


def test_copy_as_pytorch_shows_the_labs_refusal_and_leaves_no_earlier_script(chromium, server_url):
    context = new_context(chromium, viewport=VIEWPORT)
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=server_url)
    context.add_init_script(INSTANT)
    page = context.new_page()
    page.log = PageLog(page)
    try:
        page.goto(server_url + "/?seq_len=9&hidden_size=3")
        wait_complete(page)
        page.click("#copy-script")
        page.wait_for_function("() => document.getElementById('copy-script').dataset.copied")
        assert "T = 9" in page.evaluate("() => navigator.clipboard.readText()")
        # The lab refuses the next one in its own JSON, then a proxy in front of it with a page of its own.
        refusals = [(422, "application/json", '{"message": "the script cannot write out x=1 yet", "field": "x"}',
                     "the script cannot write out x=1 yet"),
                    (502, "text/html", "<html><body><h1>502 Bad Gateway</h1></body></html>",
                     "the server answered 502: 502 Bad Gateway")]
        for status, kind, body, said in refusals:
            page.route("**/api/script*", answer(status, kind, body))
            page.click("#copy-script")
            page.wait_for_function("() => !document.getElementById('script-status').hidden")
            shown = page.inner_text("#script-status")
            assert shown == f"No script copied: {said}", shown
            assert "did not answer" not in shown
            assert page.evaluate("() => document.getElementById('copy-script').dataset.copied") is None
            copied = page.evaluate("() => navigator.clipboard.readText()")
            assert copied.startswith("# No script for this setting:") and "T = 9" not in copied, copied
            assert page.is_hidden("#script-download")
            page.unroute("**/api/script*")
    finally:
        context.close()
