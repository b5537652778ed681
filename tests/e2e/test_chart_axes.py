"""Charts stay readable at the edges: a divergence's huge range, a one-step sequence, a cell switch that adds
subplots."""

from __future__ import annotations

import pytest

from tests.e2e.harness import wait_complete

# The gradient-clipping lesson's link without clipping: it diverges at its third step with a loss near 10¹⁹.
DIVERGES = ("/?task=sine&arch=many-to-one&seq_len=20&hidden_size=16&nonlinearity=relu&init=normal&gain=1.5"
            "&optimizer=sgd&lr=0.1&clip=none&steps=200")  # fmt: skip

TICK_BOXES = """([id, axis]) => [...document.querySelectorAll(`#${id} .${axis}tick text`)]
  .map(t => { const r = t.getBoundingClientRect(); return { text: t.textContent, top: r.top, bottom: r.bottom,
                                                          left: r.left, right: r.right }; })"""


def overlapping(boxes: list[dict], axis: str) -> list[tuple[str, str]]:
    """Pairs of neighbouring tick labels whose boxes overlap along the axis."""
    lo, hi = ("top", "bottom") if axis == "y" else ("left", "right")
    boxes = sorted(boxes, key=lambda b: b[lo])
    return [(a["text"], b["text"]) for a, b in zip(boxes, boxes[1:]) if b[lo] < a[hi] - 0.5]


def test_log_axis_labels_do_not_pile_up_after_a_divergence(page, server_url):
    page.goto(server_url + DIVERGES)
    wait_complete(page)
    page.click("#train")
    page.wait_for_function("() => /diverged/i.test(document.getElementById('train-status').textContent)")
    page.wait_for_function("() => document.querySelectorAll('#chart-loss .ytick text').length > 0")
    for chart in ("chart-loss", "chart-train-norm"):
        page.locator(f"#{chart}").scroll_into_view_if_needed()
        boxes = page.evaluate(TICK_BOXES, [chart, "y"])
        assert len(boxes) >= 2, (chart, boxes)
        assert overlapping(boxes, "y") == [], (chart, [b["text"] for b in boxes])
    assert page.log.errors == []


def test_one_to_one_axes_name_each_step_once_and_the_legend_only_what_is_drawn(page, server_url):
    page.goto(server_url + "/?arch=one-to-one")
    wait_complete(page)
    for chart in ("chart-grad-norm", "chart-hidden", "chart-grad-units"):
        labels = [b["text"] for b in page.evaluate(TICK_BOXES, [chart, "x"])]
        assert labels == ["0"], (chart, labels)
    # Every legend entry names a trace that draws something: a line needs two neighbouring points, a lone
    # point needs a marker.
    traces = page.evaluate("() => document.getElementById('chart-grad-norm').data")
    named = [t for t in traces if t.get("showlegend") is not False and t.get("name") and t.get("x") != [None]]
    assert any(t["name"].startswith("bound") for t in named)
    for t in named:
        y = t["y"]
        pairs = any(a is not None and b is not None for a, b in zip(y, y[1:]))
        assert pairs or "markers" in t.get("mode", ""), t["name"]
    assert page.log.errors == []


@pytest.mark.playback
def test_switching_gru_to_lstm_draws_no_broken_path(page, server_url):
    page.goto(server_url + "/?cell=gru&seq_len=20")
    run = wait_complete(page)
    page.select_option('[name="cell"]', "lstm")
    wait_complete(page, after=run)
    broken = page.evaluate("() => [...document.querySelectorAll('path')].filter(p => /NaN/.test(p.getAttribute('d'))).length")  # noqa: E501
    assert broken == 0
    assert page.log.errors == []  # Chromium logs `<path> attribute d: Expected number, "M63.5,NaNVNaN"` otherwise
    assert page.evaluate("() => document.querySelectorAll('#chart-gates .heatmaplayer').length") >= 1
