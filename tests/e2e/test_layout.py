"""The page as a student meets it on a 390×844 phone and a 1366×768 laptop: nothing wider than the screen in any
state, Train and Stop always on it, the page staying where the student looks when a training ends, and no text
too small to read on the phone."""

from __future__ import annotations

import pytest

from tests.e2e.harness import DESKTOP, PHONE, wait_complete

SCREENS = pytest.mark.parametrize("options", [PHONE, DESKTOP], ids=["phone", "desktop"])
# A training ended as `s` and the views show what it left (the trained model, or the setting whole again).
ENDED = "s => { const st = window.gfl.state; return st.training.status === s && st.view.status === 'shown'; }"
LOSS_BOX = "() => { const r = document.getElementById('chart-loss').getBoundingClientRect(); " \
    "return [r.top, r.bottom, innerHeight]; }"
# On every animation frame from the page's first: the states seen, and each frame where the page is wider than the
# screen or Train / Stop reach past one of its sides (at most 20 of those, with what they were).
SAMPLER = """
window.gflLayout = { states: {}, bad: [] };
const sample = () => {
  const g = window.gfl;
  if (g && g.state) {
    const state = `${g.state.view.status}/${g.state.training.status}`;
    const out = window.gflLayout;
    out.states[state] = (out.states[state] || 0) + 1;
    const w = window.innerWidth, sw = document.scrollingElement.scrollWidth;
    const box = (id) => document.getElementById(id).getBoundingClientRect();
    const off = ['train', 'stop'].filter((id) => box(id).left < 0 || box(id).right > w);
    if ((sw > w || off.length) && out.bad.length < 20)
      out.bad.push({ state, sw, w, off, rate: document.getElementById('train-rate').textContent });
  }
  requestAnimationFrame(sample);
};
requestAnimationFrame(sample);
"""


@pytest.fixture(scope="module")
def links():
    """Each lesson's link, by its id: the lesson picker's (its links are the documents' own, and need no measuring)."""
    from server.routes.lessons import PICKER

    return {doc["id"]: doc["link"] for doc in PICKER}


@pytest.mark.playback
@SCREENS
def test_no_state_widens_the_page_or_pushes_train_and_stop_off_it(screen, server_url, links, options):
    page = screen(options, SAMPLER)
    page.goto(server_url + links["gradient-clipping"])
    run = wait_complete(page)
    page.click("#train")
    page.wait_for_function(ENDED, arg="trained")
    run = wait_complete(page, after=run)  # the trained model's trace
    # Clipping off, the same training diverges within a few steps.
    page.click("button.try[data-key='clip'][data-value='\"none\"']")
    run = wait_complete(page, after=run)
    page.click("#train")
    page.wait_for_function(ENDED, arg="diverged")
    page.evaluate("() => new Promise(requestAnimationFrame)")  # one more sample of the state painted last
    seen = page.evaluate("() => window.gflLayout")
    states = {"computing/none", "shown/none", "shown/training", "shown/trained", "shown/diverged"}
    assert states <= set(seen["states"]), seen
    assert seen["bad"] == []


@pytest.mark.playback
@SCREENS
def test_the_page_stays_where_it_is_when_a_training_ends(screen, server_url, links, options):
    page = screen(options)
    page.goto(server_url + links["gradient-clipping"])
    run = wait_complete(page)
    page.click(".lesson-go")  # the lesson's Train, which brings the loss curve into sight
    page.wait_for_function("() => { const r = window.gfl.training.run; return !!r && r.steps >= 1; }")
    page.evaluate("() => new Promise(requestAnimationFrame)")  # Train brings the loss chart into sight first
    before = page.evaluate(LOSS_BOX)
    assert 0 <= before[0] and before[1] <= before[2], before
    page.wait_for_function(ENDED, arg="trained")
    wait_complete(page, after=run)
    page.wait_for_function("() => !document.getElementById('lesson-answer').hidden")  # the lesson's answer opened
    page.evaluate("() => new Promise(requestAnimationFrame)")
    assert page.evaluate(LOSS_BOX) == pytest.approx(before, abs=2)  # the loss curve the student was watching


