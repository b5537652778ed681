"""Your own model and data on the page: a student opens their own model and their own series; a bad file says why."""

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


# -- the series on the page, and a reconnect that does not send the file again -----------------------------

SERIES_PAGE = "/?seq_len=10&hidden_size=4&batch_size=3&task=sine&arch=many-to-many"
WINDOWS_SHOWN = ("() => { const el = document.getElementById('chart-series');"
                 " return !!el.data && el.data.length === 3; }")
TRACE_ON_SERIES = ("() => !!window.gfl.trace && !!window.gfl.trace.start.windows && window.gfl.lastPaint.complete"
                   " && window.gfl.state.showsCurrent()")


class Wire:
    """What the page sent on its websockets: text messages (parsed) and the sizes of binary frames."""

    def __init__(self, page):
        self.texts: list[dict] = []
        self.binaries: list[int] = []
        page.on("websocket", lambda ws: ws.on("framesent", self.sent))

    def sent(self, payload):
        if isinstance(payload, str):
            self.texts.append(json.loads(payload))
        else:
            self.binaries.append(len(payload))

    def uploads(self) -> list[dict]:
        return [m for m in self.texts if m["type"] in ("model", "series")]


def price_csv(tmp_path, n: int = 60):
    import math

    path = tmp_path / "prices.csv"
    rows = (f"{k},{20 + 3 * math.sin(k / 3.1) + (k % 4) * 0.5:.3f}\n" for k in range(n))
    path.write_text("day,price\n" + "".join(rows))
    return path


def upload_series(page, path, column="price"):
    page.click("#upload summary")
    page.fill("#upload-column", column)
    page.set_input_files("#upload-series", str(path))
    page.wait_for_function(TRACE_ON_SERIES)
    page.wait_for_function(WINDOWS_SHOWN)


def engine_windows(page, path, column="price"):
    """The windows the engine itself cuts for the page's setting, and the normalised series it reads."""
    from engine import Config
    from engine.lab.experiment import trace_series
    from server.uploads import read_series

    series = read_series(path.read_bytes(), column)
    config = Config.from_dict(page.evaluate("() => window.gfl.trace.config"))
    return list(trace_series(config, series).windows), config.seq_len, series.normalised.tolist()


def segments(xs):
    out, run = [], []
    for x in xs:
        if x is None:
            out.append(run)
            run = []
        else:
            run.append(x)
    return out


def test_the_series_view_shows_the_parsed_values_and_the_engines_windows(page, server_url, tmp_path):
    from tests.e2e.harness import plot

    page.goto(server_url + SERIES_PAGE)
    wait_complete(page)
    assert page.is_hidden("#view-series")
    path = price_csv(tmp_path)
    upload_series(page, path)
    starts, T, z = engine_windows(page, path)
    assert len(starts) == 3 and T == 10
    series, inputs, nexts = plot(page, "chart-series")["data"]
    assert series["y"] == pytest.approx(z, rel=1e-9, abs=1e-12)  # what the server parsed, normalised
    assert series["x"] == list(range(60))
    assert segments(inputs["x"]) == [list(range(p, p + T)) for p in starts]  # exactly the engine's windows
    assert nexts["x"] == [p + T for p in starts] and nexts["y"] == pytest.approx([z[p + T] for p in starts])
    assert page.evaluate("() => window.gfl.trace.start.windows") == {"starts": starts, "seq_len": T}
    assert "3 window(s) of 10 steps" in page.inner_text("#note-series")
    assert page.evaluate("() => window.gfl.state.uploads.series.name") == "prices.csv"
    assert "prices" not in page.url and "price" not in page.url  # the link says nothing of the upload

    slider = page.locator('[name="seq_len"]')  # another setting: other windows, drawn from the new trace
    slider.fill("6")
    slider.dispatch_event("change")
    page.wait_for_function("() => window.gfl.trace.config.seq_len === 6 && window.gfl.lastPaint.complete")
    page.wait_for_function("() => window.gfl.trace.start.windows.seq_len === 6 &&"
                           " document.getElementById('chart-series').data[1].x.filter(x => x === null).length === 3")
    starts, T, _ = engine_windows(page, path)
    assert segments(plot(page, "chart-series")["data"][1]["x"]) == [list(range(p, p + 6)) for p in starts]

    page.click("#upload-series-clear")
    page.wait_for_function("() => document.getElementById('view-series').hidden")
    page.wait_for_function("() => !window.gfl.trace.start.windows && window.gfl.lastPaint.complete")


