"""A view's PNG is a slide: 1280×720 at twice the pixels, type for a projector, the view's title and the setting in
words above the plot, and the legend's formulas typeset as the page sets them (σ<sub>max</sub>, not σ_max)."""

from __future__ import annotations

import struct

from tests.e2e.harness import wait_complete

# Keeps the next slide PNG's announcement (its layout and legend names) where the test can read it.
SLIDE = """() => window.addEventListener('gfl:slide-png', e => (window.slideSeen = e.detail), { once: true })"""
BOUND = "bound: (γ·σ<sub>max</sub>)<sup>distance</sup>"


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", data[16:24])


def slide(page, chart: str) -> tuple[bytes, dict]:
    """The PNG the view's button downloads for `chart`, and the figure it was drawn from."""
    page.evaluate(SLIDE)
    with page.expect_download() as dl:
        page.click(f'button[data-png="{chart}"]')
    return dl.value.path().read_bytes(), page.evaluate("() => window.slideSeen")


def test_a_views_png_is_a_slide_with_its_title_the_setting_and_the_legend_typeset(page, server_url):
    page.goto(server_url + "/?seq_len=40&gain=1.5")
    wait_complete(page)
    # On the page the legend already sets the bound's formula, as the caption under the chart does.
    names = page.evaluate("() => document.getElementById('chart-grad-norm').data.map((t) => t.name)")
    assert BOUND in names, names
    data, detail = slide(page, "chart-grad-norm")
    assert png_size(data) == (2560, 1440) and (detail["width"], detail["height"], detail["scale"]) == (1280, 720, 2)
    assert BOUND in detail["names"] and "‖∂L/∂h<sub>t</sub>‖" in detail["names"]
    layout = detail["layout"]
    title = layout["title"]["text"]
    assert "How big is the gradient at each step?" in title, title
    assert "Cell = vanilla RNN" in title and "Sequence length T = 40" in title and "= 1.5" in title, title
    assert layout["yaxis"]["title"]["text"] == "‖∂L/∂h<sub>t</sub>‖"
    sizes = [layout["font"]["size"], layout["legend"]["font"]["size"], layout["xaxis"]["tickfont"]["size"],
             layout["yaxis"]["tickfont"]["size"], layout["title"]["font"]["size"]]
    assert min(sizes) >= 18, sizes  # against the page's 12: legible from the back of a room
    # An LSTM's chart has a right axis (∏ forget gate): its ticks are a slide's size too.
    page.goto(server_url + "/?cell=lstm&seq_len=40")
    wait_complete(page)
    _, detail = slide(page, "chart-grad-norm")
    assert detail["layout"]["yaxis2"]["tickfont"]["size"] >= 18 and "Cell = LSTM" in detail["layout"]["title"]["text"]
    assert page.log.errors == []
