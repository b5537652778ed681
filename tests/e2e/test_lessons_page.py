"""A lesson on the page: the answer button, the picker and the fold, a training lesson's answer, the answer opened
once per run, the reset button.

Every lesson is opened once, in tests/e2e/test_static_site.py (the same page, from the exported copy): there the
checks here (check_opened, check_views, check_try) run on each lesson, its tries and its trainings."""

from __future__ import annotations

from urllib.parse import parse_qs, urlparse

import pytest

from engine.config import FIELD_BY_NAME
from tests.e2e.harness import plot, wait_complete

# The DOM value of each named control: checked for a checkbox, else its value.
CONTROL_VALUES = """() => Object.fromEntries([...document.querySelectorAll('#controls [name]')]
  .map(el => [el.name, el.type === 'checkbox' ? el.checked : el.value]))"""
HELD = "() => { const g = window.gfl; return !!(g && g.trace && g.lastPaint && g.lastPaint.run === g.trace.run); }"
NEXT_PAINT = "() => new Promise((done) => requestAnimationFrame(() => requestAnimationFrame(done)))"
PLAYER = "() => ({ cursor: gfl.player.cursor, playing: gfl.player.playing, length: gfl.player.length })"
MEMORY_GATE = {"lstm": "∏ forget gate (memory path)", "gru": "∏ update gate (memory path)"}
BOUND = "bound: (γ·σ<sub>max</sub>)<sup>distance</sup>"  # typeset as the page does


def plain(text: str) -> str:
    """Lesson text without the script marks the page turns into sub- and superscripts, and without spaces."""
    return "".join(c for c in text if c not in "_^{}() \n")


def query(page) -> dict[str, list[str]]:
    return parse_qs(urlparse(page.url).query)


def same_value(shown, want) -> bool:
    if isinstance(want, bool):
        return shown is want
    if isinstance(want, (int, float)):
        return float(shown) == float(want)
    return shown == want


def check_opened(page, doc: dict, picker: str) -> None:
    """A lesson's page as it opens: its panel and question, the link's values in the controls, its tries; a
    question about the sweep holds the run at step 0, the answer and the eigenvalues waiting."""
    assert page.inner_text("#lesson-title") == doc["title"]
    assert page.locator("#lesson").is_visible()
    assert page.input_value("#lesson-picker") == picker
    assert plain(page.inner_text(".lesson-question")) == plain(doc["question"])
    shown = page.evaluate(CONTROL_VALUES)
    for key, want in doc["config"].items():
        assert same_value(shown[key], want), f"{doc['id']}: {key} shows {shown[key]!r}, the link says {want!r}"
    assert page.locator("button.try").count() == len(doc["tries"])
    page.wait_for_function(HELD)
    if not doc["trains"]:
        # "Predict, then press play": the lesson's run waits at its start, the answer hidden.
        assert page.evaluate(PLAYER)["cursor"] == 0 and not page.evaluate(PLAYER)["playing"]
        assert page.locator("#lesson-answer").is_hidden()
        # The eigenvalues would give the answer away: they wait too, and the view says why.
        assert page.locator("#view-eigen .empty-note").is_visible() and page.locator("#chart-eigen").is_hidden()
        assert page.inner_text('#summary [data-stat="norm"]') == page.inner_text('#summary [data-stat="loss"]') == "…"


