"""docs/notebook.ipynb, executed in a real kernel and rendered by nbconvert, opened from file:// in Chromium with
every other request refused: each display paints the lab's views, and the charts hold the trace's numbers."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch
from torch import nn
from torch.nn import functional as F

from engine.tracing import trace_module
from tests.e2e.harness import VIEWPORT, PageLog, offline_page
from tests.server.notebook_helpers import decode, displays

pytest.importorskip("nbconvert", reason="rendering the notebook needs nbconvert")
pytest.importorskip("ipykernel", reason="executing the notebook needs nbclient and ipykernel")
pytestmark = pytest.mark.timeout(900)

RTOL = 1e-6


@pytest.fixture(scope="module")
def rendered(tmp_path_factory, executed_notebook):
    from nbconvert import HTMLExporter

    out = tmp_path_factory.mktemp("nbhtml")
    nb, saved = executed_notebook  # tests/conftest.py: run once per session, also for tests/server/test_notebook.py
    # nbconvert's own template links require.js and MathJax from a CDN; the views need neither, and with
    # those two links emptied the file asks for nothing at all, which this test then asserts.
    default_html, _ = HTMLExporter().from_notebook_node(nb)
    html, _ = HTMLExporter(require_js_url="", mathjax_url="").from_notebook_node(nb)
    (out / "notebook.html").write_text(html, encoding="utf-8")
    return out, html, default_html, saved


@pytest.fixture(scope="module")
def offline(rendered, chromium):
    out, *_ = rendered
    page, refused = offline_page(chromium, timeout_ms=120_000)
    page.goto((out / "notebook.html").as_uri())
    page.wait_for_function("() => { const r = [...document.querySelectorAll('.gfl-nb')];"
                           " return r.length > 0 && r.every(x => x.dataset.painted); }")  # fmt: skip
    yield page, refused
    page.context.close()


def test_only_nbconverts_template_links_a_cdn(rendered):
    _, html, default_html, _ = rendered
    from nbconvert import HTMLExporter

    e = HTMLExporter()
    assert set(re.findall(r'<script[^>]*\ssrc="(https?://[^"]+)"', default_html)) <= {e.require_js_url, e.mathjax_url}
    assert not re.findall(r'<script[^>]*\ssrc="(https?://[^"]+)"', html)


def test_every_display_paints_offline_without_errors(offline):
    page, refused = offline
    states = page.evaluate("() => [...document.querySelectorAll('.gfl-nb')].map(r => r.dataset.painted)")
    assert states == ["1", "1", "1"]
    assert refused == []
    assert not page.log.errors, page.log.errors
    # Plotly ran once, from the first output, and both displays drew with it.
    views = page.evaluate("""() => [...document.querySelectorAll('.gfl-nb')].map(r =>
        [...r.querySelectorAll('.gfl-nb-chart')].map(c => c.dataset.view + (c.data ? ':' + c.data.length : '')))""")
    assert [len(v) for v in views] == [4, 8, 4]  # norms, h_t, ∂L/∂h_t, gates per section; layer map needs L·D > 1
    assert all(":" in v for vs in views for v in vs), views


def chart(page, chart_id: str) -> list[dict]:
    return page.evaluate("id => document.getElementById(id).data.map(t => ({type: t.type, mode: t.mode,"
                         " dash: t.line && t.line.dash, group: t.legendgroup, y: t.y, z: t.z}))", chart_id)  # fmt: skip


def test_the_charts_hold_the_traces_numbers(offline, rendered):
    page, _ = offline
    _, html, _, saved = rendered
    head, x, y = saved["head"], saved["x"], saved["y"]
    modules = [saved["lstm"], saved["variants"][0.0], saved["variants"][3.0]]
    ids = page.evaluate("() => [...document.querySelectorAll('.gfl-nb-section')].map(s => s.id)")
    embedded = [s for _, sections in displays(html) for s in sections]
    assert len(ids) == len(embedded) == 4  # the last: the lab's own trace of a link (tests/server/test_notebook.py)
    for sid, section, module in zip(ids, embedded, modules):
        run = decode(section["units"])
        # What the page drew is the trace of the notebook's module, traced again here.
        mt = trace_module(module, x, lambda out: F.mse_loss(head(out[-1]), y))
        np.testing.assert_allclose(run["series"]["grad_h_norm"], mt.grad_h_norm, rtol=RTOL)
        [line] = [t for t in chart(page, f"{sid}-grad-norm") if t["mode"] == "lines" and t["dash"] == "solid"]
        np.testing.assert_allclose(np.array(line["y"], dtype=float), mt.grad_h_norm[0, 0], rtol=RTOL)
        [dashed] = [t for t in chart(page, f"{sid}-grad-norm") if t["mode"] == "lines" and t["dash"] == "dash"
                    and t["group"] == "0,0"]  # fmt: skip
        np.testing.assert_allclose(np.array(dashed["y"], dtype=float), mt.grad_c_norm[0, 0], rtol=RTOL)
        hidden = chart(page, f"{sid}-hidden")[0]["z"]  # units × time, batch sample 0
        np.testing.assert_allclose(np.array(hidden, dtype=float), mt.hidden[0, 0, :, 0].T, rtol=RTOL)
        grad = chart(page, f"{sid}-grad-units")[0]["z"]
        np.testing.assert_allclose(np.array(grad, dtype=float), np.log10(np.abs(mt.grad_h[0, 0, :, 0].T)), rtol=RTOL)
        gates = [t for t in chart(page, f"{sid}-gates") if t["type"] == "heatmap"]
        assert len(gates) == 4
        np.testing.assert_allclose(np.array(gates[1]["z"], dtype=float), mt.gates["forget"][0, 0, :, 0].T, rtol=RTOL)


def open_block(chromium, tmp_path, html: str):
    """A page holding one display block alone, opened from file:// (no notebook around it)."""
    (tmp_path / "block.html").write_text("<!doctype html><meta charset='utf-8'><body>" + html + "</body>", "utf-8")
    context = chromium.new_context(viewport=VIEWPORT)
    page = context.new_page()
    page.log = PageLog(page)
    page.goto((tmp_path / "block.html").as_uri())
    page.wait_for_function("() => document.querySelector('.gfl-nb').dataset.painted")
    assert page.evaluate("() => document.querySelector('.gfl-nb').dataset.painted") == "1"
    return context, page


