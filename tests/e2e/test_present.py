"""Presenting: present=1 (settings folded, large type, the player's keys on the screen), view=<name> (one view
enlarged to fill the window, and back), embed=1&view=<name> (that view alone fills the frame), the page at a phone's
size, and the page on paper (the views and the setting in words, no controls)."""

from __future__ import annotations

from urllib.parse import parse_qs, urlparse

import pytest

from tests.e2e.harness import PHONE, wait_complete

PROJECTORS = pytest.mark.parametrize("size", [(1280, 720), (1920, 1080)], ids=["1280x720", "1920x1080"])
BOX = "s => { const r = document.querySelector(s).getBoundingClientRect(); return [r.left, r.top, r.width, r.height]; }"
PLAYER = "() => [gfl.player.cursor, gfl.player.length]"
# Plotly's drawing of chart `id` is as large as its element.
FITS = """id => { const el = document.getElementById(id), svg = el.querySelector('.main-svg').getBoundingClientRect();
  return Math.abs(svg.width - el.clientWidth) < 2 && Math.abs(svg.height - el.clientHeight) < 2; }"""
OTHER_VIEWS = ("#view-hidden", "#view-grad-units", "#view-eigen", "#view-lag", "#summary")


def query(page) -> dict[str, list[str]]:
    return parse_qs(urlparse(page.url).query)


def shows(page, sel: str) -> bool:
    """Whether any element `sel` matches has a box on the page."""
    return page.locator(sel).evaluate_all("els => els.some((el) => el.getClientRects().length > 0)")


def opened(screen, size: tuple[int, int], url: str):
    """A page of a projector's `size` (width, height) showing `url`'s run whole."""
    page = screen({"viewport": {"width": size[0], "height": size[1]}})
    page.goto(url)
    wait_complete(page)
    return page


@PROJECTORS
def test_present_folds_the_settings_writes_the_keys_and_enlarges_the_linked_view(screen, server_url, size):
    w, h = size
    page = opened(screen, size, server_url + "/?seq_len=40&present=1&view=grad-norm")

    # view=grad-norm: that view fills the window below the player; the other views and the summary step aside.
    assert "enlarged" in page.get_attribute("#view-grad-norm", "class")
    assert not any(shows(page, sel) for sel in OTHER_VIEWS)
    _, top, width, height = page.evaluate(BOX, "#view-grad-norm")
    assert width > 0.93 * w and top >= 0 and top + height <= h + 1 and height > 0.8 * h, (top, width, height)
    assert page.evaluate(BOX, "#chart-grad-norm")[3] > 0.45 * h

    # The settings are folded; one control unfolds them and folds them again.
    assert not shows(page, "#controls") and page.get_attribute("#settings-toggle", "aria-expanded") == "false"
    assert page.evaluate(BOX, "#sidebar")[2] < 40  # a strip, holding the control
    page.click("#settings-toggle")
    assert shows(page, "#controls") and page.get_attribute("#settings-toggle", "aria-expanded") == "true"
    page.click("#settings-toggle")
    assert not shows(page, "#controls")

    # The player's keys are written on the screen, in large type, and they step the run.
    keys = page.inner_text(".player-keys")
    assert all(k in keys for k in ("Space", "←", "→", "Home", "End")), keys
    heading = "() => parseFloat(getComputedStyle(document.querySelector('#view-grad-norm h2')).fontSize)"
    assert page.evaluate(heading) >= 20
    assert page.evaluate("() => document.getElementById('chart-grad-norm')._fullLayout.font.size") == 16
    page.keyboard.press("Home")
    assert page.evaluate(PLAYER)[0] == 0
    page.keyboard.press("End")
    cursor, length = page.evaluate(PLAYER)
    assert cursor == length == 80
    page.keyboard.press("ArrowLeft")
    assert page.evaluate(PLAYER)[0] == 79

    # Its control gives the page back; another view's enlarges that one; Esc gives the page back; the link follows.
    page.click("#view-grad-norm .enlarge")
    assert all(shows(page, sel) for sel in ("#view-hidden", "#view-grad-units", "#summary"))
    assert "view" not in query(page)
    page.click("#view-hidden .enlarge")
    assert query(page)["view"] == ["hidden"] and query(page)["present"] == ["1"]
    assert not shows(page, "#view-grad-norm") and page.get_attribute("#view-hidden .enlarge", "aria-pressed") == "true"
    _, top, width, height = page.evaluate(BOX, "#view-hidden")
    assert width > 0.93 * w and top >= 0 and top + height <= h + 1 and height > 0.8 * h, (top, width, height)
    page.wait_for_function(FITS, arg="chart-hidden")  # Plotly drew again at the view's new size
    page.keyboard.press("Escape")
    assert "view" not in query(page) and shows(page, "#view-grad-norm")
    assert page.log.errors == [] and page.log.foreign_requests() == []


