"""The lag map's view (issue 24): where each step's gradient comes from, for a setting where every step has a loss.

The independent reference is ``POST /api/trace?lag=1`` of the same setting (the engine's map, computed by the server
for that request): the heatmap, its hover, the output row drawn over the main chart and the lag curve must hold
those numbers.  The page asks for the map only while its view is open; a link with ``view=lag`` opens on it.
"""

from __future__ import annotations

import json
import math
import urllib.request

import numpy as np

from tests.e2e.harness import plot, wait_complete

MANY = {"arch": "many-to-many", "seq_len": 30}
LINK = "/?v=1&arch=many-to-many&seq_len=30"
HAS_MAP = "() => document.getElementById('view-lag').classList.contains('has-map')"
# Where a (x, y) point of a chart's axes is on the screen, in CSS pixels of the viewport.
POINT = """([id, x, y]) => {
  const el = document.getElementById(id), fl = el._fullLayout, r = el.getBoundingClientRect();
  return { x: r.left + fl.xaxis._offset + fl.xaxis.l2p(x), y: r.top + fl.yaxis._offset + fl.yaxis.l2p(y) }; }"""
BOUND = "bound: (γ·σ<sub>max</sub>)<sup>distance</sup>"  # typeset as the page does
# Every run/train request the page sends on its socket, as sent.
# What the page's own socket (the first it opens) sends; a second socket only brings in a held slider's neighbours,
# which the server has already computed.
RECORD_REQUESTS = """window.__sent = []; const send = WebSocket.prototype.send; const sockets = [];
WebSocket.prototype.send = function (data) {
  if (!sockets.includes(this)) sockets.push(this);
  if (typeof data === 'string' && sockets[0] === this) window.__sent.push(JSON.parse(data));
  return send.call(this, data); };"""


def api_trace(server_url: str, config: dict, lag: bool = True) -> dict:
    url = server_url + "/api/trace" + ("?lag=1" if lag else "")
    req = urllib.request.Request(url, data=json.dumps(config).encode(), headers={"Content-Type": "application/json"},
                                 method="POST")  # fmt: skip
    with urllib.request.urlopen(req, timeout=60) as r:
        return json.loads(r.read())


def numbers(values) -> np.ndarray:
    return np.array([np.nan if v in (None, "nan") else float(v) for v in values])


