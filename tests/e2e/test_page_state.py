"""The page's one owner of state, seen in the browser: what the page shows is always labelled with the setting
that produced it, focus and scrolling follow the user, and a slider drag pipelines its requests (latest wins)
instead of waiting on a fixed throttle."""

from __future__ import annotations

from urllib.parse import parse_qs, urlparse

import pytest

from tests.e2e.harness import wait_complete

# A lesson's own run waits at step 0 for Play: its data is all here, its paint is not whole.
HELD = "() => !!window.gfl && !!window.gfl.trace && window.gfl.trace.complete"
TRAIN_DONE = "() => { const t = window.gfl.state.training; return t.status === 'trained' || t.status === 'diverged'; }"
TRAINED_SHOWN = """() => { const s = window.gfl.state, v = s.view.shown;
  return !!v && !!v.trained && v.trained.seq === s.training.seq && window.gfl.lastPaint.complete; }"""
STEPPING = "() => /step \\d+/.test(document.getElementById('train-status').textContent)"
CLIPPING = "/?lesson=gradient-clipping&" + (
    "nonlinearity=relu&hidden_size=16&task=sine&seq_len=20&init=normal&gain=1.5&clip=norm&optimizer=sgd&lr=0.1&steps=200"
)


@pytest.mark.playback
def test_a_try_that_changes_a_training_key_labels_the_old_training(page, server_url):
    page.goto(server_url + CLIPPING)
    wait_complete(page)
    page.click("#lesson .lesson-go")
    page.wait_for_function(TRAINED_SHOWN)
    assert "now show the trained model" in page.inner_text("#train-banner")
    page.click('#lesson button.try[data-key="clip"][data-value=\'"none"\']')
    # The summary shows the untrained model of clip = none; the training panel says its run is another setting's.
    page.wait_for_function("() => window.gfl.state.showsCurrent() && window.gfl.lastPaint.complete")
    banner = page.inner_text("#train-banner")
    assert "now show the trained model" not in banner, banner
    assert "trained for Clipping = by total norm" in banner and "press Train for this setting" in banner, banner
    assert page.is_hidden("#model-badge")
    note = page.locator("#lesson .look-for:visible")
    assert note.count() == 1 and note.inner_text().startswith("Press Train, then look for:")
    # Train again: now the note and the banner are about this setting.
    page.click("#train")
    page.wait_for_function(TRAIN_DONE)
    page.wait_for_function(
        "() => !/Press Train/.test(document.querySelector('#lesson .look-for:not([hidden])').textContent)"
    )
    assert "press Train for this setting" not in page.inner_text("#train-banner")
    assert page.log.errors == []


def test_stop_after_a_finished_training_says_which_model_the_views_show(page, server_url):
    page.goto(server_url + "/?steps=300&cell=gru&task=adding&seq_len=20&hidden_size=16")
    wait_complete(page)
    page.click("#train")
    page.wait_for_function(TRAINED_SHOWN, timeout=120_000)
    # A longer training of the same model: the same steps again would be the server's cached replay, over at once.
    page.fill('[name="steps"]', "5000")
    page.press('[name="steps"]', "Enter")
    page.click("#train")
    page.wait_for_function(STEPPING)
    page.click("#stop")
    page.wait_for_function("() => window.gfl.state.training.status === 'stopped'")
    banner = page.inner_text("#train-banner")
    # The views still show the first training's model, and the banner and the badge agree on it.
    assert page.is_visible("#model-badge")
    assert "untrained" not in banner, banner
    assert "the model trained 300 steps" in banner, banner
    assert page.log.errors == []


