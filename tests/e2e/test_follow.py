"""The room follows the teacher: a follower's page mirrors the presenter's (setting, steps, the enlarged view),
steps away and rejoins, cannot drive."""

from __future__ import annotations

import json

import pytest

from tests.e2e.harness import VIEWPORT, new_context, wait_complete

FOLLOW_SEQ = "() => Number(document.body.dataset.followSeq || 0)"
PLAYER = "() => ({cursor: gfl.player.cursor, playing: gfl.player.playing})"
BOX = "s => { const r = document.querySelector(s).getBoundingClientRect(); return [r.left, r.top, r.width, r.height]; }"


@pytest.fixture
def room(chromium, page, server_url):
    """(presenter page, follower page, follow link): the presenter opened a room on a short setting."""
    page.goto(f"{server_url}/?seq_len=12&hidden_size=8")
    wait_complete(page)
    page.click("#start-room")
    link = page.locator("#follow-link")
    link.wait_for(state="visible")
    context = new_context(chromium, viewport=VIEWPORT)
    follower = context.new_page()
    follower.set_default_timeout(60_000)
    follower.goto(link.get_attribute("href"))
    yield page, follower, link.get_attribute("href")
    context.close()


def shown_seq(follower, after: int) -> int:
    """Wait for a follow frame newer than ``after`` to be on show; its number."""
    follower.wait_for_function(f"() => ({FOLLOW_SEQ})() > {after}")
    return follower.evaluate(FOLLOW_SEQ)


def pause_at(page, cursor: int) -> None:
    """The presenter's player, paused at ``cursor`` (its own keys: Home, then → steps)."""
    page.locator("#chart-grad-norm").click()  # the page has the keyboard, no control does
    # Home keeps a playing run playing (and the cursor moving on): seek once the run has played to its end.
    page.wait_for_function("() => !gfl.player.playing")
    page.keyboard.press("Home")
    for _ in range(cursor):
        page.keyboard.press("ArrowRight")
    page.wait_for_function(f"() => gfl.player.cursor === {cursor} && !gfl.player.playing")


@pytest.mark.playback  # the presenter's lesson run waits for Play, as a lesson's does at its own speed
def test_a_follower_mirrors_the_presenters_setting_playback_step_and_lesson_step(room, server_url):
    presenter, follower, _ = room
    seq = shown_seq(follower, 0)
    assert follower.input_value('[name="seq_len"]') == "12"
    presenter.select_option('[name="cell"]', "gru")
    wait_complete(presenter)
    pause_at(presenter, 5)
    follower.wait_for_function("() => document.querySelector('[name=cell]').value === 'gru'")
    follower.wait_for_function(f"() => ({PLAYER})().cursor === 5 && !gfl.player.playing")
    seq = shown_seq(follower, seq)
    assert follower.evaluate("() => gfl.state.config.cell") == "gru" and follower.evaluate("() => gfl.trace.complete")
    # A lesson: the follower's page opens it too, and shows its answer when the presenter does.
    lesson = presenter.evaluate("() => document.querySelector('#lesson-picker option[value*=\"lesson=\"]').value")
    presenter.goto(server_url + lesson)
    lesson_id = presenter.get_attribute("#lesson", "data-lesson")
    follower.wait_for_function(f"() => document.querySelector('#lesson')?.dataset.lesson === {json.dumps(lesson_id)}")
    shown_seq(follower, 0)
    assert follower.is_hidden("#lesson-answer")
    presenter.click(".lesson-reveal")  # the lesson's run waits for Play (predict first): the presenter answers
    follower.wait_for_function("() => !document.getElementById('lesson-answer').hidden")
    assert presenter.is_visible("#follow-link") and follower.is_hidden("#follow-link")


def test_a_follower_that_steps_away_keeps_its_own_setting_and_rejoins_with_one_click(room):
    presenter, follower, _ = room
    seq = shown_seq(follower, 0)
    follower.select_option('[name="cell"]', "lstm")
    follower.locator("#follow-rejoin").wait_for(state="visible")
    presenter.select_option('[name="cell"]', "gru")
    wait_complete(presenter)
    # The frame arrives while the follower is away: its page keeps the follower's own choice.
    follower.wait_for_function(f"() => gfl.room.latest && gfl.room.latest.seq > {seq}")
    assert follower.input_value('[name="cell"]') == "lstm" and follower.evaluate(FOLLOW_SEQ) == seq
    follower.click("#follow-rejoin")
    shown_seq(follower, seq)
    assert follower.input_value('[name="cell"]') == "gru" and follower.is_hidden("#follow-rejoin")


def test_a_follower_cannot_drive_the_room(room):
    presenter, follower, link = room
    seq = shown_seq(follower, 0)
    assert follower.evaluate("() => sessionStorage.getItem('gfl-room')") is None  # the page never held the secret
    room_id = link.split("#follow=")[1]
    # The follower's page sends a set on a socket of its own: the server refuses it, naming the secret.
    refused = follower.evaluate("""room => new Promise((resolve) => {
        const ws = new WebSocket(`ws://${location.host}/rooms/ws`);
        ws.onopen = () => ws.send(JSON.stringify({type: "join", room}));
        ws.onmessage = (e) => { const f = JSON.parse(e.data);
          if (f.type === "joined") ws.send(JSON.stringify({type: "set", state: {query: "?v=1&cell=lstm", step: 0,
            playing: false, lesson_step: 0, enlarged: null}}));
          if (f.type === "error") { ws.close(); resolve(f); } };
      })""", room_id)
    assert refused["field"] == "secret"
    # The room still follows its presenter alone.
    presenter.select_option('[name="cell"]', "gru")
    shown_seq(follower, seq)
    assert follower.input_value('[name="cell"]') == "gru" and presenter.input_value('[name="cell"]') == "gru"


def test_a_follower_mirrors_the_view_the_presenter_enlarges_and_gives_back(room):
    presenter, follower, _ = room
    seq = shown_seq(follower, 0)
    enlarged = "() => [...document.querySelectorAll('main .enlarged')].map((el) => el.id)"
    assert follower.evaluate(enlarged) == []
    presenter.click("#view-hidden .enlarge")
    seq = shown_seq(follower, seq)
    assert follower.evaluate(enlarged) == ["view-hidden"] and follower.is_hidden("#view-grad-norm")
    assert "view=hidden" in follower.evaluate("() => location.search")  # its own link says it too
    # It fills the views' column as on the presenter's own page (whose type and settings' fold stay its own).
    box, own = follower.evaluate(BOX, "#view-hidden"), presenter.evaluate(BOX, "#view-hidden")
    assert abs(box[2] - own[2]) < 2 and box[3] > 0.8 * VIEWPORT["height"], (box, own)
    presenter.click("#view-hidden .enlarge")  # All views
    shown_seq(follower, seq)
    assert follower.evaluate(enlarged) == [] and follower.is_visible("#view-grad-norm")
    assert follower.is_hidden("#follow-rejoin")  # the room's own changes never count as stepping away
