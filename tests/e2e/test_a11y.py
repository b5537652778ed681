"""Every keyboard and screen: axe-core finds nothing, a skip link, one tab stop per chart toolbar, and the phone
(390×844) and tablet (768×1024, touch) layouts keep every control on screen and a chart in sight after Play."""

from __future__ import annotations

import pytest

from tests.e2e.axe import violations
from tests.e2e.harness import wait_complete

PHONE = {"viewport": {"width": 390, "height": 844}, "has_touch": True, "is_mobile": True}
TABLET = {"viewport": {"width": 768, "height": 1024}, "has_touch": True, "is_mobile": True}
LESSON = "/?seq_len=100&lesson=vanishing-gradients"
LAG = "/?arch=many-to-many&seq_len=30&view=lag&cmp_b=cell:lstm"  # the lag map's view open, compare's lag curves too
TRACED = "() => window.gfl && window.gfl.trace && window.gfl.trace.done"
RECT = "sel => { const r = document.querySelector(sel).getBoundingClientRect(); return {top: r.top, bottom: r.bottom, left: r.left, right: r.right, height: r.height}; }"  # noqa: E501


PAGES = {
    "main": ("/", None),
    "lessons": ("/lessons", None),
    "lesson": (LESSON, None),
    "compare": ("/?cell=rnn&seq_len=30&cmp_b=cell:lstm&cmp_c=cell:gru", None),
    "lag": (LAG, None),
    "phone-lag": (LAG, PHONE),
    "embed": ("/?cell=lstm&seq_len=30&forget_bias=3&lesson=lstm-cell-state&embed=1", None),
    "present": ("/?seq_len=30&present=1&view=grad-norm", None),
    "phone": ("/", PHONE),
    "phone-lesson": (LESSON, PHONE),
    "tablet-lesson": (LESSON, TABLET),
}


@pytest.mark.playback
@pytest.mark.parametrize("name", PAGES)
def test_axe_finds_no_violation(screen, server_url, name):
    path, options = PAGES[name]
    page = screen(options or {"viewport": {"width": 1366, "height": 768}})
    page.goto(server_url + path)
    if path != "/lessons":
        page.wait_for_function(TRACED)
    if name == "compare":
        page.wait_for_function("() => !document.getElementById('compare').hidden")
    if path == LAG:
        page.wait_for_function("() => document.getElementById('view-lag').classList.contains('has-map')")
        page.wait_for_function("() => !!document.querySelector('#chart-compare-lag .main-svg')")
    assert violations(page) == []
    assert page.log.errors == []


@pytest.mark.playback
def test_a_skip_link_leads_past_the_top_bar(page, server_url):
    page.goto(server_url + LESSON)
    page.wait_for_function(TRACED)
    page.keyboard.press("Tab")
    assert page.evaluate("() => document.activeElement.className") == "skip-link"
    assert page.locator(".skip-link:focus").is_visible()  # visible once focused
    page.keyboard.press("Enter")
    assert page.evaluate("() => document.activeElement.id") == "lesson"  # a lesson page skips to the lesson panel
    page.keyboard.press("Tab")  # the next stop is in the lesson, not in the top bar
    assert page.evaluate("() => !!document.activeElement.closest('#lesson')")