def test_a_reconnect_sends_the_token_not_the_file_and_an_expired_token_the_file(page, server_url, tmp_path):
    wire = Wire(page)
    page.goto(server_url + SERIES_PAGE)
    wait_complete(page)
    path = price_csv(tmp_path)
    upload_series(page, path)
    assert [m.get("bytes") for m in wire.uploads()] == [path.stat().st_size] and len(wire.binaries) == 1
    before = page.evaluate("() => ({ windows: window.gfl.trace.start.windows, loss: window.gfl.trace.done.loss })")

    def reconnect():
        # The connection drops; a new socket numbers its runs from 1 again, so a fresh trace is told by its time.
        dropped = page.evaluate("() => { window.gfl.socket.socket.ws.close(); return performance.now(); }")
        page.wait_for_function("() => document.getElementById('conn-status').hidden && window.gfl.socket.open")
        page.wait_for_function("t => window.gfl.trace.createdAt > t", arg=dropped)
        page.wait_for_function(TRACE_ON_SERIES)
        return page.evaluate("() => ({ windows: window.gfl.trace.start.windows, loss: window.gfl.trace.done.loss })")

    assert reconnect() == before  # still the uploaded series, same batch, same loss
    assert len(wire.binaries) == 1, "no file went again"
    token = wire.uploads()[-1].get("token")
    assert token and wire.uploads()[-1] == {"type": "series", "token": token}
    runs = [i for i, m in enumerate(wire.texts) if m["type"] == "run"]
    assert wire.texts.index(wire.uploads()[-1]) < runs[-1], "the run waited for the upload"

    # The server forgets the upload (as when its token expires): the page sends the file again, once.
    page.evaluate("() => { window.gfl.socket.socket.uploads.series.token = 'forgotten-token' }")
    assert reconnect() == before
    assert wire.uploads()[-2] == {"type": "series", "token": "forgotten-token"}
    assert wire.uploads()[-1]["bytes"] == path.stat().st_size and len(wire.binaries) == 2
    assert page.evaluate("() => window.gfl.state.uploads.series.status") == "active"
    assert page.log.errors == []


def test_compare_and_lessons_say_the_upload_does_not_apply_and_axe_finds_nothing(page, server_url, tmp_path):
    from tests.e2e.axe import violations

    page.goto(server_url + SERIES_PAGE)
    wait_complete(page)
    upload_series(page, price_csv(tmp_path))
    assert "Compare's B and C run the configured model" in page.inner_text("#upload-scope-note")
    page.click("#compare-toggle")
    note = page.locator("#compare-upload-note")
    assert note.is_visible() and "applies to A only" in note.inner_text()
    url = page.url
    page.select_option("#lesson-picker", index=1)  # a lesson is another page: asked first
    leave = page.locator("[data-source='upload-leave']")
    leave.wait_for()
    assert "is not used there" in leave.inner_text() and page.url == url
    assert page.evaluate("() => document.activeElement.textContent") == "Open the lesson without it"
    assert violations(page) == []
    leave.locator("button").click()
    assert leave.count() == 0 and page.input_value("#lesson-picker") == "" and page.url == url
    page.click("#upload-series-clear")
    page.wait_for_function("() => document.getElementById('compare-upload-note').hidden")
    assert page.log.errors == []


