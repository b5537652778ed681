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


def open_lab(page, server_url: str) -> int:
    """The lab at its default setting, its first run painted: that run's number."""
    page.goto(server_url + "/")
    return wait_complete(page)


def test_the_envelope_keeps_a_single_step_spike_and_a_single_zero_of_a_2000_step_series_visible(page, server_url):
    open_lab(page, server_url)
    r = page.evaluate(DRAW_SPIKE)
    assert r["points"] < 2000, "the line was not reduced to the screen's columns"
    assert r["kept"] == [True, True]
    # The drawn path reaches the spike's height and the zero's floor, to the pixel.
    assert abs(r["top"] - r["spike"]) < 1 and abs(r["bottom"] - r["zero"]) < 1, r
    assert page.log.errors == []


# During a drag, a 2000-step series that changes only in its numbers is painted on the chart's canvas over the axes
# Plotly drew: its one-step spike and its one zero reach their pixels there too.  A series past the drawn range is
# drawn by Plotly over a range holding both; once the drag ends Plotly draws the view's own figure.
QUICK_LINE = """async () => {
  const { Chart, dragPaint } = await import('/static/js/charts.js');
  const { screenLine } = await import('/static/js/envelope.js');
  const el = document.createElement('div');
  el.style.cssText = 'width: 400px; height: 300px';
  document.body.prepend(el);
  const chart = new Chart(el);
  const T = 2000, floor = 1e-6;
  const x = Array.from({ length: T }, (_, t) => t);
  const flat = x.map((t) => 1e-3 * (1 + 0.05 * Math.sin(t)));
  // A note placed at a value of the y axis (log axis: its exponent), as the views mark the row of exact zeros, and a
  // line at a step, as the norms view marks the scored step.
  const figure = (y, top = 1.2, note = -5.5, step = 1000) => [[{ type: 'scatter', mode: 'lines',
    line: { color: '#000', width: 2 }, ...screenLine(x, y, chart.columns()) }],
    { yaxis: { type: 'log', range: [-6.2, top], autorange: false }, xaxis: { range: [-0.5, T - 0.5], autorange: false },
      annotations: [{ xref: 'paper', yref: 'y', x: 0.5, y: note, yanchor: 'middle', text: 'zero', showarrow: false }],
      shapes: [{ type: 'line', xref: 'x', yref: 'paper', x0: step, x1: step, y0: 0, y1: 1, line: { width: 1 } }] }];
  chart.draw(...figure(flat));
  dragPaint(true);
  const y = flat.slice();
  y[1234] = 10;
  y[777] = floor;
  chart.draw(...figure(y, 1.2, -5, 1500));
  const canvas = el.querySelector('canvas.quick-paint');
  const ya = el._fullLayout.yaxis, xa = el._fullLayout.xaxis;
  const r = window.devicePixelRatio || 1;
  // The painted span of the columns around each marked step: its topmost and bottommost inked pixel.
  const inked = (t) => {
    const px = Math.round((xa._offset + xa.c2p(t)) * r);
    const { data, height } = canvas.getContext('2d').getImageData(px - 2 * r, 0, 4 * r, canvas.height);
    const w = 4 * r;
    let top = null, bottom = null;
    for (let row = 0; row < height; row++) {
      for (let c = 0; c < w; c++) if (data[(row * w + c) * 4 + 3] > 0) { top ??= row / r; bottom = row / r; }
    }
    return { top, bottom };
  };
  const quick = { canvas: !!canvas, exact: chart.exact,
    plotHidden: el.querySelector('.cartesianlayer .overplot').style.visibility,
    spike: [inked(1234).top, ya._offset + ya.c2p(10)], zero: [inked(777).bottom, ya._offset + ya.c2p(floor)],
    drawnY: Array.from(el.data[0].y).includes(10),
    note: (() => { const a = el.querySelector('.infolayer .annotation').getBoundingClientRect();
      return [a.top + a.height / 2 - el.getBoundingClientRect().top, ya._offset + ya.l2p(-5)]; })(),
    line: (() => { const a = el.querySelector('.shapelayer path').getBoundingClientRect();
      return [a.left + a.width / 2 - el.getBoundingClientRect().left, xa._offset + xa.c2p(1500)]; })() };
  const past = flat.slice();
  past[100] = 1e3;  // above the drawn range: Plotly draws it, the range held wider
  chart.draw(...figure(past, 3.5));
  const held = { canvas: !!el.querySelector('canvas.quick-paint'), range: el._fullLayout.yaxis.range.slice(),
    drawnY: Array.from(el.data[0].y).includes(1e3) };
  dragPaint(false);
  const settled = { canvas: !!el.querySelector('canvas.quick-paint'), exact: chart.exact,
    range: el._fullLayout.yaxis.range.slice() };
  el.remove();
  return { quick, held, settled };
}"""