@pytest.mark.playback
def test_training_in_a_lesson_brings_the_loss_chart_into_sight_then_opens_the_answer(page, server_url):
    page.goto(server_url + CLIPPING)
    wait_complete(page)
    # Where the loss chart is at the first paint of the training (200 steps may be over in a second).
    page.evaluate("""() => { window.lossInView = new Promise((resolve) =>
      window.addEventListener('gfl:train-painted', () => {
      const r = document.getElementById('chart-loss').getBoundingClientRect();
      resolve(r.height > 0 && r.top >= 0 && r.bottom <= window.innerHeight); }, { once: true })); }""")
    page.click("#lesson .lesson-go")
    assert page.evaluate("() => window.lossInView"), "the loss chart is what to watch while it trains"
    page.wait_for_function(TRAINED_SHOWN)
    # The answer opens where it is: the page stays on the loss curve (tests/e2e/test_layout.py).
    page.wait_for_selector("#lesson-answer:not([hidden])")


def test_a_long_computation_says_it_is_computing_and_for_which_setting(page, server_url):
    # A quarter of the largest trace's work: seconds of computing, far past the page's 300 ms before it says so.
    page.goto(server_url + "/?cell=lstm&seq_len=2000&hidden_size=256&batch_size=8")
    page.wait_for_selector("#view-status:not([hidden])", timeout=5_000)
    text = page.inner_text("#view-status")
    assert "Computing the trace for" in text and "Cell = LSTM" in text, text
    # Once part of the LSTM's trace is on show, switch to the GRU: the views say they still show the LSTM.
    page.wait_for_function("() => !!window.gfl.trace && window.gfl.trace.config.cell === 'lstm'", timeout=120_000)
    page.select_option('[name="cell"]', "gru")
    page.wait_for_function(
        "() => /Cell = GRU/.test(document.getElementById('view-status').textContent)", timeout=5_000
    )
    text = page.inner_text("#view-status")
    assert "the views show Cell = LSTM" in text, text
    page.goto("about:blank")  # the server stops the big computation when the socket closes


@pytest.mark.playback
def test_focus_stays_on_the_button_pressed(page, server_url):
    page.goto(server_url + "/?steps=2000&seq_len=20&hidden_size=8")
    wait_complete(page)
    page.focus("#train")
    page.keyboard.press("Enter")
    page.wait_for_function(STEPPING)
    assert page.evaluate("() => document.activeElement.id") == "train"
    page.focus("#stop")
    page.keyboard.press("Enter")
    page.wait_for_function("() => window.gfl.state.training.status === 'stopped'")
    assert page.evaluate("() => document.activeElement.id") == "stop"
    assert page.get_attribute("#stop", "aria-disabled") == "true"
    # Stop then Stop again, then Train: each does what it says, nothing else.
    page.keyboard.press("Enter")
    assert page.evaluate("() => window.gfl.state.training.status") == "stopped"


@pytest.mark.playback
def test_in_a_lesson_the_panel_comes_before_the_settings_in_tab_order(page, server_url):
    page.goto(server_url + "/?seq_len=100&lesson=vanishing-gradients")
    page.wait_for_function(HELD)
    for _ in range(40):
        page.keyboard.press("Tab")
        where = page.evaluate(
            """() => { const el = document.activeElement;
                return el.closest('#lesson') ? 'lesson' : el.closest('#controls') ? 'controls' : ''; }"""
        )
        if where:
            break
    assert where == "lesson"


@pytest.mark.playback
def test_the_lesson_picker_changes_lesson_only_on_enter(page, server_url):
    page.goto(server_url + "/?seq_len=100&lesson=vanishing-gradients")
    page.wait_for_function(HELD)
    before = page.url
    page.focus("#lesson-picker")
    page.keyboard.press("ArrowDown")
    # The picker takes the key (its value moves, it says how to open it) and the page stays.
    page.wait_for_function("() => document.getElementById('lesson-picker').title.startsWith('Press Enter')")
    assert page.url == before
    chosen = page.evaluate("() => document.getElementById('lesson-picker').value")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert parse_qs(urlparse(page.url).query)["lesson"] == parse_qs(urlparse(server_url + chosen).query)["lesson"]


