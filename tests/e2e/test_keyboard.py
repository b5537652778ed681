"""The page by keyboard: Cell to Train in at most 30 Tab presses; a slider and its exact-value box are one stop
(Enter opens the box); the player's buttons are one stop with the arrow keys inside; a skip link reaches the charts."""

from __future__ import annotations

import pytest

from tests.e2e.harness import wait_complete

ACTIVE = "() => { const e = document.activeElement; return e.name || e.id || e.textContent.trim(); }"


@pytest.mark.playback
def test_cell_to_train_takes_at_most_30_tab_presses(page, server_url):
    page.goto(server_url + "/")
    wait_complete(page)
    page.focus('[name="cell"]')
    presses = 0
    while page.evaluate(ACTIVE) != "train":
        page.keyboard.press("Tab")
        presses += 1
        assert presses <= 30, f"{presses} presses and not yet at Train (at {page.evaluate(ACTIVE)})"
    assert page.log.errors == []


@pytest.mark.playback
def test_a_slider_and_its_exact_value_box_are_one_stop_and_enter_opens_the_box(page, server_url):
    page.goto(server_url + "/")
    run = wait_complete(page)
    page.focus('[name="seq_len"]')
    page.keyboard.press("Tab")
    assert page.evaluate(ACTIVE) == "tbptt"  # past seq_len's box
    page.focus('[name="seq_len"]')
    page.keyboard.press("Enter")
    assert page.evaluate("() => document.activeElement.classList.contains('number-twin')")
    page.keyboard.type("64")
    page.keyboard.press("Enter")  # commits, and back on the slider
    assert page.evaluate(ACTIVE) == "seq_len"
    wait_complete(page, after=run)
    assert "seq_len=64" in page.url


@pytest.mark.playback
def test_the_players_buttons_are_one_stop_with_arrow_keys_inside(page, server_url):
    page.goto(server_url + "/")
    wait_complete(page)
    page.focus("#step-back")
    cursor = page.evaluate("() => window.gfl.player.cursor")
    page.keyboard.press("ArrowRight")
    assert page.evaluate(ACTIVE) == "play"
    assert page.evaluate("() => window.gfl.player.cursor") == cursor  # the arrow moved focus, not the player
    page.keyboard.press("Tab")
    assert page.evaluate(ACTIVE) == "scrubber"
    page.keyboard.press("Shift+Tab")
    assert page.evaluate(ACTIVE) == "play"  # the group remembers where it was left


@pytest.mark.playback
def test_a_skip_link_takes_the_keyboard_to_the_charts(page, server_url):
    page.goto(server_url + "/")
    wait_complete(page)
    page.keyboard.press("Tab")
    page.keyboard.press("Tab")
    assert page.evaluate("() => document.activeElement.textContent") == "Skip to the charts"
    page.keyboard.press("Enter")
    assert page.evaluate("() => document.activeElement.id") == "views"
    page.keyboard.press("Tab")
    assert page.evaluate("() => !!document.activeElement.closest('#views')")
