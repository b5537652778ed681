"""Teaching links: a link restores every control and plays the run; bad values fall back with a notice."""

from __future__ import annotations

from urllib.parse import parse_qs, urlparse

from tests.e2e.harness import plot, wait_complete

GRAD_NORM_X = "() => document.getElementById('chart-grad-norm').data[0].x.length"
GRAD_NORM_Y = "() => document.getElementById('chart-grad-norm').data[0].y"


def query(page) -> dict[str, list[str]]:
    return parse_qs(urlparse(page.url).query)


def test_link_restores_controls_and_paints_every_step(page, server_url):
    page.goto(f"{server_url}/?cell=gru&seq_len=37&clip=norm&clip_at=0.5")
    assert page.input_value('[name="cell"]') == "gru"
    assert page.input_value('[name="seq_len"]') == "37"
    assert page.get_attribute('[name="seq_len"]', "type") == "range"
    assert page.input_value('[name="clip"]') == "norm"
    assert float(page.input_value('[name="clip_at"]')) == 0.5
    wait_complete(page)
    assert page.evaluate(GRAD_NORM_X) == 37
    y = page.evaluate(GRAD_NORM_Y)
    assert len(y) == 37 and all(isinstance(v, (int, float)) and v > 0 for v in y)
    # The hidden-state heatmap is units x time and has every step filled in.
    z = page.evaluate("() => document.getElementById('chart-hidden').data[0].z")
    assert len(z) == 32 and all(len(row) == 37 for row in z)
    assert all(v is not None for v in z[0])
    # GRU gates: reset, update, new; the clip threshold is written on the norm chart.
    names = [t["name"] for t in plot(page, "chart-gates")["data"] if t["type"] == "heatmap"]
    assert names == ["reset", "update", "new"]
    assert any("clip ‖g‖ at 0.5" in note for note in plot(page, "chart-grad-norm")["notes"])
    assert query(page) == {"v": ["1"], "cell": ["gru"], "seq_len": ["37"], "clip": ["norm"], "clip_at": ["0.5"]}
    assert page.log.errors == []


def test_bad_link_values_show_a_notice_and_fall_back(page, server_url):
    page.goto(f"{server_url}/?seq_len=abc&cell=cnn&gain=99&colour=red&hidden_size=16")
    notices = page.locator("#notices .notice")
    text = " ".join(notices.all_inner_texts())
    assert notices.count() == 4, text
    for key in ("seq_len", "cell", "gain", "colour"):
        assert key in text
    assert page.locator("#notices").is_visible()
    # Bad keys take their defaults, good ones are kept.
    assert page.input_value('[name="seq_len"]') == "50"
    assert page.input_value('[name="cell"]') == "rnn"
    assert page.input_value('[name="hidden_size"]') == "16"
    wait_complete(page)
    assert page.evaluate(GRAD_NORM_X) == 50
    # The link is rewritten to what is actually shown.
    assert query(page) == {"v": ["1"], "hidden_size": ["16"]}
    assert page.log.errors == []


def test_refused_config_is_shown_next_to_the_control(page, server_url):
    # 1000 x 1 x 250 x 4 cells: a sixteenth of the server's budget for one trace.
    page.goto(f"{server_url}/?seq_len=1000&hidden_size=250&num_layers=4&batch_size=1")
    run = wait_complete(page)
    assert page.locator("#notices .notice").count() == 0
    # Past the budget: the server refuses and the page says why, next to the control.
    page.fill('[name="batch_size"]', "64")
    page.wait_for_selector("#notices .notice[data-field='batch_size']")
    assert "batch_size" in page.inner_text("#notices")
    assert page.get_attribute('[name="batch_size"]', "aria-invalid") == "true"
    # Back within it, the notice goes and the new setting is traced.
    page.fill('[name="batch_size"]', "2")
    wait_complete(page, after=run)
    assert page.locator("#notices .notice[data-field='batch_size']").count() == 0


def test_copy_link_copies_the_address(page, server_url):
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    page.goto(f"{server_url}/?cell=lstm&seq_len=80")
    wait_complete(page)
    page.click("#copy-link")
    page.wait_for_function("() => document.getElementById('copy-link').textContent.startsWith('Copied')")
    assert page.evaluate("() => navigator.clipboard.readText()") == page.url
    assert query(page) == {"v": ["1"], "cell": ["lstm"], "seq_len": ["80"]}


# The run on show is whole and the views stand at the player's step `at`, paused.
STANDS_AT = """at => { const g = window.gfl, p = g && g.lastPaint;
  return !!(g.trace && g.trace.complete && p && p.cursor === at && !g.player.playing); }"""
VIEW_STATE = """() => { const $ = (id) => document.getElementById(id);
  return { show: $('view-layer').value, scrubber: $('scrubber').value, phase: $('phase').textContent,
           hidden: $('chart-hidden').data[0].z, norms: $('chart-grad-norm').data.map(t => t.y),
           enlarged: [...document.querySelectorAll('main .enlarged')].map((el) => el.id) }; }"""


def test_link_carries_show_layer_direction_step_and_enlarged_view_and_reopens_that_view(page, server_url):
    page.goto(f"{server_url}/?num_layers=2&bidirectional=1&seq_len=30")
    wait_complete(page)
    default = page.evaluate(VIEW_STATE)
    # Show the bottom layer's reverse direction, then step back 15 of the 60 steps (Shift+← moves T/10 = 3).
    page.select_option("#view-layer", "0,1")
    page.evaluate("() => document.activeElement.blur()")
    for _ in range(5):
        page.keyboard.press("Shift+ArrowLeft")
    page.wait_for_function(STANDS_AT, arg=45)
    assert query(page)["show"] == ["1,reverse"] and query(page)["step"] == ["45"]
    page.click("#view-hidden .enlarge")  # the hidden state's view, enlarged: the link says so too
    assert query(page)["view"] == ["hidden"] and query(page)["step"] == ["45"]
    here = page.evaluate(VIEW_STATE)
    assert here["hidden"] != default["hidden"], "Show changed the unit views"
    assert here["phase"] == "backward pass: ∂L/∂h_t from t = 29 back to 15"
    assert here["enlarged"] == ["view-hidden"]

    again = page.context.new_page()
    again.goto(page.url)
    again.wait_for_function(STANDS_AT, arg=45)
    assert again.evaluate(VIEW_STATE) == here
    assert again.url == page.url
    # Played on to its end, the run stands nowhere in particular: the step leaves the link, Show stays.
    again.keyboard.press("End")
    again.wait_for_function("() => !new URLSearchParams(location.search).has('step')")
    assert parse_qs(urlparse(again.url).query)["show"] == ["1,reverse"]
    assert page.log.errors == []
