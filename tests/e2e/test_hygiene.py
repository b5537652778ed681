"""The page talks to nobody but its own server and logs no errors, through a typical lesson."""

from __future__ import annotations

import pytest

from tests.e2e.harness import wait_complete


@pytest.mark.playback
def test_no_foreign_requests_and_no_console_errors(page, server_url):
    page.goto(server_url + "/?cell=lstm&num_layers=2&bidirectional=1&seq_len=120")
    run = wait_complete(page)
    assert page.locator("#view-layers").evaluate("el => !el.classList.contains('empty')")
    page.select_option("#view-layer", "1,1")
    page.select_option('[name="cell"]', "gru")
    run = wait_complete(page, after=run)
    page.uncheck('[name="bidirectional"]')
    run = wait_complete(page, after=run)
    page.select_option("#speed", "0")
    page.fill('[name="gain"]', "2.5")
    run = wait_complete(page, after=run)
    page.click("#step-back")
    page.click("#play")
    with page.expect_download() as dl:
        page.click('button[data-download="csv"]')
    assert dl.value.suggested_filename.endswith(".csv")
    assert dl.value.path().read_text().startswith("t,layer,direction,grad_h_norm")
    with page.expect_download() as dl:
        page.click('button[data-png="chart-grad-norm"]')
    assert dl.value.suggested_filename.endswith(".png")
    with page.expect_download() as dl:
        page.click('button[data-download="json"]')
    assert dl.value.suggested_filename.endswith(".json")
    assert page.log.requests, "the page made no requests at all?"
    assert page.log.foreign_requests() == []
    assert page.log.errors == []


def test_plotly_is_served_locally(page, server_url):
    page.goto(server_url + "/")
    wait_complete(page)
    scripts = page.evaluate("() => [...document.scripts].map(s => s.src).filter(Boolean)")
    assert any(s.endswith("/plotly.min.js") and "/vendor/" in s for s in scripts)
    assert all(s.startswith(server_url) for s in scripts)