def test_the_apps_own_trace_paints_as_on_the_page(chromium, tmp_path):
    from engine import Config, trace_config
    from server.notebook import to_html

    trace = trace_config(Config(cell="gru", num_layers=2, bidirectional=True, seq_len=8))
    context, page = open_block(chromium, tmp_path, to_html(trace))
    try:
        sid = page.evaluate("() => document.querySelector('.gfl-nb-section').id")
        lines = [t for t in chart(page, f"{sid}-grad-norm") if t["mode"] == "lines" and t["dash"] == "solid"]
        assert [t["group"] for t in lines] == ["0,0", "0,1", "1,0", "1,1"]
        for t in lines:
            l, d = map(int, t["group"].split(","))
            got = np.array([np.nan if v is None else v for v in t["y"]], dtype=float)
            want = trace.grad_h_norm[l, d]
            reached = want > 0  # a zero the loss never reached is a gap in the line
            np.testing.assert_allclose(got[reached], want[reached], rtol=RTOL)
        assert page.evaluate(f"() => !!document.getElementById('{sid}-layers').data")
        assert not page.log.errors, page.log.errors
    finally:
        context.close()


def test_an_output_above_the_one_carrying_plotly_waits_for_it(chromium, tmp_path):
    """A saved notebook whose cells ran out of order: the output without Plotly comes first on the page."""
    from server.notebook import to_html

    mts = [trace_module(nn.GRU(2, 3, dtype=torch.float64), torch.randn(5, 1, 2, dtype=torch.float64),
                        lambda out: out[-1].pow(2).sum()) for _ in range(2)]
    html = to_html(mts[0], include_plotly=False) + "<p>another cell</p>" + to_html(mts[1])
    (tmp_path / "two.html").write_text("<!doctype html><meta charset='utf-8'><body>" + html + "</body>", "utf-8")
    context = chromium.new_context(viewport=VIEWPORT)
    page = context.new_page()
    page.log = PageLog(page)
    try:
        page.goto((tmp_path / "two.html").as_uri())
        page.wait_for_function("() => [...document.querySelectorAll('.gfl-nb')].every(r => r.dataset.painted)")
        states = page.evaluate("() => [...document.querySelectorAll('.gfl-nb')].map(r => r.dataset.painted)")
        assert states == ["1", "1"]
        sid = page.evaluate("() => document.querySelector('.gfl-nb-section').id")
        y = [t for t in chart(page, f"{sid}-grad-norm") if t["mode"] == "lines" and t["dash"] == "solid"][0]["y"]
        np.testing.assert_allclose(np.array(y, dtype=float), mts[0].grad_h_norm[0, 0], rtol=RTOL)
        assert not page.log.errors, page.log.errors
    finally:
        context.close()