def test_the_map_holds_the_engines_numbers_its_hover_and_row_say_them_and_a_link_opens_on_it(page, server_url):
    page.goto(server_url + LINK + "&view=lag")
    wait_complete(page)
    page.wait_for_function(HAS_MAP)
    ref = api_trace(server_url, MANY)["backward"]
    steps, rows = ref["output_steps"], np.array(ref["grad_h_by_output"][0][0])  # (S, T) of layer 1, forward
    assert steps == list(range(30)), "every step has a loss: a row per output"

    # The link opened the view, and brought it into sight; Copy link keeps it.
    assert page.evaluate("() => document.getElementById('view-lag').open")
    top = page.evaluate("() => document.getElementById('view-lag').getBoundingClientRect().top")
    assert 0 <= top < page.viewport_size["height"] / 2
    assert "view=lag" in page.evaluate("() => gfl.state.query")

    # The heatmap: output step s down, state step t across, log10 of the engine's values; s never reaches t > s.
    heat = plot(page, "chart-lag-map")["data"][0]
    assert heat["y"] == steps and heat["x"] == list(range(30))
    z = np.array([[np.nan if v is None else v for v in row] for row in heat["z"]])
    later = np.triu(np.ones((30, 30), bool), 1)
    assert np.isnan(z[later]).all() and (rows[later] == 0).all()
    np.testing.assert_allclose(10 ** z[~later], rows[~later], rtol=1e-5)

    # The hover names the cell: output step, state step, lag, and the value.
    s, t = 24, 10
    page.locator("#chart-lag-map").scroll_into_view_if_needed()
    at = page.evaluate(POINT, ["chart-lag-map", t, s])
    page.mouse.move(at["x"], at["y"])
    page.wait_for_function("() => !!document.querySelector('#chart-lag-map .hoverlayer .hovertext')")
    hover = page.evaluate("() => document.querySelector('#chart-lag-map .hoverlayer').textContent")
    assert f"output step s = {s}, step t = {t}, lag {s - t}" in hover
    shown = float(hover.rsplit("= ", 1)[1])
    assert math.isclose(shown, rows[s, t], rel_tol=1e-3), (hover, rows[s, t])

    # A click draws that output's own gradient over the main chart, going back from s: the engine's row.
    page.mouse.click(at["x"], at["y"])
    page.wait_for_function("s => document.getElementById('lag-row').value === String(s)", arg=s)
    page.wait_for_function("() => document.getElementById('chart-grad-norm').data"
                           ".some(d => /its own gradient/.test(d.name))")  # fmt: skip
    [row] = [d for d in plot(page, "chart-grad-norm")["data"] if "its own gradient" in (d.get("name") or "")]
    assert row["name"].startswith(f"output s = {s}")
    got = numbers(row["y"])
    np.testing.assert_allclose(got[: s + 1], rows[s, : s + 1], rtol=1e-6)  # the socket's float32 of the same map
    assert np.isnan(got[s + 1 :]).all(), "steps after s are not on the output's path"

    # Every step has a loss here: the main chart draws no (γ·σ_max)^distance bound, the lag curve carries it.
    names = [d.get("name") for d in plot(page, "chart-grad-norm")["data"]]
    assert BOUND not in names
    curve, bound = plot(page, "chart-lag-curve")["data"][:2]
    assert curve["name"] == "median over the outputs" and bound["name"] == "bound (γ·σ<sub>max</sub>)<sup>k</sup>"
    want = numbers(ref["lag_curve"][0][0])
    np.testing.assert_allclose(numbers(curve["y"]), want, rtol=1e-6)
    doc = api_trace(server_url, MANY)
    np.testing.assert_allclose(numbers(bound["y"]), numbers(doc["theory"]["lag_bound"][0]), rtol=1e-6)

    # Downloads, as every view has: the map and its curve as CSV (the value of the cell hovered), PNGs of both charts.
    with page.expect_download() as dl:
        page.click('button[data-download="lag-csv"]')
    assert dl.value.suggested_filename.endswith("-lag-map.csv")
    lines = dl.value.path().read_text().splitlines()
    assert lines[0] == "what,layer,direction,output_step,t,lag,value"
    cell = next(line for line in lines if line.startswith(f"grad_h_by_output,0,forward,{s},{t},{s - t},"))
    assert math.isclose(float(cell.rsplit(",", 1)[1]), rows[s, t], rel_tol=1e-6)
    for chart in ("chart-lag-map", "chart-lag-curve"):
        with page.expect_download() as dl:
            page.click(f'button[data-png="{chart}"]')
        assert dl.value.suggested_filename.endswith(chart.removeprefix("chart") + ".png")
    assert page.log.errors == [] and page.log.foreign_requests() == []


def test_the_page_asks_for_the_map_only_while_its_view_is_open(page, server_url):
    page.add_init_script(RECORD_REQUESTS)
    page.goto(server_url + LINK)
    run = wait_complete(page)
    def sent():
        return [(m["type"], m.get("lag", False)) for m in page.evaluate("() => window.__sent") if m["type"] == "run"]

    assert sent() == [("run", False)]
    assert page.locator("#view-lag .lag-charts").is_hidden()
    page.click("#view-lag > summary")
    page.wait_for_function(HAS_MAP)
    assert sent() == [("run", False), ("run", True)] and "view=lag" in page.url
    run = wait_complete(page, after=run)
    page.fill('[name="seq_len"]', "25")
    page.press('[name="seq_len"]', "Enter")
    run = wait_complete(page, after=run)
    page.wait_for_function(HAS_MAP)
    assert sent()[-1] == ("run", True), "open, every new setting comes with its map"
    assert page.evaluate("() => gfl.trace.lag.T") == 25
    page.click("#view-lag > summary")
    page.wait_for_function("() => !location.search.includes('view=')")
    assert len(sent()) == 3, "closing asks for nothing"
    page.fill('[name="seq_len"]', "20")
    page.press('[name="seq_len"]', "Enter")
    wait_complete(page, after=run)
    assert sent()[-1] == ("run", False), "closed, no map is computed"
    assert page.log.errors == []


