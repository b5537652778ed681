"""Exploding and vanishing gradients are shown as such: markers and a banner, never a broken chart."""

from __future__ import annotations

from tests.e2e.harness import plot, wait_complete

EXPLODING = "/?cell=rnn&nonlinearity=relu&init=orthogonal&gain=3&seq_len=400"


def test_exploding_config_shows_the_overflow_banner(page, server_url):
    page.goto(server_url + EXPLODING)
    wait_complete(page)
    banner = page.locator("#banner")
    assert banner.is_visible()
    assert "overflowed at t =" in banner.inner_text()
    chart = page.evaluate("""() => document.getElementById('chart-grad-norm').data.map(
        t => ({name: t.name, n: t.y.filter(v => v !== null).length}))""")
    overflow = [t for t in chart if t["name"] == "inf / NaN"]
    assert overflow and overflow[0]["n"] > 0
    # The line is drawn at the clamp, not left empty.
    assert chart[0]["n"] == 400
    assert "NaN" in page.inner_text('[data-stat="loss"]') or "inf" in page.inner_text('[data-stat="norm"]')
    assert page.log.errors == []


def test_vanishing_gradient_is_plotted_below_the_float_range(page, server_url):
    page.goto(server_url + "/?seq_len=800")
    wait_complete(page)
    done = page.evaluate("() => window.gfl.trace.done")
    banner = page.locator("#banner")
    # tanh with the default init shrinks the gradient below float32's smallest number long before t = 0.
    assert done["underflow_t"] is not None
    assert "underflowed to 0 at t = " + str(done["underflow_t"]) in banner.inner_text()
    zeros = [t for t in plot(page, "chart-grad-norm")["data"] if t["name"] == "exactly 0"]
    assert zeros and len(zeros[0]["x"]) > 0
    # The zeros are drawn (at the clamp), not dropped: every step is on the chart.
    assert sum(v is not None for v in plot(page, "chart-grad-norm")["data"][0]["y"]) == 800