def test_after_stop_no_time_is_left_and_the_progress_agrees(page, server_url):
    page.goto(server_url + "/?steps=3000&seq_len=20&hidden_size=8")
    wait_complete(page)
    page.click("#train")
    page.wait_for_function("() => / left/.test(document.getElementById('train-rate').textContent)")
    page.click("#stop")
    page.wait_for_function("() => window.gfl.state.training.status === 'stopped'")
    rate = page.inner_text("#train-rate")
    assert "left" not in rate, rate
    status = page.inner_text("#train-status")
    steps = page.evaluate("() => document.getElementById('train-progress').value")
    assert status == f"Stopped after {steps} steps.", (status, steps)
    assert f"stopped at step {steps} of 3000" in rate


# Drag the gain slider for `ms`: an input event every 10 ms, as a hand would.  Logs every request the page asks its
# frame source for (`asked`), those of them that go to the server (`server`; the others the page answers from the
# runs it holds), each stop of the server's request in flight, when each run arrived whole, and whole paints.
DRAG = """async (ms) => {
  const g = window.gfl, slider = document.querySelector('[name="gain"]'), sock = g.socket.socket;
  const log = { inputs: [], asked: [], server: [], stops: [], doneAt: {}, painted: {} };
  // The trace on show has its done frame's arrival once whole: noted whenever something happens.
  const note = () => { const t = g.trace; if (t && t.doneAt != null) log.doneAt[t.run] = t.doneAt; };
  note();
  const wrap = (obj, name, list, extra = () => ({})) => {
    const fn = obj[name].bind(obj);
    obj[name] = (...args) => {
      note();
      const r = fn(...args);
      list.push({ run: g.socket.newest, at: performance.now(), ...extra(...args) });
      return r;
    };
  };
  wrap(sock, 'run', log.server);
  wrap(sock, 'stop', log.stops); // its run: the request that stopped it (a replay gets its number first)
  wrap(g.socket, 'run', log.asked, (c) => ({ gain: c.gain }));
  const onPaint = (e) => {
    note();
    // A drag repaints the views in sight (the others wait for the drag's end or for their scroll into view).
    if (e.detail.inSight && !(e.detail.run in log.painted)) log.painted[e.detail.run] = e.detail.at;
  };
  window.addEventListener('gfl:painted', onPaint);
  const t0 = performance.now();
  let v = 1;
  while (performance.now() - t0 < ms) {
    v = v >= 2 ? 1 : v + 0.05;
    slider.value = String(v);
    const at = performance.now(), shown = g.trace.config.gain;
    slider.dispatchEvent(new Event('input', { bubbles: true }));
    // Whether the page holds the value's run (and does not show it already): then it is to be shown.
    const gain = g.state.config.gain;
    const held = gain !== shown && g.socket.holds(g.state.config, { lag: g.state.wantsLag });
    log.inputs.push({ at, gain, held });
    await new Promise((r) => setTimeout(r, 10));
  }
  slider.dispatchEvent(new Event('change', { bubbles: true }));  // the release: the views out of sight follow
  await new Promise((r) => {
    const check = () => (g.lastPaint.complete && g.lastPaint.run === g.socket.newest ? r() : setTimeout(check, 20));
    check();
  });
  note();
  window.removeEventListener('gfl:painted', onPaint);
  log.last = { run: g.trace.run, gain: g.trace.config.gain, newest: g.socket.newest, value: Number(slider.value) };
  return log;
}"""