# Text a student reads: every element with text of its own, and every text of the charts, drawn at >= 12 px.
# Sub- and superscripts are set smaller on purpose, as in print (Plotly's: a shifted tspan, the 2 of 10², at 70 %).
SMALL_TEXT = """() => {
  const shown = (e) => { const r = e.getBoundingClientRect(); return r.width > 0 && r.height > 0 &&
    getComputedStyle(e).visibility !== 'hidden' && !e.closest('[hidden], .visually-hidden, .skip-link'); };
  const small = [];
  for (const e of document.querySelectorAll('body *:not(sub):not(sup):not(tspan[dy]):not(script):not(style)')) {
    const own = [...e.childNodes].some((n) => n.nodeType === 3 && n.textContent.trim());
    if (!own || !shown(e)) continue;
    const size = parseFloat(getComputedStyle(e).fontSize);
    if (size < 11.95) small.push(`${size}px ${e.tagName.toLowerCase()}.${e.getAttribute('class') || ''}` +
      ` (${e.closest('[id]')?.id}): ${e.textContent.trim().slice(0, 30)}`);
  }
  return small;
}"""


@pytest.mark.parametrize("lesson", ["gradient-clipping", "truncated-bptt", "stacked-layers", "lstm-cell-state"])
def test_phone_text_is_at_least_12px(screen, server_url, links, lesson):
    page = screen(PHONE)
    page.goto(server_url + links[lesson])
    page.wait_for_function("() => window.gfl && window.gfl.trace")
    page.select_option("#speed", "0")
    run = wait_complete(page)
    page.click("#train")
    page.wait_for_function("() => ['trained', 'diverged'].includes(window.gfl.state.training.status)", timeout=120_000)
    wait_complete(page, after=run)
    page.click(".sidebar-fold > summary")  # the settings folded away on a phone, so their text counts too
    page.click(".sidebar-fold > summary")
    assert page.evaluate(SMALL_TEXT) == []


def test_text_scrolled_under_the_phones_sticky_player_bar_does_not_show_through_it(screen, server_url):
    page = screen(PHONE)
    page.goto(server_url + "/")
    wait_complete(page)
    page.evaluate("() => window.scrollTo(0, 900)")  # the views' text now passes under the bar
    bar = page.evaluate("""() => { const p = document.querySelector('.player'); const r = p.getBoundingClientRect();
      return [getComputedStyle(p).position, r.top, getComputedStyle(p).backgroundColor]; }""")
    assert bar[:2] == ["sticky", 0], bar  # the bar is stuck at the top, over the page
    assert bar[2].startswith("rgb("), bar  # an opaque colour: rgba(…, a < 1) would let the text show through


def test_the_summary_keeps_its_figures_on_one_row_at_1280(screen, server_url):
    page = screen({"viewport": {"width": 1280, "height": 720}})
    page.goto(server_url + "/")
    wait_complete(page)
    tops = page.evaluate("""() => [...document.querySelectorAll('#summary dl > div')]
      .map((d) => [d.querySelector('dt').textContent, Math.round(d.getBoundingClientRect().top)])""")
    assert len({top for _, top in tops}) == 1, tops  # "parameters" not alone on a second row


@pytest.mark.playback
@SCREENS
def test_the_clip_note_and_the_bounds_legend_do_not_overlap(screen, server_url, links, options):
    page = screen(options)
    page.goto(server_url + links["gradient-clipping"])
    page.wait_for_function("() => window.gfl && window.gfl.trace")
    page.select_option("#speed", "0")
    page.click(".lesson-go")
    wait_complete(page)
    boxes = page.evaluate("""() => { const el = document.getElementById('chart-grad-norm');
      const box = (e) => { const r = e.getBoundingClientRect(); return [r.left, r.top, r.right, r.bottom]; };
      const note = [...el.querySelectorAll('.annotation')].find((a) => a.textContent.startsWith('clip ‖g‖ at'));
      return { legend: box(el.querySelector('.legend')), note: note && box(note), chart: box(el) }; }""")
    legend, note, chart = boxes["legend"], boxes["note"], boxes["chart"]
    assert note and legend[2] > legend[0], boxes  # both drawn
    apart = note[3] <= legend[1] or legend[3] <= note[1] or note[2] <= legend[0] or legend[2] <= note[0]
    assert apart and chart[1] <= note[1], boxes
