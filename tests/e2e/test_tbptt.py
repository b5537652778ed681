"""Truncated BPTT on the page: the tbptt control comes from the config table, the link carries it, and the
‖∂L/∂h_t‖ chart marks each direction's window starts and shows the truncated gradient the engine computed."""

from __future__ import annotations

from engine import Config, trace_config
from tests.e2e.harness import wait_complete

LINK = "/?cell=lstm&task=adding&seq_len=30&bidirectional=1&tbptt=7"
LAYOUT = """() => { const el = document.getElementById('chart-grad-norm');
  return { shapes: (el.layout.shapes || []).filter(s => s.line.color === '#7b3294').map(s => [s.x0, s.line.dash]),
           names: el.data.map(d => d.name || ''), y0: el.data[0].y,
           note: document.getElementById('note-grad-norm').innerText,
           norms: [0, 1].map(d => window.gfl.trace.normSeries('h', 0, d)) }; }"""


def test_window_starts_are_marked_for_both_directions(page, server_url):
    page.goto(server_url + LINK)
    page.select_option("#speed", "0")
    wait_complete(page)
    got = page.evaluate(LAYOUT)
    # forward windows start at t = 0, 7, 14, 21, 28: a cut before each; reverse at t = 29, 22, 15, 8, 1: a cut after
    forward = sorted(x for x, dash in got["shapes"] if dash == "dot")
    reverse = sorted(x for x, dash in got["shapes"] if dash == "dashdot")
    assert forward == [6.5, 13.5, 20.5, 27.5]
    assert reverse == [1.5, 8.5, 15.5, 22.5]
    assert "tbptt window, 7 steps (forward)" in got["names"] and "tbptt window, 7 steps (reverse)" in got["names"]
    # The page shows the engine's truncated gradient: many-to-one, so the forward direction is cut at t = 28 and
    # exactly 0 before (drawn as a gap, explained under the chart).
    want = trace_config(Config.from_dict({"cell": "lstm", "task": "adding", "seq_len": 30, "bidirectional": True,
                                          "tbptt": 7})).grad_h_norm[0, 0]
    assert all(v == 0 for v in want[:28]) and all(v > 0 for v in want[28:])
    assert [v == 0 for v in got["norms"][0]] == [v == 0 for v in want]
    assert all(y is None for y in got["y0"][:28])
    assert "Truncated BPTT: the state is detached every 7 steps" in got["note"]
    assert page.log.errors == []


def test_the_control_is_in_the_sequence_group_and_the_link_carries_it(page, server_url):
    page.goto(server_url + "/?cell=lstm&seq_len=40")
    run = wait_complete(page)
    control = page.locator('[name="tbptt"]')
    assert control.count() == 1
    # in the same group as seq_len: the sequence group
    assert control.evaluate("el => { const g = el.closest('fieldset, section, details, .group');"
                            " return !!g && !!g.querySelector('[name=seq_len]'); }")
    control.fill("10")
    control.dispatch_event("input")
    control.dispatch_event("change")
    wait_complete(page, after=run)
    assert "tbptt=10" in page.url
    shapes = page.evaluate(LAYOUT)["shapes"]
    assert sorted(x for x, _ in shapes) == [9.5, 19.5, 29.5]
    page.reload()
    wait_complete(page)
    assert page.input_value('[name="tbptt"]') == "10"
    assert page.log.errors == []


def test_the_training_profiles_grey_cells_are_explained_beside_them(page, server_url):
    page.goto(server_url + "/?cell=lstm&task=adding&seq_len=30&tbptt=3&steps=20")
    run = wait_complete(page)
    page.click("#train")
    wait_complete(page, after=run)
    # Many-to-one, cut every 3 steps: every step before the last cut gets exactly 0, drawn grey.
    zeros = page.evaluate("""() => document.getElementById('chart-train-profile').data
      .filter(d => d.type === 'heatmap' && d.customdata).flatMap(d => d.z.flat()).filter(v => v === 0).length""")
    assert zeros > 0
    key = page.locator("#training .profile-key")
    assert key.is_visible() and "Grey cells are exactly 0: with truncated BPTT" in key.inner_text()
    grey = page.evaluate("() => getComputedStyle(document.querySelector('.profile-key .swatch-zero')).backgroundColor")
    assert grey == "rgb(189, 189, 189)"  # the overlay's own grey (charts.js UNDERFLOW_CELL)
    assert page.log.errors == []