def test_a_stacked_bidirectional_map_follows_the_layer_shown_and_maps_the_inputs(page, server_url):
    config = {**MANY, "num_layers": 2, "bidirectional": True, "seq_len": 12}
    page.goto(server_url + "/?v=1&arch=many-to-many&seq_len=12&num_layers=2&bidirectional=1&view=lag")
    wait_complete(page)
    page.wait_for_function(HAS_MAP)
    ref = api_trace(server_url, config)["backward"]
    page.select_option("#view-layer", "1,1")  # layer 2, reverse
    page.wait_for_function("() => /layer 2 ←/.test(document.getElementById('lag-map-title').textContent)")
    z = np.array([[np.nan if v is None else v for v in r] for r in plot(page, "chart-lag-map")["data"][0]["z"]])
    want = np.array(ref["grad_h_by_output"][1][1])
    earlier = np.tril(np.ones((12, 12), bool), -1)  # a reverse direction's output s never reaches t < s
    assert np.isnan(z[earlier]).all()
    np.testing.assert_allclose(10 ** z[~earlier], want[~earlier], rtol=1e-5)
    curve = plot(page, "chart-lag-curve")["data"][0]["y"]
    np.testing.assert_allclose(numbers(curve), numbers(ref["lag_curve"][1][1]), rtol=1e-6)
    page.select_option("#lag-what", "x")
    page.wait_for_function("() => /inputs/.test(document.getElementById('lag-map-title').textContent)")
    zx = plot(page, "chart-lag-map")["data"][0]["z"]
    x = np.array(ref["grad_x_by_output"])
    got = np.array([[np.nan if v is None else 10**v for v in r] for r in zx])
    np.testing.assert_allclose(got[x > 0], x[x > 0], rtol=1e-5)
    assert page.log.errors == []


def test_training_with_the_view_open_shows_the_map_at_each_profiled_step(page, server_url):
    """Many-to-one: the map has one row, the loss's own, so each step's row is that step's profile ‖∂L/∂h_t‖, which
    the trainer measures on its own; the maps come at exactly the profiled steps, and the slider walks them."""
    page.goto(server_url + "/?v=1&cell=lstm&task=adding&seq_len=20&hidden_size=16&steps=30&view=lag")
    run = wait_complete(page)
    page.click("#train")
    page.wait_for_function("() => gfl.state.training.status === 'trained'", timeout=120_000)
    wait_complete(page, after=run)
    got = page.evaluate("""() => { const r = gfl.training.run;
      return { steps: r.lagMaps.map(m => m.step), profiles: r.profileSteps,
               rows: r.lagMaps.map(m => Array.from(m.row(0, 0, 0))), norms: r.profiles.map(p => p[0][0]) }; }""")
    assert got["steps"] == got["profiles"] and len(got["steps"]) >= 2
    for row, norms in zip(got["rows"], got["norms"]):
        np.testing.assert_allclose(row, norms, rtol=1e-4)
    assert page.input_value("#lag-source") == "training"
    page.fill("#lag-step", "0")
    page.dispatch_event("#lag-step", "input")
    page.wait_for_function("s => document.getElementById('lag-step-text').textContent === `training step ${s}`",
                           arg=got["steps"][0])  # fmt: skip
    z = plot(page, "chart-lag-map")["data"][0]["z"][0]
    np.testing.assert_allclose([10**v for v in z if v is not None], [v for v in got["rows"][0] if v > 0], rtol=1e-5)
    assert page.log.errors == []


def band(T: int, width: float) -> np.ndarray:
    """A constructed (S = T, T) map whose rows reach `width` steps back: what training a copy task does to it."""
    s, t = np.arange(T)[:, None], np.arange(T)[None, :]
    return np.where(t <= s, np.exp(-(s - t) / width), 0.0).astype("<f4")