def test_a_drag_paints_a_changed_series_over_the_drawn_axes_spike_and_zero_included(page, server_url):
    open_lab(page, server_url)
    r = page.evaluate(QUICK_LINE)
    quick, held, settled = r["quick"], r["held"], r["settled"]
    # Painted on the canvas, over the axes Plotly drew (Plotly's own data layer hidden, its figure not redrawn).
    assert quick["canvas"] and quick["exact"] is False and quick["plotHidden"] == "hidden" and not quick["drawnY"], r
    # The spike's step reaches the spike's height and the zero's step the floor, to the line's width (2 px).
    assert abs(quick["spike"][0] - quick["spike"][1]) <= 2 and abs(quick["zero"][0] - quick["zero"][1]) <= 2, r
    # A note and a line placed at values moved with them.
    assert abs(quick["note"][0] - quick["note"][1]) <= 1 and abs(quick["line"][0] - quick["line"][1]) <= 1, r
    # A value past the drawn range: Plotly draws the figure, over a range holding both.
    assert not held["canvas"] and held["drawnY"] and held["range"][0] == -6.2 and held["range"][1] > 3.5, r
    # The drag over, Plotly draws the view's own figure: its own range, no canvas.
    assert not settled["canvas"] and settled["exact"] and settled["range"] == [-6.2, 3.5], r
    assert page.log.errors == []


# A heatmap changed during a drag: each cell painted in the colour the drawn colour bar gives its value.
QUICK_CELLS = """async () => {
  const { Chart, dragPaint } = await import('/static/js/charts.js');
  const el = document.createElement('div');
  el.style.cssText = 'width: 400px; height: 300px';
  document.body.prepend(el);
  const chart = new Chart(el);
  const z = (hot) => Array.from({ length: 10 }, (_, r) => Array.from({ length: 10 }, (_, c) =>
    r === hot[0] && c === hot[1] ? 1 : r === 0 && c === 0 ? 0 : 0.5));
  const figure = (cells) => [[{ type: 'heatmap', z: cells, zmin: 0, zmax: 1, zsmooth: 'fast',
    colorscale: [[0, '#000000'], [0.5, '#808080'], [1, '#ff0000']] }], {}];
  chart.draw(...figure(z([9, 9])));
  dragPaint(true);
  chart.draw(...figure(z([5, 7])));
  const xa = el._fullLayout.xaxis, ya = el._fullLayout.yaxis, r = window.devicePixelRatio || 1;
  const ctx = el.querySelector('canvas.quick-paint').getContext('2d');
  const at = (row, col) => Array.from(ctx.getImageData(Math.round((xa._offset + xa.c2p(col)) * r),
    Math.round((ya._offset + ya.c2p(row)) * r), 1, 1).data);
  const out = { hot: at(5, 7), old: at(9, 9), cold: at(0, 0), mid: at(2, 3), exact: chart.exact };
  dragPaint(false);
  out.settled = { canvas: !!el.querySelector('canvas.quick-paint'), z: el.data[0].z[5][7] };
  el.remove();
  return out;
}"""