def test_a_training_on_a_series_is_not_called_current_once_the_series_is_cleared(page, server_url, tmp_path):
    page.goto(server_url + "/?seq_len=10&hidden_size=4&task=sine&arch=many-to-many&steps=20")
    run = wait_complete(page)
    page.click("#upload summary")
    good = tmp_path / "good.csv"
    good.write_text("".join(f"{10 + (k % 9)}\n" for k in range(60)))
    page.set_input_files("#upload-series", str(good))
    run = wait_complete(page, after=run)
    page.wait_for_function(SERIES_SAYS, arg="Your series: .*60 values")
    page.click("#train")
    run = wait_complete(page, after=run)
    page.wait_for_function("() => /20/.test(document.getElementById('train-status').textContent)")
    assert page.evaluate("() => window.gfl.state.trainingCurrent()")
    assert "other uploaded files" not in page.inner_text("#train-banner")
    page.click("#upload-series-clear")
    wait_complete(page, after=run)
    assert not page.evaluate("() => window.gfl.state.trainingCurrent()")
    banner = "() => /trained with other uploaded files/.test(document.getElementById('train-banner').textContent)"
    page.wait_for_function(banner)
    assert page.log.errors == []


def test_another_series_while_training_stops_it_and_says_why(page, server_url, tmp_path):
    page.goto(server_url + "/?seq_len=10&hidden_size=4&task=sine&arch=many-to-many&steps=5000")
    run = wait_complete(page)
    page.click("#upload summary")
    first, second = tmp_path / "a.csv", tmp_path / "b.csv"
    first.write_text("".join(f"{10 + (k % 9)}\n" for k in range(60)))
    second.write_text("".join(f"{k % 5}\n" for k in range(80)))
    page.set_input_files("#upload-series", str(first))
    run = wait_complete(page, after=run)
    page.click("#train")
    page.wait_for_function("() => /step \\d+/.test(document.getElementById('train-status').textContent)")
    page.set_input_files("#upload-series", str(second))
    page.wait_for_function(SERIES_SAYS, arg="80 values")
    page.wait_for_function("() => /because the uploaded files changed/.test("
                           "document.getElementById('train-banner').textContent)")  # fmt: skip
    assert page.is_enabled("#train") and page.is_disabled("#stop")
    wait_complete(page, after=run)  # the new series' trace, untrained
    assert page.evaluate("() => window.gfl.state.showsCurrent() && !window.gfl.state.view.shown.trained")
    assert page.log.errors == []


def test_a_refused_file_shows_its_error_once_and_is_not_sent_again_after_a_reconnect(page, server_url, tmp_path):
    wire = Wire(page)
    answers: list[dict] = []  # the server's upload errors, as the page received them
    page.on("websocket", lambda ws: ws.on("framereceived", lambda p: answers.append(json.loads(p))
                                          if isinstance(p, str) and '"kind"' in p and '"error"' in p else None))
    page.goto(server_url + SERIES_PAGE)
    wait_complete(page)
    good = price_csv(tmp_path)
    upload_series(page, good)
    bad = tmp_path / "huge-cell.csv"
    bad.write_text("price\n1\n" + "9" * 300 + "\n3\n")  # a cell over the 256 characters allowed
    page.set_input_files("#upload-series", str(bad))
    page.wait_for_function(SERIES_SAYS, arg="huge-cell.csv was not used: row 3 has a cell over 256")
    assert len(answers) == 1 and answers[0]["kind"] == "series" and answers[0]["row"] == 3
    assert len(wire.binaries) == 2  # the good file, then the refused one
    assert page.evaluate("() => window.gfl.state.uploads.series.name") == "prices.csv"  # still the good one

    dropped = page.evaluate("() => { window.gfl.socket.socket.ws.close(); return performance.now(); }")
    page.wait_for_function("() => document.getElementById('conn-status').hidden && window.gfl.socket.open")
    page.wait_for_function("t => window.gfl.trace.createdAt > t", arg=dropped)
    page.wait_for_function(TRACE_ON_SERIES)
    assert len(wire.binaries) == 2, "no file went again: the good one came back by its token"
    assert wire.uploads()[-1] == {"type": "series", "token": wire.uploads()[-1]["token"]}
    assert len(answers) == 1, "the refusal was not asked for, nor shown, again"
    status = page.inner_text("#upload-series-status")
    assert status.count("was not used") == 1
    assert page.evaluate("() => window.gfl.state.uploads.series.status") == "active"
    assert page.log.errors == []
