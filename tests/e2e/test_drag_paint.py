"""Painting a drag: a long line drawn at the resolution of the screen still shows its one-step spike and its one
zero; a drag ends on exactly the released value's numbers; a prefetch the server answers busy is dropped."""

from __future__ import annotations

import json

import pytest

from tests.e2e.harness import wait_complete

# A 2000-step series, flat but for one step far above and one exact zero, drawn by the page's own chart widget at
# the chart's own pixel columns (the envelope), on a log axis whose floor holds the zero as the views place it.
DRAW_SPIKE = """async () => {
  const { Chart } = await import('/static/js/charts.js');
  const { screenLine } = await import('/static/js/envelope.js');
  const el = document.createElement('div');
  el.style.cssText = 'width: 400px; height: 300px';  // about 320 columns: six steps a column
  document.body.prepend(el);
  const chart = new Chart(el);
  const T = 2000, floor = 1e-6;
  const x = Array.from({ length: T }, (_, t) => t);
  const y = x.map((t) => 1e-3 * (1 + 0.05 * Math.sin(t)));
  y[1234] = 10;
  y[777] = floor;  // an exact 0, at the axis' floor
  const line = screenLine(x, y, chart.columns());
  chart.draw([{ type: 'scatter', mode: 'lines', ...line }], {
    yaxis: { type: 'log', range: [-6.2, 1.2], autorange: false },
    xaxis: { range: [-0.5, T - 0.5], autorange: false } });
  const ya = el._fullLayout.yaxis;
  const box = el.querySelector('.scatterlayer .js-line').getBBox();
  return { points: line.x.length, top: box.y, bottom: box.y + box.height,
           spike: ya.l2p(Math.log10(10)), zero: ya.l2p(Math.log10(floor)),
           kept: [Array.from(line.x).includes(1234), Array.from(line.x).includes(777)] };
}"""


def test_the_envelope_keeps_a_single_step_spike_and_a_single_zero_of_a_2000_step_series_visible(page, server_url):
    page.goto(server_url + "/")
    wait_complete(page)
    r = page.evaluate(DRAW_SPIKE)
    assert r["points"] < 2000, "the line was not reduced to the screen's columns"
    assert r["kept"] == [True, True]
    # The drawn path reaches the spike's height and the zero's floor, to the pixel.
    assert abs(r["top"] - r["spike"]) < 1 and abs(r["bottom"] - r["zero"]) < 1, r
    assert page.log.errors == []


# Drag the gain slider through `values` (an input event each animation frame), then release on the last.
DRAG = """async (values) => {
  const slider = document.querySelector('[name="gain"]');
  for (const v of values) {
    slider.value = String(v);
    slider.dispatchEvent(new Event('input', { bubbles: true }));
    await new Promise(requestAnimationFrame);
  }
  slider.dispatchEvent(new Event('change', { bubbles: true }));
}"""

SHOWN = """() => { const t = window.gfl.trace, p = window.gfl.lastPaint;
  return { gain: t.config.gain, complete: p.complete && p.run === t.run,
           norms: Array.from(t.gradHNorm), chart: document.getElementById('chart-grad-norm').data[0].y }; }"""


@pytest.mark.playback
def test_a_drag_ends_on_exactly_the_released_values_numbers(page, server_url):
    page.goto(server_url + "/")
    run = wait_complete(page)
    values = [round(1 + 0.05 * k, 2) for k in range(1, 21)] + [1.25]  # the slider's own grid: steps of 0.05
    page.evaluate(DRAG, values)
    page.wait_for_function("() => { const t = window.gfl.trace, p = window.gfl.lastPaint;"
                           " return t.config.gain === 1.25 && p.complete && p.run === t.run; }")
    wait_complete(page, after=run)
    shown = page.evaluate(SHOWN)
    assert shown["gain"] == 1.25 and "gain=1.25" in page.url
    doc = page.request.post(server_url + "/api/trace", data={"gain": 1.25}).json()
    assert shown["norms"] == doc["backward"]["grad_h_norm"][0][0]  # one layer, one direction: (L, D, T)
    drawn = [(y, v) for y, v in zip(shown["chart"], shown["norms"], strict=True) if v > 0]
    assert len(drawn) == len(shown["norms"]) and all(y == v for y, v in drawn)


