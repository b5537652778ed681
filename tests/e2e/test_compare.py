"""Compare mode: alternatives from the link run side by side on A's data, overlaid, and the link round-trips.

The independent reference is POST /api/trace of each compared config: the numbers the page
shows for B and C (streamed on their own sockets) must be the numbers a plain trace gives.
"""

from __future__ import annotations

import json
import math
import time
import urllib.request
from urllib.parse import parse_qs, urlparse

from tests.e2e.harness import plot, wait_complete

COMPARE_DONE = "n => { const p = window.gfl.compare.lastPaint; return !!p && p.settings === n && p.complete === n; }"
# {name: {stat: exact value (data-value) or the text shown}} of the summary table.
TABLE = """() => Object.fromEntries([...document.querySelectorAll('#compare-table tbody tr')].map(tr =>
  [tr.dataset.name, Object.fromEntries([...tr.children].map(td =>
    [td.dataset.stat, td.dataset.value ?? td.textContent]))]))"""

# Where the vertical lines a chart draws sit on its x axis.
SHAPES = "id => ((document.getElementById(id).layout || {}).shapes || []).map(s => s.x0)"


def api_trace(server_url: str, config: dict) -> dict:
    req = urllib.request.Request(
        server_url + "/api/trace",
        data=json.dumps(config).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(req, timeout=60) as r:
        return json.loads(r.read())


def api_lag(server_url: str, config: dict) -> dict:
    """POST /api/trace?lag=1: the trace with its lag map."""
    req = urllib.request.Request(server_url + "/api/trace?lag=1", data=json.dumps(config).encode(),
                                 headers={"Content-Type": "application/json"}, method="POST")  # fmt: skip
    with urllib.request.urlopen(req, timeout=60) as r:
        return json.loads(r.read())


def top_forward_norms(trace: dict) -> list[float]:
    return trace["backward"]["grad_h_norm"][-1][0]


def test_link_overlays_three_settings_on_the_same_data_and_round_trips(page, server_url):
    page.goto(server_url + "/?cell=rnn&seq_len=30&cmp_b=cell:lstm&cmp_c=cell:gru")
    page.wait_for_function(COMPARE_DONE, arg=3)
    assert page.is_visible("#compare") and page.get_attribute("#compare-toggle", "aria-expanded") == "true"
    assert page.locator("#compare-chips .chip").all_inner_texts()[1:] == ["B: LSTM\n×", "C: GRU\n×"]
    curves = plot(page, "chart-compare-norms")["data"]
    assert [c["name"] for c in curves] == ["A: vanilla RNN", "B: LSTM", "C: GRU"]
    assert all(len(c["y"]) == 30 and all(v > 0 for v in c["y"]) for c in curves)
    table = page.evaluate(TABLE)

    # Each setting's numbers are a plain trace's: same seed, same batch, own socket.
    for name, cell, curve in zip("ABC", ["rnn", "lstm", "gru"], curves):
        ref = api_trace(server_url, {"cell": cell, "seq_len": 30})
        assert float(table[name]["loss"]) == ref["done"]["loss"], name
        assert float(table[name]["norm"]) == ref["done"]["total_norm"], name
        assert int(table[name]["params"]) == ref["param_count"], name
        assert table[name]["data"] in ("A's batch", "same as A")
        for got, want in zip(curve["y"], top_forward_norms(ref)):
            assert math.isclose(got, want, rel_tol=1e-6), name
    assert page.locator("#notices .notice").count() == 0, page.inner_text("#notices")

    # The link keeps the alternatives, readable, and reopening it gives the same numbers.
    q = parse_qs(urlparse(page.url).query)
    assert q["cmp_b"] == ["cell:lstm"] and q["cmp_c"] == ["cell:gru"] and q["seq_len"] == ["30"]
    assert "cmp_b=cell:lstm" in page.url
    page.reload()
    page.wait_for_function(COMPARE_DONE, arg=3)
    assert page.evaluate(TABLE) == table
    assert [c["y"] for c in plot(page, "chart-compare-norms")["data"]] == [c["y"] for c in curves]
    assert page.log.errors == [] and page.log.foreign_requests() == []


def test_training_in_compare_mode_overlays_every_loss_curve(page, server_url):
    link = "/?task=adding&seq_len=20&hidden_size=16&steps=15&cmp_b=cell:gru&cmp_c=clip:norm,clip_at:0.2"
    page.goto(server_url + link)
    page.select_option("#speed", "0")
    run = wait_complete(page)
    page.wait_for_function(COMPARE_DONE, arg=3)
    page.click("#compare-train")
    page.wait_for_function("""() => ['A', 'B', 'C'].every(n => { const e = window.gfl.compare.entries[n];
      return e.run && e.run.done && e.trace && e.trace.complete && e.trace.trained; })""")
    wait_complete(page, after=run)
    # The compare views repaint on a short timer: wait for the paint that shows the trained models.
    page.wait_for_selector('#compare-norms-title[data-trained="true"]', state="attached", timeout=10_000)
    losses = plot(page, "chart-compare-loss")
    lines = [t for t in losses["data"] if t["name"][:2] in ("A:", "B:", "C:")]
    assert [t["name"] for t in lines] == ["A: vanilla RNN, Clipping none", "B: GRU, Clipping none",
                                             "C: vanilla RNN, Clipping by total norm, Clip threshold 0.2"]
    assert all(t["x"] == list(range(1, 16)) for t in lines)
    assert any(t["name"].startswith("baseline") for t in losses["data"])
    assert "baseline, always answer 1: 0.167" in [t["name"] for t in losses["data"]]  # in the legend, off the curves
    # Step 1 trains on the batch a plain trace uses: its loss is that trace's loss.
    base = {"task": "adding", "seq_len": 20, "hidden_size": 16}
    for line, extra in zip(lines, [{}, {"cell": "gru"}, {"clip": "norm", "clip_at": 0.2}]):
        want = api_trace(server_url, {**base, **extra})["done"]["loss"]
        assert math.isclose(line["y"][0], want, rel_tol=1e-5), line["name"]
    assert page.get_attribute("#compare-norms-title", "data-trained") == "true"
    assert page.inner_text("#compare-train") == "Train all"
    assert page.log.errors == []


def test_bad_pairs_get_a_notice_and_the_form_edits_the_link(page, server_url):
    page.goto(server_url + "/?seq_len=12&hidden_size=8&cmp_b=cell:lstm,colour:red&cmp_c=seq_len:abc")
    page.wait_for_function(COMPARE_DONE, arg=2)
    text = page.inner_text("#notices")
    assert "colour" in text and "seq_len" in text, text
    assert page.locator("#compare-chips .chip").count() == 2  # A and B; C had nothing valid
    q = parse_qs(urlparse(page.url).query)
    assert q["cmp_b"] == ["cell:lstm"] and "cmp_c" not in q

    # Add C = seq_len 16 with the form: other data, and the page says so.
    page.select_option("#compare-form [name=key]", "seq_len")
    page.fill("#compare-form [name=value]", "16")
    page.select_option("#compare-form [name=slot]", "1")
    page.click("#compare-form button[type=submit]")
    page.wait_for_function(COMPARE_DONE, arg=3)
    chip = page.locator('#compare-chips .chip[data-name="C"]')
    assert "Sequence length T 16" in chip.inner_text() and "different data" in chip.inner_text()
    assert page.evaluate(TABLE)["C"]["data"] == "different data"
    assert parse_qs(urlparse(page.url).query)["cmp_c"] == ["seq_len:16"]

    # Removing B moves C up to B, in the link too.
    page.click('#compare-chips .chip[data-name="B"] .chip-remove')
    page.wait_for_function(COMPARE_DONE, arg=2)
    q = parse_qs(urlparse(page.url).query)
    assert q["cmp_b"] == ["seq_len:16"] and "cmp_c" not in q
    names = [c["name"] for c in plot(page, "chart-compare-norms")["data"]]
    assert names == ["A: Sequence length T 12", "B: Sequence length T 16"]
    assert page.log.errors == []


def healthz(server_url: str) -> dict:
    with urllib.request.urlopen(server_url + "/healthz", timeout=10) as r:
        return json.loads(r.read())


def test_removing_a_setting_while_training_stops_its_training_on_the_server(page, server_url):
    # A trains 5 steps; B trains 5000 slow steps unless its socket is told to stop.
    page.goto(server_url + "/?task=adding&seq_len=10&hidden_size=8&steps=5&cmp_b=steps:5000,seq_len:200,hidden_size:64")
    page.select_option("#speed", "0")
    wait_complete(page)
    page.wait_for_function(COMPARE_DONE, arg=2)
    page.click("#compare-train")
    page.wait_for_function("() => { const r = window.gfl.compare.entries.B.run; return !!r && r.steps > 0; }")
    page.click('#compare-chips .chip[data-name="B"] .chip-remove')
    page.wait_for_function("() => !window.gfl.training.active")  # A's own training is over
    # Nothing is left computing: B's training ended, not just its chip.
    idle = 0
    for _ in range(100):
        h = healthz(server_url)
        idle = idle + 1 if h["computing"] == 0 and h["waiting"] == 0 else 0
        if idle == 10:
            break
        time.sleep(0.05)  # condition-free: polling /healthz until the server has been idle 10 times running
    assert idle == 10, h
    assert page.log.errors == []


def test_opening_the_lag_map_overlays_how_far_back_each_setting_hears(page, server_url):
    """RNN against LSTM against GRU: each setting's lag curve (top layer, forward) is its own engine's, and the RNN's
    bound (γ·σ_max)^k is drawn beside its curve; the alternatives traced without the map are traced again with it."""
    page.goto(server_url + "/?arch=many-to-many&seq_len=30&cmp_b=cell:lstm&cmp_c=cell:gru")
    page.wait_for_function(COMPARE_DONE, arg=3)
    assert page.locator("#chart-compare-lag").is_hidden()
    page.click("#compare-lag-open")
    page.wait_for_function("() => document.getElementById('view-lag').open && location.search.includes('view=lag')")
    curves = "() => (document.getElementById('chart-compare-lag').data || [])" \
        ".filter(d => /^[ABC]: /.test(d.name)).length"
    page.wait_for_function(f"{curves} === 3")
    data = plot(page, "chart-compare-lag")["data"]
    for name, cell, label in zip("ABC", ["rnn", "lstm", "gru"], ["vanilla RNN", "LSTM", "GRU"]):
        ref = api_lag(server_url, {"arch": "many-to-many", "seq_len": 30, "cell": cell})
        [curve] = [d for d in data if d["name"] == f"{name}: {label}"]
        want = [math.nan if v == "nan" else v for v in ref["backward"]["lag_curve"][-1][0]]
        for got, w in zip(curve["y"], want):
            assert (got is None and math.isnan(w)) or math.isclose(got, w, rel_tol=1e-6), name
        bounds = [d for d in data if d["name"] == f"bound (γ·σ<sub>max</sub>)<sup>k</sup>, {name}: {label}"]
        assert len(bounds) == (1 if cell == "rnn" else 0), name
    assert page.log.errors == []


def test_attention_against_none_marks_the_handoff_and_measures_the_first_source_words_share(page, server_url):
    """An encoder-decoder with and without attention side by side: the chart marks where the decoder takes over, the
    table's share of the gradient at the first source word is the encoder's ‖∂L/∂h_0‖ / ‖∂L/∂h_T−1‖ of each setting's
    own /api/trace, and each setting with attention has its alignment drawn beside the others'."""
    base = {"arch": "encoder-decoder", "task": "reverse", "cell": "rnn", "seq_len": 16, "hidden_size": 16}
    page.goto(server_url + "/?arch=encoder-decoder&task=reverse&cell=rnn&seq_len=16&hidden_size=16"
              "&cmp_b=attention:dot&cmp_c=attention:additive")
    page.wait_for_function(COMPARE_DONE, arg=3)
    assert page.evaluate(SHAPES, "chart-compare-norms") == [15.5]  # one handoff, at T − 0.5, shared by all three
    assert plot(page, "chart-compare-norms")["notes"] == ["handoff"]
    table = page.evaluate(TABLE)
    heatmaps = plot(page, "chart-compare-alignment")
    assert [d["type"] for d in heatmaps["data"]] == ["heatmap", "heatmap"]  # B and C: A has no attention
    assert heatmaps["notes"] == ["B", "C"]
    assert page.is_visible("#chart-compare-alignment")
    shares = {}
    for name, attention in zip("ABC", ["none", "dot", "additive"]):
        doc = api_trace(server_url, {**base, "attention": attention})
        norms = doc["backward"]["grad_h_norm"][0][0]
        shares[name] = norms[0] / norms[15]
        assert math.isclose(float(table[name]["source"]), shares[name], rel_tol=1e-6), name
        if name != "A":  # the alignment drawn is the setting's own, decoder step × source step, rows summing to 1
            z = heatmaps["data"]["ABC".index(name) - 1]["z"]
            want = doc["done"]["attention"]["alignment"]  # float32 both: the page's binary frame, the document's text
            pairs = [(a, b) for r, s in zip(z, want, strict=True) for a, b in zip(r, s, strict=True)]
            assert all(math.isclose(a, b, rel_tol=1e-6) for a, b in pairs), name
            assert all(math.isclose(sum(row), 1.0, rel_tol=1e-5) for row in z), name
    assert shares["A"] < 1e-3 and shares["B"] > 0.1 and shares["C"] > 0.1  # the attention's road reaches step 0
    page.goto(server_url + "/?seq_len=20&cmp_b=cell:gru")  # not an encoder-decoder: no handoff, no share
    page.wait_for_function(COMPARE_DONE, arg=2)
    assert page.evaluate(SHAPES, "chart-compare-norms") == []
    assert {row["source"] for row in page.evaluate(TABLE).values()} == {"– (not an encoder–decoder)"}
    assert page.is_hidden("#compare-view-alignment")
    assert page.log.errors == []
