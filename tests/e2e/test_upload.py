"""Issue 15 on the page: a student opens their own model and their own series; a bad file says why."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn

from tests.e2e.harness import wait_complete

SERIES_SAYS = "re => new RegExp(re).test(document.getElementById('upload-series-status').textContent)"
SHOWN_CELL = "cell => !!window.gfl.trace && window.gfl.trace.config.cell === cell && window.gfl.lastPaint.complete"


def test_an_uploaded_model_is_traced_and_a_bad_file_says_why(page, server_url, tmp_path):
    page.goto(server_url + "/?seq_len=20&hidden_size=8")
    run = wait_complete(page)
    assert page.evaluate("() => window.gfl.trace.config.cell") == "rnn"
    page.click("#upload summary")  # the student opens the section
    bad = tmp_path / "notes.pt"
    bad.write_bytes(b"these are my lecture notes, not a model")
    page.set_input_files("#upload-model", str(bad))
    status = page.locator("#upload-model-status")
    page.wait_for_function("() => /not used/.test(document.getElementById('upload-model-status').textContent)")
    assert status.is_visible() and "torch.save" in status.inner_text() and status.get_attribute("role") == "alert"
    assert page.is_hidden("#upload-link-note")

    torch.manual_seed(0)
    good = tmp_path / "homework.pt"
    torch.save({"encoder.rnn." + k: v for k, v in nn.GRU(4, 6, num_layers=2).state_dict().items()}, good)
    page.set_input_files("#upload-model", str(good))
    page.wait_for_function(SHOWN_CELL, arg="gru")
    assert "GRU, H = 6, 2 layer(s)" in status.inner_text() and "encoder.rnn" in status.inner_text()
    assert page.evaluate("() => window.gfl.trace.config.hidden_size") == 6
    assert page.is_visible("#upload-link-note") and "cannot travel in a link" in page.inner_text("#upload-link-note")
    assert "cell=" not in page.url  # the link keeps the page's own settings only
    page.click("#upload-model-clear")
    page.wait_for_function(SHOWN_CELL, arg="rnn")
    assert run > 0


def test_an_uploaded_series_is_traced_and_a_bad_csv_names_its_row(page, server_url, tmp_path):
    page.goto(server_url + "/?seq_len=10&hidden_size=4&task=sine&arch=many-to-many")
    run = wait_complete(page)
    page.click("#upload summary")
    bad = tmp_path / "prices.csv"
    bad.write_text("day,price\n1,10\n2,ten\n3,12\n")
    page.fill("#upload-column", "price")
    page.set_input_files("#upload-series", str(bad))
    page.wait_for_function(SERIES_SAYS, arg="row 3, column 'price'")
    good = tmp_path / "good.csv"
    good.write_text("day,price\n" + "".join(f"{k},{10 + (k % 9)}\n" for k in range(50)))
    page.set_input_files("#upload-series", str(good))
    run = wait_complete(page, after=run)
    page.wait_for_function(SERIES_SAYS, arg="Your series: price, 50 values")
    assert page.is_visible("#upload-link-note")
    # The page shows the series' trace: the API's answer for the same setting and the same file.
    config = page.evaluate("() => window.gfl.trace.config")
    r = page.request.post(server_url + "/api/trace", multipart={
        "config": json.dumps(config), "column": "price",
        "series": {"name": "good.csv", "mimeType": "text/csv", "buffer": good.read_bytes()}})
    assert r.status == 200, r.text()
    assert page.evaluate("() => window.gfl.trace.done.loss") == pytest.approx(r.json()["done"]["loss"], rel=1e-6)