def test_an_embed_of_one_view_fills_the_frame_alone(screen, server_url):
    page = screen({"viewport": {"width": 1280, "height": 720}})
    page.goto(server_url + "/?seq_len=40&embed=1&view=grad-norm")
    wait_complete(page)
    assert not any(shows(page, sel) for sel in OTHER_VIEWS) and not shows(page, ".enlarge")
    _, top, width, height = page.evaluate(BOX, "#view-grad-norm")
    assert width > 1200 and top + height <= 720 + 1 and height > 600, (top, width, height)
    assert page.evaluate("() => document.scrollingElement.scrollHeight") <= 721  # nothing below it: no strip
    assert page.evaluate(BOX, "#chart-grad-norm")[3] > 400
    # The lag map, a fold elsewhere, is alone and open in an embed too.
    page.goto(server_url + "/?arch=many-to-many&seq_len=20&embed=1&view=lag")
    wait_complete(page)
    page.wait_for_function("() => document.getElementById('view-lag').classList.contains('has-map')")
    assert page.evaluate("() => document.getElementById('view-lag').open") and not shows(page, "#view-grad-norm")
    assert page.evaluate(BOX, "#chart-lag-map")[3] > 400
    assert page.log.errors == [] and page.log.foreign_requests() == []


def test_present_enlarges_the_lag_map_and_its_control_gives_the_page_back(screen, server_url):
    page = opened(screen, (1280, 720), server_url + "/?arch=many-to-many&seq_len=20&present=1&view=lag")
    page.wait_for_function("() => document.getElementById('view-lag').classList.contains('has-map')")
    lag_open = "() => document.getElementById('view-lag').open"
    assert "enlarged" in page.get_attribute("#view-lag", "class") and page.evaluate(lag_open)
    assert not any(shows(page, sel) for sel in ("#view-grad-norm", "#view-hidden", "#summary"))
    _, top, width, height = page.evaluate(BOX, "#view-lag")
    assert width > 1200 and top >= 0 and top + height <= 721 and height > 576, (top, width, height)
    assert page.evaluate(BOX, "#chart-lag-map")[3] > 300 and page.evaluate(BOX, "#chart-lag-curve")[3] > 300
    # Its control gives the page back (the fold closes, the link forgets the view); its summary enlarges it again.
    page.click("#view-lag .enlarge")
    assert "view" not in query(page) and shows(page, "#view-grad-norm")
    assert not page.evaluate(lag_open)
    page.click("#view-lag > summary")
    assert query(page)["view"] == ["lag"] and not shows(page, "#view-grad-norm")
    page.keyboard.press("Escape")
    assert "view" not in query(page) and shows(page, "#view-grad-norm")
    assert page.log.errors == []