def test_a_drag_pipelines_its_requests_latest_wins(page, server_url):
    page.goto(server_url + "/?seq_len=30&hidden_size=16")
    page.select_option("#speed", "0")
    wait_complete(page)
    first = page.evaluate("() => window.gfl.trace.run")
    log = page.evaluate(DRAG, 1500)
    done = {int(k): v for k, v in log["doneAt"].items()}
    painted = {int(k): v for k, v in log["painted"].items()}
    server = [s["run"] for s in log["server"]]
    replays = [a["run"] for a in log["asked"] if a["run"] not in server]
    # The drag passes each value several times: the values whose runs arrived whole come back from the page's cache.
    assert len(log["server"]) >= 3 and replays and any(i["held"] for i in log["inputs"]), log
    # A stop is a replay's: a held value shown at once supersedes the server's request in flight.
    assert all(s["run"] in replays for s in log["stops"]), log
    # One server request at a time: each leaves once the one before it has settled, arrived whole (its done frame)
    # or stopped by a replay, never before.  (That it leaves without waiting for the previous paint is a matter of
    # milliseconds: bench/ui_latency.py.)
    stops = log["stops"]
    settled, stopped = {first: done.get(first)}, set()
    for s in log["server"]:
        stop = next((t["at"] for t in stops if t["run"] > s["run"] and t["at"] >= s["at"]), None)
        settled[s["run"]] = done.get(s["run"], stop)
        if s["run"] not in done and stop is not None:
            stopped.add(s["run"])
    for previous, s in zip([first, *server], log["server"]):
        assert settled[previous] is not None and settled[previous] <= s["at"], (previous, s, log)
    # None is dropped unshown but those a replay stopped: every value the page held as the drag passed it is
    # painted, and so is every server answer that arrived.
    for a in log["asked"]:
        assert a["run"] in painted or a["run"] in stopped, (a, sorted(painted), log)
    # Every value the page held when the drag passed it is asked for and painted.
    for i in log["inputs"]:
        if i["held"]:
            assert any(a["gain"] == i["gain"] and painted.get(a["run"], -1) >= i["at"] for a in log["asked"]), (i, log)
    # Latest wins: the views end on the slider's last value, the newest request.
    last = log["last"]
    assert last["run"] == last["newest"] and last["gain"] == last["value"], last


# Every view's plotted numbers (each trace's x, y, z), to compare one page's views with another's.
TRACE_VIEWS = ("chart-grad-norm", "chart-eigen", "chart-hidden", "chart-grad-units", "chart-gates", "chart-layers")
VIEW_NUMBERS = """(ids) => Object.fromEntries(ids.map((id) =>
  [id, (document.getElementById(id).data || []).map((t) => [t.x, t.y, t.z])]))"""


def test_after_a_drag_every_view_shows_the_last_value(page, server_url):
    link = "/?seq_len=30&hidden_size=16&cell=lstm&num_layers=2"
    page.goto(server_url + link)
    page.select_option("#speed", "0")
    wait_complete(page)
    page.evaluate(DRAG, 1200)
    gain = page.evaluate("() => document.querySelector('[name=\"gain\"]').value")
    assert page.evaluate("() => window.gfl.trace.config.gain") == float(gain)
    dragged = page.evaluate(VIEW_NUMBERS, TRACE_VIEWS)
    # The reference: the same setting opened afresh, with no drag before it.
    page.goto(server_url + link + f"&gain={gain}")
    wait_complete(page)
    fresh = page.evaluate(VIEW_NUMBERS, TRACE_VIEWS)
    assert all(fresh.values()), fresh  # every view drawn (LSTM: gates; two layers: the layer map)
    for view, traces in fresh.items():
        assert dragged[view] == traces, view


def test_banners_advise_what_fits_the_model(page, server_url):
    # An LSTM whose forget gate is shut: the gradient underflows.  No banner tells an LSTM to try an LSTM.
    page.goto(server_url + "/?cell=lstm&seq_len=300&hidden_size=8&batch_size=2&forget_bias=-10&gain=0.1")
    page.select_option("#speed", "0")
    wait_complete(page)
    banner = page.inner_text("#banner")
    assert "underflowed to 0" in banner, banner
    assert "LSTM or GRU" not in banner and "a larger forget-gate bias" in banner, banner
    # A run that already clips and still diverges is not told to try clipping.
    page.goto(server_url + "/?nonlinearity=relu&init=orthogonal&gain=3&seq_len=400&hidden_size=8&batch_size=2&steps=20"
              "&clip=norm")
    page.select_option("#speed", "0")
    wait_complete(page)
    page.click("#train")
    page.wait_for_function(TRAIN_DONE)
    banner = page.inner_text("#train-banner")
    assert "Training diverged at step 1:" in banner, banner
    assert "try clipping" not in banner.lower() and "a lower clip threshold than 1" in banner, banner
    assert page.log.errors == []