# Frames delivered to the page's frame dispatcher as its socket would deliver them (the payload an ArrayBuffer).
DELIVER = """([frames]) => { for (const [frame, data] of frames) {
  const payload = data === null ? null : Uint8Array.from(atob(data), c => c.charCodeAt(0)).buffer;
  gfl.socket.socket.onFrame(frame, payload); } }"""


def test_a_trainings_maps_play_step_by_step_on_one_colour_scale(page, server_url):
    """A constructed training stream in the contract's format (a lag frame with its `step` after each profiled
    train_step): the view switches to the training's maps, follows the newest, and its slider walks them."""
    import base64

    T = 12
    page.goto(server_url + f"/?v=1&arch=many-to-many&seq_len={T}&view=lag")
    wait_complete(page)
    page.wait_for_function(HAS_MAP)
    page.evaluate("() => gfl.state.startTraining()")  # the page trains; its frames come from this test
    run = page.evaluate("() => gfl.state.request.seq") + 100
    start = {"type": "train_start", "run": run, "config": page.evaluate("() => gfl.state.config"), "steps": 3,
             "profile_every": 1, "shapes": {"L": 1, "D": 1, "T": T}, "baseline": None, "clip": "none", "clip_at": 1,
             "classification": False}  # fmt: skip
    maps = {1: band(T, 0.5), 2: band(T, 2.0), 3: band(T, 8.0)}
    frames = [[start, None]]
    for step, m in maps.items():
        frames.append([{"type": "train_step", "run": run, "step": step, "loss": 1.0 / step, "grad_norm": 1.0,
                        "grad_norm_clipped": 1.0, "clip_coef": 1.0, "clipped": False, "metric": None,
                        "profile": [[np.linalg.norm(m, axis=0).tolist()]]}, None])  # fmt: skip
        lag = {"type": "lag", "run": run, "step": step, "output_steps": list(range(T)), "rows": T,
               "lag_curve": [[[float(np.exp(-k / step)) for k in range(T)]]]}  # fmt: skip
        data = np.concatenate([m.ravel(), np.zeros(T * T, "<f4")]).tobytes()
        frames.append([lag, base64.b64encode(data).decode()])
    page.evaluate(DELIVER, [frames])
    page.wait_for_function("() => document.getElementById('lag-step-text').textContent === 'training step 3'")
    assert page.input_value("#lag-source") == "training" and page.is_visible("#lag-step")
    assert "The map at training step 3 of 3" in page.inner_text("#lag-status")
    heat = plot(page, "chart-lag-map")["data"][0]
    got = np.array([[0.0 if v is None else 10**v for v in row] for row in heat["z"]])
    np.testing.assert_allclose(got, maps[3], rtol=1e-5)
    scale = (heat["zmin"], heat["zmax"])
    assert scale[0] <= np.log10(maps[1][maps[1] > 0].min()) + 1e-6, "one scale for every step of the training"
    names = [d["name"] for d in plot(page, "chart-lag-curve")["data"]]
    assert names[:2] == ["training step 3", "training step 1"], "the step's curve beside the first step's"

    page.fill("#lag-step", "0")
    page.dispatch_event("#lag-step", "input")
    page.wait_for_function("() => document.getElementById('lag-step-text').textContent === 'training step 1'")
    heat = plot(page, "chart-lag-map")["data"][0]
    got = np.array([[0.0 if v is None else 10**v for v in row] for row in heat["z"]])
    np.testing.assert_allclose(got, maps[1], rtol=1e-5)
    assert (heat["zmin"], heat["zmax"]) == scale
    # Back on the trace's own map: the untrained model's, as the views above.
    page.select_option("#lag-source", "trace")
    page.wait_for_function("() => !/training step/.test(document.getElementById('lag-status').textContent)")
    assert page.evaluate("() => document.getElementById('lag-step').disabled")
    assert page.log.errors == []
