"""The dark theme: the page follows prefers-color-scheme, its charts take their colours from the page's and follow a
change of scheme while open, and axe-core finds nothing in the dark either (the light theme: tests/e2e/test_a11y.py)."""

from __future__ import annotations

import pytest

from tests.e2e.axe import violations
from tests.e2e.harness import wait_complete

PHONE = {"viewport": {"width": 390, "height": 844}, "has_touch": True, "is_mobile": True}
DESKTOP = {"viewport": {"width": 1366, "height": 768}}
# The chart's colours as drawn, and the page's own, for one chart.
COLOURS = """id => { const el = document.getElementById(id), l = el._fullLayout;
  const css = getComputedStyle(document.documentElement);
  return { paper: l.paper_bgcolor, font: l.font.color, grid: l.xaxis.gridcolor, page: css.backgroundColor,
           want: css.getPropertyValue('--chart-paper').trim() }; }"""


@pytest.fixture
def dark(screen):
    """A page in a context that prefers the dark scheme, on a screen of one's choosing."""
    return lambda options: screen({**options, "color_scheme": "dark"})


def test_the_charts_follow_the_scheme_while_the_page_is_open(dark, server_url):
    page = dark(DESKTOP)
    page.goto(server_url + "/?cell=lstm&seq_len=30")
    wait_complete(page)
    drawn = page.evaluate(COLOURS, "chart-grad-norm")
    assert drawn["want"] == "#1b1c20" and drawn["paper"] == "#1b1c20", drawn
    assert drawn["page"] == "rgb(18, 19, 22)" and drawn["font"] != "#222", drawn
    assert drawn["grid"] not in ("#e6e6e6", "#eee"), drawn  # the views' light grid swapped for the dark one
    page.emulate_media(color_scheme="light")
    page.wait_for_function("() => document.getElementById('chart-grad-norm')._fullLayout.paper_bgcolor === '#fff'")
    light = page.evaluate(COLOURS, "chart-grad-norm")
    assert light["page"] == "rgb(255, 255, 255)" and light["font"] == "#222", light
    assert page.log.errors == []


LESSON = "/?seq_len=100&lesson=vanishing-gradients"
TRAINED = "/?cell=gru&task=adding&seq_len=20&steps=30"
PAGES = {
    "main": ("/?cell=lstm&num_layers=2&bidirectional=1&seq_len=30", DESKTOP),
    "phone-lesson": (LESSON, PHONE),
    "trained": (TRAINED, DESKTOP),
    "compare": ("/?cell=rnn&seq_len=30&cmp_b=cell:lstm", DESKTOP),
    "lessons": ("/lessons", DESKTOP),
    "cliff": ("/cliff", DESKTOP),
}


@pytest.mark.parametrize("name", PAGES)
def test_axe_finds_no_violation_in_the_dark(dark, server_url, name):
    path, options = PAGES[name]
    page = dark(options)
    page.goto(server_url + path)
    if path == "/cliff":
        page.wait_for_function("() => !!(window.gflCliff && window.gflCliff.lastPaint)")
    elif path == LESSON:
        page.wait_for_function("() => window.gfl && window.gfl.trace && window.gfl.trace.done")  # held for Play
    elif path != "/lessons":
        run = wait_complete(page)
        if name == "trained":  # the green banner and the badge
            page.click("#train")
            wait_complete(page, after=run)
        if name == "compare":
            page.wait_for_function("() => !document.getElementById('compare').hidden")
    assert page.evaluate("() => matchMedia('(prefers-color-scheme: dark)').matches")
    assert violations(page) == []
    assert page.log.errors == []