def test_a_drag_paints_a_changed_heatmaps_cells_in_the_colours_of_the_drawn_colour_bar(page, server_url):
    open_lab(page, server_url)
    r = page.evaluate(QUICK_CELLS)
    assert r["exact"] is False
    near = lambda got, want: all(abs(a - b) <= 2 for a, b in zip(got, want, strict=True))  # noqa: E731
    assert near(r["hot"], [255, 0, 0, 255]) and near(r["cold"], [0, 0, 0, 255]), r
    assert near(r["mid"], [128, 128, 128, 255]) and near(r["old"], [128, 128, 128, 255]), r
    assert r["settled"] == {"canvas": False, "z": 1}
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
    run = open_lab(page, server_url)
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
    # Released, every chart is Plotly's drawing of the view's own figure (its own ranges, not those a drag holds),
    # with no canvas left over it, however the drag's frames were painted.
    settled = page.evaluate(SETTLED)
    assert settled["canvases"] == 0, settled
    assert all(s["range"] == s["own"] and s["z"] == s["ownZ"] for s in settled["charts"].values()), settled


# Drag seq_len through `values` (an input event each animation frame) and hold it on the last, recording every text
# the status line shows and whether the views were dimmed, until the held value's run is painted.
HOLD_AND_WATCH = """async (values) => {
  const status = document.getElementById('view-status'), views = document.querySelector('.views');
  const seen = [];
  const note = () => seen.push({ text: status.hidden ? '' : status.innerText, dim: views.classList.contains('stale') });
  const watch = new MutationObserver(note);
  watch.observe(status, { attributes: true, childList: true, subtree: true, characterData: true });
  watch.observe(views, { attributes: true, attributeFilter: ['class'] });
  const slider = document.querySelector('[name="seq_len"]');
  for (const v of values) {
    slider.value = String(v);
    slider.dispatchEvent(new Event('input', { bubbles: true }));
    await new Promise(requestAnimationFrame);
  }
  const last = values[values.length - 1];
  await new Promise((r) => { const check = () => (window.gfl.trace.T === last && window.gfl.lastPaint.inSight
    && window.gfl.lastPaint.run === window.gfl.trace.run ? r() : setTimeout(check, 20)); check(); });
  note();
  watch.disconnect();
  return seen;
}"""


def test_a_drag_never_dims_the_views_and_says_which_setting_they_show_only_when_an_answer_is_late(page, server_url):
    open_lab(page, server_url)
    seen = page.evaluate(HOLD_AND_WATCH, list(range(51, 61)))
    # Each move leaves the views one answer behind the slider, by design: never dimmed, and said only once an answer
    # is late, naming the setting the views show (a line coming and going with each answer would move every chart
    # under it up and down).
    assert seen and not any(s["dim"] for s in seen), seen
    said = [s["text"] for s in seen if s["text"]]
    assert all("while the slider moves" in t and "Sequence length T = " in t for t in said), seen
    # Held on its last value, whose run is painted: nothing to say.
    assert seen[-1] == {"text": "", "dim": False}, seen
    page.evaluate("document.querySelector('[name=\"seq_len\"]').dispatchEvent(new Event('change', { bubbles: true }))")
    assert page.is_hidden("#view-status")
    assert page.log.errors == []


# Each chart in sight: its drawn y range and colour range against those of the figure its view gave last.
SETTLED = """() => {
  const charts = Object.values(window.gfl.charts).filter((c) => c.drawn && c.last && c.el.offsetParent);
  return { canvases: document.querySelectorAll('canvas.quick-paint').length,
           charts: Object.fromEntries(charts.map((c) => [c.el.id, {
             range: c.el.layout.yaxis?.range ?? null, own: c.last[1].yaxis?.range ?? null,
             z: c.el.data.map((t) => [t.zmin ?? null, t.zmax ?? null]),
             ownZ: c.last[0].map((t) => [t.zmin ?? null, t.zmax ?? null]) }])) };
}"""


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
    run = open_lab(page, server_url)
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
    run = open_lab(page, server_url)
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
