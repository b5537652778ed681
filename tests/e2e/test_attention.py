"""Attention on the page: the alignment heatmap holds the engine's numbers, the split holds both parts, and a hover on
a decoder step draws where its own gradient goes."""

from __future__ import annotations

import json
import urllib.request

import numpy as np

from engine import Config, trace_config
from server.notebook import to_html
from tests.e2e.harness import offline_page, plot, wait_complete
from tests.e2e.test_compare import api_trace
from tests.e2e.test_lag_view import HAS_MAP, POINT

SETTING = {"arch": "encoder-decoder", "task": "reverse", "seq_len": 8, "hidden_size": 8, "cell": "gru",
           "attention": "dot"}
LINK = "/?" + "&".join(f"{k}={v}" for k, v in SETTING.items())
OWN = "decoder step {}'s own gradient"


def test_the_alignment_heatmap_and_the_split_hold_the_engines_numbers(page, server_url):
    page.goto(server_url + LINK)
    wait_complete(page)
    page.wait_for_function("() => (document.getElementById('chart-alignment').data || []).length > 0")
    assert not page.evaluate("() => document.getElementById('view-attention').classList.contains('empty')")
    want = api_trace(server_url, SETTING)["done"]["attention"]
    heat = plot(page, "chart-alignment")["data"][0]
    got = np.array(heat["z"], float)
    assert got.shape == (8, 8)  # decoder step × source step
    np.testing.assert_allclose(got, np.array(want["alignment"]), rtol=1e-6)
    np.testing.assert_allclose(got.sum(1), 1.0, rtol=1e-5)
    bars = {d["name"]: d["y"] for d in plot(page, "chart-attention-split")["data"] if d["type"] == "bar"}
    np.testing.assert_allclose(bars["through the attention"], want["grad_attention_norm"][0], rtol=1e-6)
    np.testing.assert_allclose(bars["through the recurrence"], want["grad_recurrent_norm"][0], rtol=1e-6)
    # Without attention the view says why it is empty.
    page.goto(server_url + LINK.replace("attention=dot", "attention=none"))
    wait_complete(page)
    assert page.evaluate("() => document.getElementById('view-attention').classList.contains('empty')")
    assert page.log.errors == []


def test_hovering_a_decoder_step_draws_where_its_gradient_goes(page, server_url):
    page.goto(server_url + LINK + "&view=lag")
    wait_complete(page)
    page.wait_for_function(HAS_MAP)
    lag = _lag_document(server_url)
    i, T = 5, 8
    page.locator("#chart-alignment").scroll_into_view_if_needed()
    at = page.evaluate(POINT, ["chart-alignment", 2, i])
    page.mouse.move(at["x"], at["y"])
    page.wait_for_function("name => document.getElementById('chart-attention-split').data.some(d => d.name === name)",
                           arg=OWN.format(i))
    [row] = [d for d in plot(page, "chart-attention-split")["data"] if d["name"] == OWN.format(i)]
    k = lag["output_steps"].index(T + i)
    want = np.array(lag["grad_h_by_output"][0][0][k][:T], float)  # top layer, forward: encoder steps only
    np.testing.assert_allclose(row["y"], want, rtol=1e-5)
    assert (want > 0).all(), "with attention every source step hears decoder step i directly"
    shapes = page.evaluate("() => document.getElementById('chart-alignment').layout.shapes")
    assert [(s["y0"], s["y1"]) for s in shapes] == [(i - 0.5, i + 0.5)]  # the hovered row is outlined
    assert "Decoder step 5's own gradient" in page.text_content("#note-attention")
    assert page.log.errors == []


def _lag_document(server_url: str) -> dict:
    """/api/trace?lag=1's backward part for the setting: the lag map the hover reads from."""
    req = urllib.request.Request(server_url + "/api/trace?lag=1", data=json.dumps(SETTING).encode(),
                                 headers={"Content-Type": "application/json"}, method="POST")
    with urllib.request.urlopen(req, timeout=60) as r:
        return json.loads(r.read())["backward"]


def test_training_draws_the_alignment_as_it_forms(page, server_url):
    page.goto(server_url + LINK + "&steps=12")
    page.select_option("#speed", "0")
    run = wait_complete(page)
    assert page.evaluate("() => document.getElementById('train-view-alignment').classList.contains('empty')")
    page.click("#train")
    page.wait_for_function("() => { const t = window.gfl.training; return !t.active && !!(t.run && t.run.done); }")
    wait_complete(page, after=run)
    page.wait_for_function("() => (document.getElementById('chart-train-alignment').data || []).length > 0")
    last = page.evaluate("() => { const r = gfl.training.run; return { step: r.alignmentStep, z: r.alignment }; }")
    assert last["step"] == 12  # the last step is always profiled
    heat = plot(page, "chart-train-alignment")["data"][0]
    np.testing.assert_allclose(np.array(heat["z"], float), np.array(last["z"], float))
    np.testing.assert_allclose(np.array(heat["z"], float).sum(1), 1.0, rtol=1e-5)
    assert not page.evaluate("() => document.getElementById('train-view-alignment').classList.contains('empty')")
    assert page.log.errors == []


def test_the_notebook_draws_the_alignment_offline(chromium, tmp_path):
    trace = trace_config(Config.from_dict(SETTING))
    (tmp_path / "attention.html").write_text(to_html(trace), encoding="utf-8")
    page, refused = offline_page(chromium)
    page.goto((tmp_path / "attention.html").as_uri())
    page.wait_for_function("() => [...document.querySelectorAll('.gfl-nb')].every(x => x.dataset.painted)")
    z = page.evaluate("() => document.querySelector('[data-view=alignment]').data[0].z")
    np.testing.assert_allclose(np.array(z, float), trace.alignment, rtol=1e-6)
    assert refused == []
