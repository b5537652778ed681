"""The lab's introduction, met as a newcomer meets it: in a browser that has never been here (a plain context, not
the harness's, whose pages have closed it before).  Shown once on a first visit, closed, remembered, opened again
from Help; not over a lesson, which teaches already, nor on a slide."""

from __future__ import annotations

from tests.e2e.harness import DESKTOP, INSTANT, PHONE, PageLog, wait_complete

INTRO_OPEN = "() => document.getElementById('intro').open"
# The dialog fits the screen: nothing of it needs scrolling, and it lies wholly inside the window.
FITS = """() => { const d = document.getElementById('intro'), r = d.getBoundingClientRect();
  return d.scrollHeight <= d.clientHeight && r.top >= 0 && r.bottom <= innerHeight
    && r.left >= 0 && r.right <= innerWidth; }"""


# The rows the top bar's title and actions sit on: their vertical middles, to the nearest 20 px.
ROWS = """() => [...new Set([...document.querySelectorAll('.topbar h1, .topbar-actions > *')]
  .filter(e => e.offsetParent)
  .map(e => { const r = e.getBoundingClientRect(); return Math.round((r.top + r.bottom) / 40); }))]"""


def test_a_first_visit_meets_the_introduction_once_and_help_opens_it_again(chromium, server_url):
    context = chromium.new_context(**DESKTOP)
    context.add_init_script(INSTANT)
    try:
        page = context.new_page()
        log = PageLog(page)
        page.goto(server_url + "/")
        page.wait_for_selector("#intro[open]")
        assert page.evaluate(FITS)
        # Its links lead to the lessons (the first of them, and all), the cliff and the API, each a page that answers.
        hrefs = page.eval_on_selector_all("#intro a", "els => els.map(a => a.getAttribute('href'))")
        assert hrefs[0].startswith("/?") and "lesson=" in hrefs[0] and hrefs[1:] == ["/lessons", "/cliff", "/docs"]
        for href in hrefs:  # (the first lesson page measures every lesson's numbers: it may take a while)
            assert page.request.get(server_url + href, timeout=180_000).status == 200, href
        page.click("#intro .intro-go")
        assert not page.evaluate(INTRO_OPEN)
        wait_complete(page)  # the lab underneath works as ever
        # With the links, a 1280×720 projector still keeps the top bar on one row.
        page.set_viewport_size({"width": 1280, "height": 720})
        rows = page.evaluate(ROWS)
        assert len(rows) == 1, rows

        page.reload()  # remembered: the next visit opens straight onto the lab
        wait_complete(page)
        assert not page.evaluate(INTRO_OPEN)
        page.click("#intro-open")  # Help, in the top bar, opens it again; Escape closes it
        assert page.evaluate(INTRO_OPEN)
        at = page.evaluate("() => window.gfl.player.cursor")
        page.keyboard.press("ArrowLeft")  # the open dialog keeps the player's keys
        assert page.evaluate("() => window.gfl.player.cursor") == at
        page.keyboard.press("Escape")
        assert not page.evaluate(INTRO_OPEN)
        assert log.errors == []
    finally:
        context.close()


def test_the_introduction_stays_closed_over_a_lesson_a_slide_and_a_presenter_and_fits_a_phone(chromium, server_url):
    context = chromium.new_context(**PHONE)
    try:
        page = context.new_page()
        page.goto(server_url + "/?seq_len=100&lesson=vanishing-gradients")
        page.wait_for_selector("#lesson")
        page.wait_for_function("() => window.gfl && window.gfl.trace")
        assert not page.evaluate(INTRO_OPEN)
        page.goto(server_url + "/?embed=1")
        page.wait_for_function("() => window.gfl && window.gfl.trace")
        assert page.locator("#intro").count() == 0 and page.locator("#intro-open").is_hidden()
        page.goto(server_url + "/?present=1")  # a presenter's page is a slide too
        page.wait_for_function("() => window.gfl && window.gfl.trace")
        assert not page.evaluate(INTRO_OPEN)
        # Neither visit counted as having seen it: the plain lab opens with it, and on a phone it fits one screen.
        page.goto(server_url + "/")
        page.wait_for_selector("#intro[open]")
        assert page.evaluate(FITS)
    finally:
        context.close()