@pytest.mark.playback
def test_each_chart_toolbar_is_one_tab_stop(page, server_url):
    page.goto(server_url + "/")
    wait_complete(page)
    bars = page.evaluate("() => document.querySelectorAll('.modebar').length")
    assert bars >= 4
    # A view's PNG button and its chart's tools are one stop together.
    stops = page.evaluate("""() => [...document.querySelectorAll('.modebar')].map(bar => {
      const chart = bar.closest('.chart');
      const png = [...document.querySelectorAll(`button[data-png="${chart.id}"]`)];
      const all = [...png, ...bar.querySelectorAll('button, a[href], [tabindex]')];
      return all.filter(b => b.tabIndex >= 0).length; })""")
    assert stops == [1] * bars
    # The arrow keys move from the PNG button on into the tools, and Enter presses: Zoom in changes the x range.
    page.focus('[data-png="chart-grad-norm"]')
    page.keyboard.press("ArrowRight")
    assert page.evaluate("() => document.activeElement.closest('#chart-grad-norm .modebar') !== null")
    before = page.evaluate("() => document.getElementById('chart-grad-norm').layout.xaxis.range.slice()")
    while page.evaluate("() => document.activeElement.dataset.title") != "Zoom in":
        page.keyboard.press("ArrowRight")
    page.keyboard.press("Enter")
    changed = "b => JSON.stringify(document.getElementById('chart-grad-norm').layout.xaxis.range) !== JSON.stringify(b)"
    page.wait_for_function(changed, arg=before)
    page.keyboard.press("Tab")  # and Tab leaves the toolbar for the next view
    assert page.evaluate("() => document.activeElement.closest('.modebar') === null")


@pytest.mark.playback
def test_embed_strip_covers_no_view(page, server_url):
    page.goto(server_url + PAGES["embed"][0])
    page.wait_for_function(TRACED)
    views = page.evaluate("() => [...document.querySelectorAll('.view')].filter(v => v.offsetParent).map(v => v.id)")
    assert "view-gates" in views
    for view in views:
        for y in (0, 400, 800):  # wherever the page is scrolled
            page.evaluate(f"() => scrollTo(0, {y})")
            bar, box = page.evaluate(RECT, ".embed-bar"), page.evaluate(RECT, f"#{view}")
            apart = bar["bottom"] <= box["top"] or box["bottom"] <= bar["top"]
            assert apart or bar["right"] <= box["left"] or box["right"] <= bar["left"], (view, y, bar, box)


@pytest.mark.parametrize("options", [PHONE, TABLET], ids=["phone", "tablet"])
def test_small_screens_keep_every_control_on_screen(screen, server_url, options):
    page = screen(options)
    page.goto(server_url + "/")
    page.wait_for_function(TRACED)
    width = options["viewport"]["width"]
    assert page.evaluate("() => document.documentElement.scrollWidth") <= width
    for sel in ("#compare-toggle", "#copy-link", ".all-lessons", "#lesson-picker"):
        box = page.evaluate(RECT, sel)
        assert page.locator(sel).is_visible() and 0 <= box["left"] and box["right"] <= width, (sel, box)
    page.click(".sidebar-fold > summary")
    controls = page.evaluate("""() => [...document.querySelectorAll('.control:not([hidden]) :is(input, select)')]
      .filter(e => e.offsetParent)
      .map(e => { const r = e.getBoundingClientRect(); return [e.name || e.id, r.left, r.right]; })""")
    assert len(controls) >= 10
    assert [c for c in controls if c[1] < 0 or c[2] > width] == []
    assert page.evaluate("() => document.documentElement.scrollWidth") <= width
    assert page.log.errors == []


DESKTOP = {"viewport": {"width": 1366, "height": 768}}


@pytest.mark.playback
@pytest.mark.parametrize("options", [PHONE, TABLET, DESKTOP], ids=["phone", "tablet", "desktop"])
@pytest.mark.parametrize("path,play", [(LESSON, ".lesson-go"), ("/", "#play")], ids=["lesson", "lab"])
def test_after_play_the_gradient_chart_is_wholly_in_sight_below_the_player_bar(screen, server_url, options, path, play):
    page = screen(options)
    page.goto(server_url + path)
    page.wait_for_function(TRACED)
    if path == LESSON:
        assert not page.evaluate("() => document.querySelector('.lesson-more').open")  # the reading starts folded
    page.click(play)
    page.wait_for_function("() => window.gfl.player.playing || window.gfl.player.cursor > 0")
    box, bar = page.evaluate(RECT, "#chart-grad-norm"), page.evaluate(RECT, "#player")
    assert bar["bottom"] <= box["top"] and box["bottom"] <= options["viewport"]["height"], (box, bar)
