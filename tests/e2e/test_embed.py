"""For teachers' slides: embed=1 shows only the views and still plays the run; hide=k1,k2 hides controls that keep
their link values."""

from __future__ import annotations

from urllib.parse import parse_qs, urlparse

import pytest

from tests.e2e.harness import wait_complete

HIDDEN_IN_EMBED = [".topbar", ".sidebar", "#controls", "#player", "#summary", "#training", "#notices"]
PLAYER = "() => ({ cursor: gfl.player.cursor, playing: gfl.player.playing, length: gfl.player.length })"


def query(page) -> dict[str, list[str]]:
    return parse_qs(urlparse(page.url).query)


@pytest.mark.playback
def test_embed_shows_only_the_views_and_plays(page, server_url):
    # A lesson link embedded in a slide: no panel, and the run plays by itself.
    page.goto(f"{server_url}/?cell=lstm&seq_len=30&forget_bias=3&lesson=lstm-cell-state&embed=1")
    page.wait_for_function("() => window.gfl && window.gfl.lastPaint && window.gfl.player.playing")
    run = wait_complete(page)
    for sel in [*HIDDEN_IN_EMBED, "#lesson"]:
        assert page.locator(sel).is_hidden(), sel
    for view in ("#view-grad-norm", "#view-hidden", "#view-grad-units", "#view-gates", "#view-eigen"):
        assert page.locator(view).is_visible(), view
    assert page.locator("#view-layers").is_hidden()  # one layer, one direction: an empty view is left out
    assert page.evaluate("() => document.getElementById('chart-grad-norm').data[0].x.length") == 30
    # The views take the whole width.
    width = page.evaluate("() => document.querySelector('.main').getBoundingClientRect().width")
    assert width > page.viewport_size["width"] * 0.95
    # The link keeps its keys; the corner opens the full page without embed.
    assert query(page)["embed"] == ["1"] and query(page)["lesson"] == ["lstm-cell-state"]
    href = page.get_attribute(".embed-bar a", "href")
    assert "embed" not in parse_qs(urlparse(href).query) and "cell=lstm" in href
    # Replay plays the sweep again from the start.
    page.click(".embed-bar button")
    assert page.evaluate(PLAYER)["playing"] and page.evaluate(PLAYER)["cursor"] < page.evaluate(PLAYER)["length"]
    page.wait_for_function(f"() => gfl.lastPaint.run === {run} && gfl.lastPaint.complete && !gfl.player.playing")
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