def test_a_packed_samples_padding_is_not_called_an_overflow(chromium, tmp_path):
    from torch.nn.utils.rnn import pack_padded_sequence

    from server.notebook import to_html

    torch.manual_seed(4)
    gru = nn.GRU(3, 6, num_layers=2, bidirectional=True)
    x = pack_padded_sequence(torch.randn(9, 3, 3), torch.tensor([4, 9, 6]), enforce_sorted=False)
    mt = trace_module(gru, x, lambda out: out.data.pow(2).sum())
    context, page = open_block(chromium, tmp_path, to_html(mt))
    try:
        assert page.evaluate("() => document.querySelector('.gfl-nb-banner').textContent") == ""
        assert "sample 0 has 4 steps" in page.evaluate("() => document.querySelector('.gfl-nb-meta').textContent")
        sid = page.evaluate("() => document.querySelector('.gfl-nb-section').id")
        [layers] = [t for t in chart(page, f"{sid}-layers") if t["type"] == "heatmap"][:1]
        want = np.log10(mt.grad_h_norm.reshape(4, 9))  # rows (layer, direction), over every sequence's real steps
        np.testing.assert_allclose(np.array(layers["z"], dtype=float), want, rtol=RTOL)
        assert not page.log.errors, page.log.errors
    finally:
        context.close()


def test_an_exploding_app_trace_shows_the_banner_and_the_tables_advice(chromium, tmp_path):
    from engine import Config, trace_config
    from engine.config import FIELDS
    from server.notebook import to_html

    cfg = Config(cell="rnn", nonlinearity="relu", init="orthogonal", gain=3.0, seq_len=400)
    trace = trace_config(cfg)
    assert not np.isfinite(trace.hidden).all(), "the setting must overflow for this test to mean anything"
    context, page = open_block(chromium, tmp_path, to_html(trace))
    try:
        text = page.evaluate("() => document.querySelector('.gfl-nb-banner').textContent")
        assert "overflowed at t =" in text
        gain_min = next(f for f in FIELDS if f.name == "gain").describe()["min"]
        assert gain_min < cfg.gain and "a lower gain" in text  # the advice reads the table the block carries
        assert not page.log.errors, page.log.errors
    finally:
        context.close()


def test_a_module_traced_with_its_lag_map_shows_the_map_and_its_curve(chromium, tmp_path):
    from engine.tracing import lag_curve
    from server.notebook import to_html

    torch.manual_seed(2)
    lstm = nn.LSTM(3, 8)
    mt = trace_module(lstm, torch.randn(16, 4, 3), lambda out: out.pow(2).mean(), lag_rows=64)
    assert list(mt.output_steps) == list(range(16)), "a loss on every output: a row for each"
    context, page = open_block(chromium, tmp_path, to_html(mt))
    try:
        sid = page.evaluate("() => document.querySelector('.gfl-nb-section').id")
        heat = chart(page, f"{sid}-lag-map")[0]
        got = np.array([[0.0 if v is None else 10**v for v in row] for row in heat["z"]])
        np.testing.assert_allclose(got, mt.grad_h_by_output[0, 0], rtol=1e-5)  # the page's float32 of the map
        [curve] = [t for t in chart(page, f"{sid}-lag-curve") if t["mode"] == "lines"]
        want = lag_curve(mt.grad_h_by_output, mt.output_steps)[0, 0]
        got = np.array([np.nan if v is None else v for v in curve["y"]], dtype=float)
        np.testing.assert_allclose(got, want, rtol=1e-5)
        assert not page.log.errors, page.log.errors
    finally:
        context.close()