def check_views(page, doc: dict, cfg: dict) -> None:
    """The run shown whole: every timestep of ‖∂L/∂h_t‖ and h_t, the cell's theory overlay, the eigenvalues."""
    if not doc["trains"]:
        assert page.locator("#lesson-answer").is_visible(), "the answer shows once the run has played through"
    T = 1 if cfg["arch"] == "one-to-one" else cfg["seq_len"]
    T *= 2 if cfg["arch"] == "encoder-decoder" else 1  # encoder steps, then decoder steps
    norms = plot(page, "chart-grad-norm")["data"]
    first = norms[0]
    # With truncated BPTT and the loss at the last step only, the steps before the last window are gaps: the cut.
    cut = T - cfg["tbptt"] if cfg.get("tbptt") and cfg["arch"] in ("many-to-one", "one-to-one") else 0
    assert len(first["x"]) == T and all(isinstance(v, (int, float)) for v in first["y"][cut:]), doc["id"]
    assert all(v is None for v in first["y"][:cut]), doc["id"]
    z = page.evaluate("() => document.getElementById('chart-hidden').data[0].z")
    assert len(z) == cfg["hidden_size"] and all(v is not None for v in z[0]) and len(z[0]) == T, doc["id"]
    names = {t.get("name") for t in norms}
    if cfg["cell"] == "rnn":
        # The bound where the loss enters once; where every step has a loss of its own, the lag map's curve has it.
        many_losses = page.evaluate("() => gfl.trace.start.scored_steps.length") > 1
        assert (BOUND in names) != many_losses, doc["id"]
    else:
        assert MEMORY_GATE[cfg["cell"]] in names, doc["id"]
    assert page.locator("#chart-eigen").is_visible() and page.locator("#view-eigen .empty-note").is_hidden()
    assert page.inner_text('#summary [data-stat="norm"]') not in ("…", "–"), doc["id"]
    eigen = plot(page, "chart-eigen")["data"]
    blocks = {"rnn": 1, "lstm": 4, "gru": 3}[cfg["cell"]]
    assert len(eigen) == blocks and all(len(tr["x"]) == cfg["hidden_size"] for tr in eigen), doc["id"]


def link_text(value) -> str:
    """A value as the page writes it into the link (String(value) in JavaScript; a bool as 1 or 0)."""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def check_try(page, doc: dict, i: int, before: dict, link_before: dict, config: dict) -> None:
    """After pressing try i (giving ``config``): exactly its control and its key of the link changed (and the link
    dropped the keys that no longer apply, as seq_len for one-to-one), and its look_for shows."""
    t = doc["tries"][i]
    after = page.evaluate(CONTROL_VALUES)
    changed = {k for k in after if after[k] != before[k]}
    assert changed == {t["key"]}, f"{doc['id']} try {i}: {changed}"
    assert same_value(after[t["key"]], t["value"])
    field = FIELD_BY_NAME[t["key"]]
    want = {k: v for k, v in link_before.items() if k not in FIELD_BY_NAME or FIELD_BY_NAME[k].applies_to(config)}
    want.pop(t["key"], None)
    if t["value"] != field.default:
        want[t["key"]] = [link_text(t["value"])]
    assert query(page) == want, f"{doc['id']} try {i}"
    assert page.get_attribute(f"button.try[data-try='{i}']", "aria-pressed") == "true"
    assert page.locator(f".look-for[data-try='{i}']").is_visible()
    assert plain(t["look_for"]) in plain(page.inner_text(f".look-for[data-try='{i}']"))


def check_try_undone(page, i: int, before: dict, link_before: dict) -> None:
    """Try i pressed again: the lesson's values and link are back, its look_for hidden."""
    assert page.evaluate(CONTROL_VALUES) == before and query(page) == link_before
    assert page.locator(f".look-for[data-try='{i}']").is_hidden()


@pytest.mark.playback
def test_answer_button_picker_and_fold(page, server_url):
    page.goto(server_url + "/?lesson=exploding-gradients&nonlinearity=relu&init=identity&gain=1.2")
    page.wait_for_function(HELD)
    assert page.locator("#lesson-answer").is_hidden()
    page.click(".lesson-reveal")
    assert page.locator("#lesson-answer").is_visible()
    assert page.get_attribute(".lesson-reveal", "aria-expanded") == "true"
    page.click(".lesson-fold")
    assert page.locator("#lesson-body").is_hidden() and page.locator("#view-grad-norm").is_visible()
    page.click(".lesson-fold")
    assert page.locator(".lesson-question").is_visible()
    # The panel's play button plays the lesson's run.
    page.click(".lesson-go")
    wait_complete(page)
    # Choosing another lesson in the picker opens it.
    target = page.locator("#lesson-picker option").nth(1).get_attribute("value")
    with page.expect_navigation():
        page.select_option("#lesson-picker", target)
    assert query(page)["lesson"] == ["four-shapes"]
    assert page.inner_text("#lesson-title").startswith("Four shapes")
    assert page.log.errors == []


