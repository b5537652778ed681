"""For teachers' slides: embed=1 shows only the views (a lesson's question with them, its run waiting for Play;
compare's settings without its form); hide=k1,k2 hides controls that keep their link values."""

from __future__ import annotations

from urllib.parse import parse_qs, urlparse

import pytest

from tests.e2e.harness import wait_complete

HIDDEN_IN_EMBED = [".topbar", ".sidebar", "#controls", "#player", "#summary", "#training", "#notices"]
PLAYER = "() => ({ cursor: gfl.player.cursor, playing: gfl.player.playing, length: gfl.player.length })"
# What a lesson embedded leaves out: its place in the list, the tries and the reading (a slide has no room for them).
LESSON_EXTRAS = [".lesson-nav", ".lesson-fold", ".lesson-tries", ".lesson-more", ".lesson-kicker"]


def query(page) -> dict[str, list[str]]:
    return parse_qs(urlparse(page.url).query)


@pytest.mark.playback
def test_embed_shows_only_the_views_and_a_lesson_keeps_its_predict_first_pause(page, server_url):
    # A lesson link embedded in a slide: its question above the views, and its run waits for Play.
    page.goto(f"{server_url}/?cell=lstm&seq_len=30&forget_bias=3&lesson=lstm-cell-state&embed=1")
    page.wait_for_function("() => window.gfl && gfl.trace && gfl.trace.complete && gfl.lastPaint")
    assert page.evaluate(PLAYER)["cursor"] == 0 and not page.evaluate(PLAYER)["playing"]
    assert page.locator(".lesson-question").is_visible() and page.locator("#lesson-answer").is_hidden()
    for sel in [*HIDDEN_IN_EMBED, *LESSON_EXTRAS]:
        assert page.locator(sel).is_hidden(), sel
    assert page.locator("#view-eigen").is_hidden()  # predict first: the eigenvalues wait for Play
    for view in ("#view-grad-norm", "#view-hidden", "#view-grad-units", "#view-gates"):
        assert page.locator(view).is_visible(), view
    assert page.locator("#view-layers").is_hidden()  # one layer, one direction: an empty view is left out
    # No blank strip: the question starts at the top, the embed's strip right under it.
    lesson = page.evaluate("() => document.getElementById('lesson').getBoundingClientRect().toJSON()")
    bar = page.evaluate("() => document.querySelector('.embed-bar').getBoundingClientRect().toJSON()")
    assert lesson["top"] <= 10 and 0 <= bar["top"] - lesson["bottom"] <= 12, (lesson, bar)
    # The views take the whole width.
    width = page.evaluate("() => document.querySelector('#main').getBoundingClientRect().width")
    assert width > page.viewport_size["width"] * 0.95
    # Play: the run plays through, and then the answer opens.
    page.click(".lesson-go")
    run = wait_complete(page)
    page.wait_for_function("() => !document.getElementById('lesson-answer').hidden")
    assert page.locator("#view-eigen").is_visible()
    assert page.evaluate("() => document.getElementById('chart-grad-norm').data[0].x.length") == 30
    # The link keeps its keys; the corner opens the full page without embed.
    assert query(page)["embed"] == ["1"] and query(page)["lesson"] == ["lstm-cell-state"]
    href = page.get_attribute(".embed-bar a", "href")
    assert "embed" not in parse_qs(urlparse(href).query) and "cell=lstm" in href
    # Replay plays the sweep again from the start.
    page.click(".embed-bar button")
    assert page.evaluate(PLAYER)["playing"] and page.evaluate(PLAYER)["cursor"] < page.evaluate(PLAYER)["length"]
    page.wait_for_function(f"() => gfl.lastPaint.run === {run} && gfl.lastPaint.complete && !gfl.player.playing")
    assert page.log.errors == [] and page.log.foreign_requests() == []


def test_embed_of_compare_shows_the_settings_compared_not_the_form_that_edits_them(page, server_url):
    page.goto(f"{server_url}/?seq_len=20&cmp_b=cell:lstm&embed=1")
    page.wait_for_function("() => document.getElementById('compare').classList.contains('has-alternatives')")
    page.wait_for_function("() => (document.getElementById('chart-compare-norms').data || []).length >= 2")
    for sel in ("#compare", "#compare-chips", "#chart-compare-norms", "#compare-table"):
        assert page.locator(sel).is_visible(), sel
    assert "LSTM" in page.inner_text("#compare-chips")
    for sel in ("#compare-form", ".chip-remove", "#compare-train", "#compare-csv", "#compare-json", ".png"):
        assert page.locator(sel).evaluate_all("els => els.filter((el) => el.getClientRects().length > 0)") == [], sel
    assert page.log.errors == [] and page.log.foreign_requests() == []


def test_hide_hides_controls_that_keep_their_values(page, server_url):
    page.goto(f"{server_url}/?cell=gru&seq_len=37&clip=norm&clip_at=0.5&hide=cell,seq_len,clip,clip_at,colour")
    page.select_option("#speed", "0")
    run = wait_complete(page)
    for key in ("cell", "seq_len", "clip", "clip_at"):
        assert page.locator(f'.control[data-field="{key}"]').is_hidden(), key
    assert page.locator(".group-clipping").is_hidden()  # every control of the group is hidden
    assert page.locator(".group-model").is_visible() and page.locator('[name="hidden_size"]').is_visible()
    # Hidden, not gone: they keep the link's values, and so does the run.
    assert page.input_value('[name="cell"]') == "gru" and page.input_value('[name="seq_len"]') == "37"
    assert page.evaluate("() => document.getElementById('chart-grad-norm').data[0].x.length") == 37
    assert "colour" in page.inner_text("#notices")  # hide names no such control
    # Another control changes: the hidden keys and hide= itself stay in the link.
    page.select_option('[name="init"]', "orthogonal")
    wait_complete(page, after=run)
    q = query(page)
    assert q["cell"] == ["gru"] and q["seq_len"] == ["37"] and q["clip_at"] == ["0.5"] and q["init"] == ["orthogonal"]
    assert q["hide"] == ["cell,seq_len,clip,clip_at,colour"]
    assert page.log.errors == [] and page.log.foreign_requests() == []