def test_present_on_a_phone_keeps_the_page_within_the_screen(screen, server_url):
    page = screen(PHONE)
    page.goto(server_url + "/?seq_len=40&present=1")
    wait_complete(page)
    # A phone has its own fold for the settings, folded from the start, and no keys to press.
    assert not shows(page, "#settings-toggle") and not shows(page, ".player-keys")
    assert not page.evaluate("() => document.querySelector('.sidebar-fold').open")
    page.click("#view-grad-norm .enlarge")
    assert query(page)["view"] == ["grad-norm"] and not shows(page, "#view-hidden")
    left, _, width, _ = page.evaluate(BOX, "#chart-grad-norm")
    assert left >= 0 and left + width <= 390
    assert page.evaluate("() => document.scrollingElement.scrollWidth") <= 390
    assert page.log.errors == []


def test_print_holds_the_views_and_the_setting_in_words_not_the_controls(page, server_url):
    page.goto(server_url + "/?cell=gru&seq_len=30&lesson=lstm-cell-state")
    page.wait_for_function("() => window.gfl && gfl.trace && gfl.trace.complete")
    page.click(".lesson-go")
    wait_complete(page)
    page.click("#intro-open")  # the introduction, open on the screen, is not printed over the views
    page.emulate_media(media="print")
    assert not shows(page, "#intro")
    setting = page.inner_text("#print-setting")
    assert "Cell = GRU" in setting and "Sequence length T = 30" in setting, setting
    for sel in ("#view-grad-norm", "#view-hidden", "#view-grad-units", "#view-gates", "#lesson-title", "#summary dl"):
        assert shows(page, sel), sel
    assert page.evaluate("""() => [...document.querySelectorAll('button, select, input, .sidebar, .player')]
        .filter((el) => el.getClientRects().length > 0).map((el) => el.id || el.className || el.textContent)""") == []
    # The charts are redrawn at the paper's width: one column, nothing beyond the page.
    page.wait_for_function(FITS, arg="chart-grad-norm")
    assert page.evaluate("() => document.scrollingElement.scrollWidth <= innerWidth")
    assert page.log.errors == []


# The font size of every text Plotly drew in chart `id` (tick labels, legend, notes; sub- and superscripts are tspans
# inside these), and the tick labels' boxes of each of its y axes.
CHART_TYPE = """id => { const el = document.getElementById(id);
  const sizes = [...el.querySelectorAll('.main-svg text')].filter((t) => t.textContent.trim())
    .map((t) => [t.textContent, parseFloat(getComputedStyle(t).fontSize)]);
  const axes = {};
  for (const t of el.querySelectorAll('.main-svg [class^="y"][class$="tick"] text')) {
    const r = t.getBoundingClientRect();
    (axes[t.parentNode.getAttribute('class')] ||= []).push([r.top, r.bottom]);
  }
  return { sizes, axes, legend: el._fullLayout.legend.font.size, right: el._fullLayout.yaxis2?.tickfont.size }; }"""


@PROJECTORS
def test_present_sets_every_chart_text_large_and_keeps_the_gates_row_labels_apart(screen, server_url, size):
    page = opened(screen, size, server_url + "/?cell=lstm&forget_bias=3&seq_len=60&present=1")
    # The gradient chart of an LSTM: a legend, a right axis (∏ forget gate) and a log axis's minor ticks.
    drawn = page.evaluate(CHART_TYPE, "chart-grad-norm")
    assert drawn["legend"] >= 16 and drawn["right"] >= 16, drawn
    small = [(text, px) for text, px in drawn["sizes"] if px < 12]  # Plotly sets a log axis's 2 and 5 at 3/4 size
    assert small == [], small
    # The gates view enlarged: each gate's band of rows keeps its labels apart.
    page.click("#view-gates .enlarge")
    page.wait_for_function(FITS, arg="chart-gates")
    drawn = page.evaluate(CHART_TYPE, "chart-gates")
    assert len(drawn["axes"]) >= 5, drawn["axes"]  # four gates' bands and the means
    for axis, boxes in drawn["axes"].items():
        boxes.sort()
        assert all(a[1] <= b[0] + 1 for a, b in zip(boxes, boxes[1:])), (axis, boxes)
    assert min(px for _, px in drawn["sizes"]) >= 12, drawn["sizes"]
    assert page.log.errors == []