@pytest.mark.playback
def test_training_lesson_reveals_its_answer_after_training(page, server_url):
    page.goto(server_url + "/?v=1&hidden_size=16&task=sine&seq_len=20&batch_size=32&steps=150&lesson=price-forecast")
    assert page.inner_text(".lesson-predict h3").lower() == "predict, then press train"
    page.select_option("#speed", "0")
    run = wait_complete(page)
    assert page.locator("#lesson-answer").is_hidden(), "the sweep before training does not answer a training question"
    page.click(".lesson-go")  # Train, from the panel
    page.wait_for_selector("#lesson-answer", state="visible", timeout=60_000)
    assert page.evaluate("() => gfl.lastPaint.run") > run  # the trained model's trace
    assert page.log.errors == []


FOUR_SHAPES = "/?v=1&hidden_size=16&seq_len=20&lesson=four-shapes"  # the lesson's own link


@pytest.mark.playback
def test_each_run_opens_the_answer_once_and_only_training_counts_for_train(page, server_url):
    page.goto(server_url + FOUR_SHAPES)
    page.wait_for_function(HELD)
    page.select_option("#speed", "0")
    page.click("#play")  # at instant speed the held run is shown whole
    run = wait_complete(page)
    assert page.locator("#lesson-answer").is_visible()
    page.click(".lesson-reveal")  # hidden again by hand
    # Repainting the run whole again (step back, step forward) leaves it hidden.
    page.click("#step-back")
    page.click("#step-forward")
    page.wait_for_function("() => gfl.lastPaint.complete && gfl.player.cursor === gfl.player.length")
    assert page.locator("#lesson-answer").is_hidden(), "a repaint opened the answer again"
    # Train, stopped at once: the runs that follow are not the trained model's, even back at the lesson's setting.
    page.evaluate("() => { document.getElementById('train').click(); document.getElementById('stop').click(); }")
    page.click("button.try[data-try='0']")
    run = wait_complete(page, after=run)
    page.click("button.try[data-try='0']")
    wait_complete(page, after=run)
    assert page.evaluate("() => gfl.lesson.isLessonSetting()")
    assert page.locator("#lesson-answer").is_hidden(), "an untrained run after Stop opened the answer"
    assert page.log.errors == []


@pytest.mark.playback  # the lesson's run waits for the prediction at the page's own speed
def test_choosing_instant_while_the_lesson_waits_for_its_prediction_keeps_the_answer_hidden(page, server_url):
    page.goto(server_url + FOUR_SHAPES)
    page.wait_for_function(HELD)
    page.select_option("#speed", "0")
    page.evaluate(NEXT_PAINT)
    assert page.evaluate(PLAYER)["cursor"] == 0 and not page.evaluate(PLAYER)["playing"], "the run left its start"
    assert page.locator("#lesson-answer").is_hidden() and page.locator("#chart-eigen").is_hidden()
    # Play, at instant speed: the run whole at once, and its answer.
    page.click("#play")
    wait_complete(page)
    player = page.evaluate(PLAYER)
    assert player["cursor"] == player["length"] and page.locator("#lesson-answer").is_visible()
    assert page.log.errors == []


def test_lesson_reset_reruns_when_a_training_key_changed_last(page, server_url):
    page.goto(server_url + FOUR_SHAPES)
    page.select_option("#speed", "0")
    run = wait_complete(page)
    page.click("button.try[data-try='0']")  # arch → many-to-many
    run = wait_complete(page, after=run)
    page.fill('[name="lr"]', "0.05")
    page.dispatch_event('[name="lr"]', "change")  # a training key: no new trace
    page.click(".try-reset")
    wait_complete(page, after=run, timeout=10_000)
    assert page.evaluate("() => [gfl.trace.config.arch, gfl.controls.read().lr]") == ["many-to-one", 0.01]
    assert page.evaluate("() => gfl.lesson.isLessonSetting()")
    assert "arch" not in query(page) and "lr" not in query(page)
    assert page.log.errors == []
