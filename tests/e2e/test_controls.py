"""Controls: moving one repaints the views and the URL follows; a reload gives the same numbers."""

from __future__ import annotations

import pytest

from tests.e2e.harness import last_run, wait_complete

GRAD_NORM = "() => { const d = document.getElementById('chart-grad-norm').data[0]; return {x: d.x.length, y: d.y}; }"


@pytest.mark.playback
def test_moving_seq_len_repaints_and_the_url_follows(page, server_url):
    page.goto(server_url + "/")
    run = wait_complete(page)
    assert page.evaluate(GRAD_NORM)["x"] == 50
    slider = page.locator('[name="seq_len"]')
    slider.fill("64")
    slider.dispatch_event("input")
    slider.dispatch_event("change")
    run = wait_complete(page, after=run)
    before = page.evaluate(GRAD_NORM)
    assert before["x"] == 64
    assert "seq_len=64" in page.url and "v=1" in page.url
    # Keyboard: one arrow press moves the slider one step.
    slider.focus()
    page.keyboard.press("ArrowRight")
    run = wait_complete(page, after=run)
    assert page.evaluate(GRAD_NORM)["x"] == 65
    assert "seq_len=65" in page.url
    slider.fill("64")
    run = wait_complete(page, after=run)
    again = page.evaluate(GRAD_NORM)
    assert again == before
    page.reload()
    wait_complete(page)
    assert page.input_value('[name="seq_len"]') == "64"
    assert page.evaluate(GRAD_NORM) == before  # same link, same numbers
    assert page.log.errors == []


def test_controls_that_do_not_apply_are_disabled_but_kept(page, server_url):
    page.goto(server_url + "/?nonlinearity=relu&clip=norm&clip_at=2")
    run = wait_complete(page)

    def disabled(name):
        return page.locator(f'[name="{name}"]').is_disabled()

    assert not disabled("nonlinearity") and disabled("forget_bias") and not disabled("clip_at")
    page.select_option('[name="cell"]', "lstm")
    page.select_option('[name="clip"]', "none")
    run = wait_complete(page, after=run)
    assert disabled("nonlinearity") and not disabled("forget_bias") and disabled("clip_at")
    # Still in the form, left out of the link while they do not apply.
    assert page.input_value('[name="nonlinearity"]') == "relu"
    assert page.input_value('[name="clip_at"]') == "2"
    assert "nonlinearity" not in page.url and "clip_at" not in page.url
    page.select_option('[name="cell"]', "rnn")
    assert "nonlinearity=relu" in page.url
    run = wait_complete(page, after=run)  # the RNN's run painted, so the next one waited for is one-to-one's
    page.select_option('[name="arch"]', "one-to-one")
    assert disabled("seq_len")
    wait_complete(page, after=run)
    assert page.evaluate("() => document.getElementById('chart-grad-norm').data[0].x.length") == 1
    assert page.log.errors == []


def test_every_config_key_has_a_labelled_control(page, server_url):
    page.goto(server_url + "/")
    fields = page.evaluate("async () => (await (await fetch('/api/config')).json()).fields")
    for f in fields:
        control = page.locator(f'#controls [name="{f["name"]}"]')
        assert control.count() == 1, f["name"]
        label = page.locator(f'label[for="{control.get_attribute("id")}"]')
        assert label.count() == 1 and label.inner_text().strip(), f["name"]
        kind = control.evaluate("el => el.tagName.toLowerCase() + ':' + (el.type || '')")
        expected = {"choice": "select", "bool": "input:checkbox"}.get(f["type"], "input")
        assert kind.startswith(expected), (f["name"], kind)


@pytest.mark.playback
def test_playback_keys_step_and_play(page, server_url):
    page.goto(server_url + "/?seq_len=20")
    wait_complete(page)
    page.locator("body").click(position={"x": 5, "y": 5})  # focus outside any form control
    scrub = page.locator("#scrubber")
    assert scrub.input_value() == "40"
    page.keyboard.press("ArrowLeft")
    page.keyboard.press("ArrowLeft")
    page.wait_for_function("() => document.getElementById('scrubber').value === '38'")
    page.keyboard.press("Home")
    page.wait_for_function("() => document.getElementById('scrubber').value === '0'")
    page.keyboard.press("Space")
    page.wait_for_function("() => window.gfl.player.playing")
    page.keyboard.press("Space")
    page.wait_for_function("() => !window.gfl.player.playing")
    # Typing in a number box never drives the player.
    page.locator('[name="seed"]').focus()
    cursor = page.evaluate("() => window.gfl.player.cursor")
    page.keyboard.press("ArrowLeft")
    page.keyboard.press("Space")
    assert page.evaluate("() => window.gfl.player.cursor") == cursor
    assert not page.evaluate("() => window.gfl.player.playing")
    assert last_run(page) >= 1
