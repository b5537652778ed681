"""The encoder-decoder on the page: a 'handoff' line on the time views, and compare mode over reverse_source."""

from __future__ import annotations

import math

from tests.e2e.harness import plot, wait_complete
from tests.e2e.test_compare import COMPARE_DONE, api_trace, top_forward_norms

LINK = "/?arch=encoder-decoder&task=translate&seq_len=8&hidden_size=8&cell=lstm"
SHAPES = """id => ((document.getElementById(id).layout || {}).shapes || [])
  .filter(s => s.name === 'handoff').map(s => s.x0)"""


def test_the_time_views_mark_the_handoff(page, server_url):
    page.goto(server_url + LINK)
    wait_complete(page)
    for chart in ("chart-grad-norm", "chart-hidden", "chart-grad-units"):
        assert page.evaluate(SHAPES, chart) == [7.5], chart  # between encoder step 7 and decoder step 8
        assert "handoff" in plot(page, chart)["notes"], chart
    page.goto(server_url + "/?seq_len=8")
    wait_complete(page)
    assert page.evaluate(SHAPES, "chart-grad-norm") == []
    assert page.log.errors == []


def test_compare_reverse_source_on_the_same_data(page, server_url):
    page.goto(server_url + LINK + "&cmp_b=reverse_source:1")
    page.wait_for_function(COMPARE_DONE, arg=2)
    curves = plot(page, "chart-compare-norms")["data"]
    assert len(curves) == 2 and all(len(c["y"]) == 16 for c in curves)
    base = {"arch": "encoder-decoder", "task": "translate", "seq_len": 8, "hidden_size": 8, "cell": "lstm"}
    for curve, reverse in zip(curves, (False, True)):
        want = top_forward_norms(api_trace(server_url, {**base, "reverse_source": reverse}))
        assert all(math.isclose(a, b, rel_tol=1e-5) for a, b in zip(curve["y"], want)), reverse
    assert curves[0]["y"] != curves[1]["y"]
    assert page.log.errors == []


def test_the_training_profile_spans_the_encoder_and_the_decoder(page, server_url):
    """The step × timestep profile of an encoder-decoder's training has a row for every one of its 2T steps,
    the decoder's as well as the encoder's (train_start said T once, and the view drew only the encoder)."""
    page.goto(server_url + LINK + "&steps=6")
    page.select_option("#speed", "0")
    run = wait_complete(page)
    page.click("#train")
    page.wait_for_function("() => { const t = window.gfl.training; return !t.active && !!(t.run && t.run.done); }")
    wait_complete(page, after=run)
    heat = plot(page, "chart-train-profile")["data"][0]
    assert heat["y"] == list(range(16)) and len(heat["z"]) == 16
    assert page.evaluate("() => document.getElementById('chart-train-profile').layout.yaxis.range") == [-0.5, 15.5]
    profiles = page.evaluate("() => window.gfl.training.run.profiles")
    for j, profile in enumerate(profiles):  # each drawn column is the frame's profile, decoder rows included
        want = [math.log10(v) if v > 0 else None for v in profile[0][0]]
        got = [row[j] for row in heat["z"]]
        assert all(a is None and b is None or math.isclose(a, b, rel_tol=1e-9) for a, b in zip(got, want, strict=True))
    assert any(row[0] is not None for row in heat["z"][8:]), "the decoder's steps are drawn"
    assert page.log.errors == []