# Every view's plotted numbers (each trace's x, y, z).
VIEW_NUMBERS = """() => Object.fromEntries([...document.querySelectorAll('.views .chart')].map((el) =>
  [el.id, (el.data || []).map((t) => [t.x, t.y, t.z])]))"""
ASKED = "() => ({ server: window.gfl.socket.socket.newest, replays: window.gfl.socket.cache.replays })"


def test_a_value_dragged_back_to_is_shown_from_the_pages_cache_with_the_servers_numbers(page, server_url):
    link = "/?seq_len=30&hidden_size=16&cell=lstm&num_layers=2"
    page.goto(server_url + link + "&gain=1.1")
    wait_complete(page)
    fresh = page.evaluate(VIEW_NUMBERS)  # the reference: gain 1.1 opened afresh, from the server
    assert fresh["chart-gates"] and fresh["chart-layers"], fresh.keys()
    page.goto(server_url + link)
    run = wait_complete(page)
    for gain in (1.1, 1.15, 1.1):  # the last: back to a value received whole, with no message to the server
        before = page.evaluate(ASKED)
        page.evaluate(DRAG, [gain])
        page.wait_for_function(f"() => window.gfl.trace.config.gain === {gain} && window.gfl.lastPaint.complete")
        run = wait_complete(page, after=run)
    after = page.evaluate(ASKED)
    assert after == {"server": before["server"], "replays": before["replays"] + 1}, (before, after)
    assert "gain=1.1" in page.url
    assert page.evaluate(VIEW_NUMBERS) == fresh
    assert page.log.errors == []


def test_a_held_sliders_neighbours_are_brought_into_the_page_and_a_move_to_one_shows_the_servers_numbers(
        page, server_url):  # fmt: skip
    page.goto(server_url + "/")
    run = wait_complete(page)
    page.hover('[name="gain"]')  # held: its neighbours 1.05, 1.1, 0.95, 1.15 are computed, then brought in
    page.wait_for_function("() => window.gfl.socket.neighbours.fetched === 4 && !window.gfl.socket.neighbours.busy")
    before = page.evaluate(ASKED)
    page.evaluate(DRAG, [1.1])
    page.wait_for_function("() => window.gfl.trace.config.gain === 1.1 && window.gfl.lastPaint.complete")
    wait_complete(page, after=run)
    assert page.evaluate(ASKED) == {"server": before["server"], "replays": before["replays"] + 1}
    shown = page.evaluate(SHOWN)
    doc = page.request.post(server_url + "/api/trace", data={"gain": 1.1}).json()
    assert shown["norms"] == doc["backward"]["grad_h_norm"][0][0]
    assert page.log.errors == []


@pytest.mark.playback
def test_a_prefetch_the_server_answers_busy_is_dropped_until_its_retry_hint(page, server_url):
    asked = []

    def route(ws):
        server = ws.connect_to_server()

        def from_page(message):
            if isinstance(message, str) and json.loads(message).get("type") == "prefetch":
                asked.append(json.loads(message))
                ws.send(json.dumps({"type": "prefetched", "ready": 0, "busy": True, "retry_after_s": 600}))
            else:
                server.send(message)

        ws.on_message(from_page)

    page.route_web_socket("**/ws", route)
    page.goto(server_url + "/")
    run = wait_complete(page)
    page.hover('[name="gain"]')
    page.wait_for_function("() => window.gfl.prefetch.dropped === 1")
    assert [c["gain"] for c in asked[0]["configs"]] == [1.05, 1.1, 0.95, 1.15]
    # A drag meanwhile asks for its settings, never for their neighbours.
    page.evaluate(DRAG, [1.1, 1.2])
    page.wait_for_function("() => window.gfl.trace.config.gain === 1.2 && window.gfl.lastPaint.complete")
    wait_complete(page, after=run)
    page.hover('[name="seq_len"]')
    page.focus('[name="gain"]')
    assert page.evaluate("() => window.gfl.prefetch.asked") == 1 and len(asked) == 1
