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
