"""The sweep page in Chromium: a sweep drawn point by point with its progress, the curves the API's numbers, the
link rewritten to the sweep's own, and that link reopening the same sweep from the cache."""

from __future__ import annotations

import json
import math
import urllib.request
from urllib.parse import parse_qsl, urlencode, urlsplit

from tests.e2e.axe import violations
from tests.e2e.harness import PHONE, offline_page, plot

QUERY = {"cell": "rnn", "hidden_size": "8", "batch_size": "4", "key": "seq_len", "values": "5,10,20,40",
         "over": "cell:rnn,lstm,gru", "seeds": "0,1"}  # fmt: skip
BODY = {"config": {"hidden_size": 8, "batch_size": 4}, "key": "seq_len", "values": [5, 10, 20, 40],
        "over": {"cell": ["rnn", "lstm", "gru"]}, "seeds": [0, 1]}  # fmt: skip
COMPLETE = "() => { const p = window.gflSweep && window.gflSweep.lastPaint; return !!p && p.complete; }"


def api(base: str, body: dict) -> dict:
    headers = {"content-type": "application/json"}
    request = urllib.request.Request(f"{base}/api/sweep", json.dumps(body).encode(), headers)
    with urllib.request.urlopen(request) as r:
        return json.loads(r.read(), parse_constant=float)


def health(base: str) -> dict:
    with urllib.request.urlopen(f"{base}/healthz") as r:
        return json.load(r)


def drawn_means(page, chart: str = "chart-sweep") -> dict[str, list[float]]:
    """Each curve's drawn means by name: not the seeds' bands, the dotted bound or baseline, the zeros' markers."""
    return {t["name"]: t["y"] for t in plot(page, chart)["data"] if "highest" not in t["name"]
            and "lowest" not in t["name"] and t.get("line", {}).get("dash") != "dot" and t.get("mode") != "markers"}


def rnn_drawn(figure: dict) -> list[float]:
    return next(t["y"] for t in figure["data"] if t["name"] == "cell = rnn")


def drawn_bounds(page) -> dict[str, list[float]]:
    return {t["name"]: t["y"] for t in plot(page, "chart-sweep")["data"] if t.get("line", {}).get("dash") == "dot"}


def test_a_sweep_is_drawn_point_by_point_with_its_progress_and_reopened_from_its_link(page, server_url):
    page.goto(f"{server_url}/sweep?{urlencode(QUERY)}")
    page.wait_for_function(COMPLETE)
    hook = page.evaluate("() => window.gflSweep")
    # One paint at the start and one after each of the 24 points, the bar saying how many were in at each.
    assert [done for _, done, _, _ in hook["progress"]] == list(range(25))
    assert all(value == done and most == 24 for _, done, value, most in hook["progress"])
    assert page.locator("#sweep-progress").evaluate("p => [p.value, p.max]") == [24, 24]
    assert page.locator("#sweep-status").inner_text() == "All 24 points computed."
    assert hook["lastPaint"]["yLog"] and hook["lastPaint"]["metric"] == "grad_first"

    want = api(server_url, BODY)
    means = drawn_means(page)
    for series in want["series"]:
        name = f"cell = {series['over']['cell']}"
        expected = [sum(p["grad_first"] for p in series["points"] if p["value"] == v) / 2 for v in BODY["values"]]
        assert all(math.isclose(a, b, rel_tol=1e-12) for a, b in zip(means[name], expected, strict=True)), name
    # Beside the RNN's curve its geometric bound, the mean of the points' own bound_first; the gated cells have none.
    rnn = next(series["points"] for series in want["series"] if series["over"]["cell"] == "rnn")
    bound = [sum(p["bound_first"] for p in rnn if p["value"] == v) / 2 for v in BODY["values"]]
    (name, drawn), = drawn_bounds(page).items()
    assert name.startswith("cell = rnn: bound") and all(
        math.isclose(a, b, rel_tol=1e-12) for a, b in zip(drawn, bound, strict=True))
    bands = [t for t in plot(page, "chart-sweep")["data"] if t["name"].endswith("lowest")]
    assert len(bands) == 3 and all(t["fill"] == "tonexty" for t in bands)  # the seeds' spread, one band a curve

    # A point clicked: each of its seeds' own links, in the lab and as a script.
    page.evaluate("() => document.getElementById('chart-sweep').emit('plotly_click', "
                  "{points: [{x: 20, data: {meta: 1}}]})")
    hrefs = page.locator("#sweep-point a").evaluate_all("links => links.map(a => a.getAttribute('href'))")
    assert hrefs == ["/?v=1&cell=lstm&hidden_size=8&seq_len=20&batch_size=4",
                     "/api/script?v=1&cell=lstm&hidden_size=8&seq_len=20&batch_size=4",
                     "/?v=1&cell=lstm&hidden_size=8&seq_len=20&seed=1&batch_size=4",
                     "/api/script?v=1&cell=lstm&hidden_size=8&seq_len=20&seed=1&batch_size=4"]

    link = page.url
    assert "key=seq_len" in link and "seeds=0%2C1" in link and "over=cell%3Arnn%2Clstm%2Cgru" in link
    computed = health(server_url)["computations"]
    again = page.context.new_page()
    again.goto(link)
    again.wait_for_function(COMPLETE)
    assert again.url == link and drawn_means(again) == means
    assert health(server_url)["computations"] == computed  # every point from the cache
    assert again.evaluate("() => window.gflSweep.lastPaint.query") == link.partition("?")[2]
    assert page.log.errors == [] and page.log.foreign_requests() == []


def test_the_default_sweeps_gradient_flushed_to_zero_stays_on_the_log_axis_marked_on_its_floor(page, server_url):
    page.goto(f"{server_url}/sweep")
    page.wait_for_function(COMPLETE)
    rnn = next(s["points"] for s in api(server_url, {"key": "seq_len", "values": [10, 20, 40, 80, 160],
                                                     "over": {"cell": ["rnn", "lstm", "gru"]}})["series"])
    assert [p["grad_first"] for p in rnn][-1] == 0  # under float32's normal range at T = 160: flushed to 0
    figure = plot(page, "chart-sweep")
    axis = page.evaluate("() => document.getElementById('chart-sweep').layout.yaxis")
    assert axis["type"] == "log" and page.evaluate("() => window.gflSweep.lastPaint.yLog")
    (zeros,) = [t for t in figure["data"] if t.get("mode") == "markers"]
    lowest = min(v for v in rnn_drawn(figure) if v > zeros["y"][0])
    assert zeros["x"] == [160] and 10 ** axis["range"][0] < zeros["y"][0] < lowest  # on the floor, inside the axis
    assert any("below float32's normal range" in note for note in figure["notes"])
    assert page.log.errors == []


def test_the_form_runs_another_sweep_and_the_link_follows_it(page, server_url):
    page.goto(f"{server_url}/sweep?{urlencode(QUERY)}")
    page.wait_for_function(COMPLETE)
    page.fill("#sweep-form [name=values]", "1, 2")
    page.select_option("#sweep-form [name=over_key]", "")
    page.fill("#sweep-form [name=seeds]", "3")
    page.click(".sweep-go")
    page.wait_for_function("() => window.gflSweep.lastPaint.run === 2 && window.gflSweep.lastPaint.complete")
    assert "values=1%2C2" in page.url and "over=" not in page.url and "seeds=3" in page.url
    assert list(drawn_means(page)) == ["seq_len"]
    page.fill("#sweep-form [name=values]", "1, 0")
    page.click(".sweep-go")
    page.wait_for_selector('#notices .notice[data-field="values"]')
    assert "values[1]: seq_len must be an integer from 1 to 2000" in page.locator("#sweep-status").inner_text()


def test_the_sweep_page_has_no_axe_violation_and_shows_the_curves_first_on_a_phone(screen, server_url):
    page = screen(PHONE)
    page.goto(f"{server_url}/sweep?{urlencode(QUERY)}")
    page.wait_for_function(COMPLETE)
    assert violations(page) == [] and page.log.errors == []
    assert page.evaluate("() => document.querySelector('.sidebar-fold').open") is False  # the form folded
    chart = page.locator("#chart-sweep").bounding_box()
    assert chart["y"] < 844 and chart["width"] <= 390


def test_the_lab_links_to_the_sweeps(page, server_url):
    page.goto(server_url + "/")
    assert page.locator('a[href="/sweep"]').count() == 1


def test_a_sweep_lesson_waits_for_its_prediction_then_draws_and_opens_its_answer(page, server_url):
    with urllib.request.urlopen(f"{server_url}/api/lessons") as r:
        doc = next(d for d in json.load(r)["lessons"] if d["id"] == "gain-against-explosion")
    assert doc["link"].endswith("&view=ratio")  # the lesson names the curve its claims are about ...
    page.goto(server_url + doc["link"])
    page.wait_for_selector("#lesson .lesson-go")
    assert page.evaluate("() => window.gflSweep.starts") == 0 and page.locator("#lesson-answer").is_hidden()
    assert page.locator("#sweep-form [name=metric]").input_value() == "ratio"  # ... and the page opens on it
    page.click("#lesson .lesson-go")
    page.wait_for_function(COMPLETE)
    assert page.locator("#lesson-answer").is_visible()
    assert page.evaluate("() => window.gflSweep.lastPaint.points") == 32
    assert page.evaluate("() => window.gflSweep.lastPaint.metric") == "ratio" and "view=ratio" in page.url
    assert "lesson=gain-against-explosion" in page.url  # a copied link opens the lesson again, not a bare sweep
    axis = page.evaluate("() => document.getElementById('chart-sweep').layout.yaxis.title.text")
    assert axis.startswith("first / last")
    means = drawn_means(page)
    assert set(means) == {"nonlinearity = relu", "nonlinearity = tanh"}
    for series in api(server_url, lesson_body(doc["link"]))["series"]:
        want = [sum(p["ratio"] for p in series["points"] if p["value"] == v) / 2 for v in series_values(series)]
        got = means[f"nonlinearity = {series['over']['nonlinearity']}"]
        assert all(math.isclose(a, b, rel_tol=1e-12) or (b == 0 and a > 0) for a, b in zip(got, want, strict=True))
    page.click('#lesson button.try[data-key="init"]')
    page.wait_for_function("() => window.gflSweep.lastPaint.run === 2 && window.gflSweep.lastPaint.complete")
    assert "init=orthogonal" in page.url and page.locator('.look-for[data-try="0"]').is_visible()
    assert "lesson=gain-against-explosion" in page.url
    assert "view=ratio" in page.url and page.evaluate("() => window.gflSweep.lastPaint.metric") == "ratio"
    # Another metric chosen is written into the link, so that a copied link opens on it.
    page.select_option("#sweep-form [name=metric]", "grad_last")
    assert "view=grad_last" in page.url and "view=ratio" not in page.url
    assert page.log.errors == []


def lesson_body(link: str) -> dict:
    """A sweep lesson's link as /api/sweep's body."""
    from engine.lab import Sweep

    pairs = [(k, v) for k, v in parse_qsl(urlsplit(link).query) if k not in ("lesson", "view")]
    return Sweep.from_query(pairs).to_dict()


def series_values(series: dict) -> list:
    return list(dict.fromkeys(p["value"] for p in series["points"]))


def test_a_sweep_of_named_settings_draws_a_curve_each_by_name_and_its_form_runs_it_again(page, server_url):
    query = {**QUERY, "over": "IRNN:cell=rnn,nonlinearity=relu,init=identity;GRU:cell=gru", "values": "5,10"}
    page.goto(f"{server_url}/sweep?{urlencode(query)}")
    page.wait_for_function(COMPLETE)
    assert page.locator("#sweep-form [name=over]").input_value() == (
        "IRNN: cell=rnn, nonlinearity=relu, init=identity; GRU: cell=gru")
    # The box shows the settings whole, wrapped: nothing scrolled out of sight either way.
    box = page.eval_on_selector("#sweep-form [name=over]", "e => [e.scrollWidth, e.clientWidth, e.scrollHeight, "
                                "e.clientHeight]")
    assert box[0] <= box[1] and box[2] <= box[3], box
    body = {**BODY, "values": [5, 10], "over": [
        {"name": "IRNN", "set": {"cell": "rnn", "nonlinearity": "relu", "init": "identity"}},
        {"name": "GRU", "set": {"cell": "gru"}}]}  # fmt: skip
    means = drawn_means(page)
    for series in api(server_url, body)["series"]:
        want = [sum(p["grad_first"] for p in series["points"] if p["value"] == v) / 2 for v in body["values"]]
        assert all(math.isclose(a, b, rel_tol=1e-12) for a, b in zip(means[series["name"]], want, strict=True))
    page.fill("#sweep-form [name=seeds]", "3")
    page.click(".sweep-go")  # the form's text read back into named settings
    page.wait_for_function("() => window.gflSweep.lastPaint.run === 2 && window.gflSweep.lastPaint.complete")
    assert "seeds=3" in page.url and "over=IRNN%3Acell%3Drnn%2Cnonlinearity%3Drelu%2Cinit%3Didentity%3BGRU" in page.url
    assert list(drawn_means(page)) == ["IRNN", "GRU"]
    page.fill("#sweep-form [name=over]", "IRNN: cell=rnn, init=eye")
    page.click(".sweep-go")
    page.wait_for_selector('#notices .notice[data-field="over"]')
    assert "over[0].set (IRNN): init must be one of" in page.locator("#sweep-status").inner_text()
    assert page.log.errors == []


def test_the_notebooks_show_draws_a_sweep_offline_with_the_engines_numbers(chromium, tmp_path):
    from engine.lab import Sweep, run_sweep
    from server.notebook import to_html

    sweep = Sweep.from_dict(BODY)
    (tmp_path / "sweep.html").write_text(f"<!doctype html><html><body>{to_html(sweep)}</body></html>", "utf-8")
    page, refused = offline_page(chromium)
    page.goto((tmp_path / "sweep.html").as_uri())
    page.wait_for_function("() => document.querySelector('.gfl-nb').dataset.painted")
    assert page.evaluate("() => document.querySelector('.gfl-nb').dataset.painted") == "1"
    chart = page.evaluate("() => document.querySelector('.gfl-nb [data-view=grad_first]').id")
    means = drawn_means(page, chart)
    for series in run_sweep(sweep)["series"]:
        expected = [sum(p["grad_first"] for p in series["points"] if p["value"] == v) / 2 for v in BODY["values"]]
        got = means[f"cell = {series['over']['cell']}"]
        assert all(math.isclose(a, b, rel_tol=1e-6) for a, b in zip(got, expected, strict=True))
    assert refused == [] and page.log.errors == []
    page.context.close()


def test_the_notebooks_show_draws_named_settings_by_name_and_a_classifying_trainings_accuracy(chromium, tmp_path):
    from engine.lab import Sweep, run_sweep
    from server.notebook import to_html

    named = Sweep.from_dict({**BODY, "values": [5, 10], "over": [
        {"name": "IRNN", "set": {"cell": "rnn", "nonlinearity": "relu", "init": "identity"}},
        {"name": "GRU", "set": {"cell": "gru"}}]})  # fmt: skip
    trained = Sweep.from_dict({"config": {"hidden_size": 4, "batch_size": 4, "arch": "many-to-many", "task": "copy",
                                          "seq_len": 6, "steps": 3}, "key": "lr", "values": [0.01, 0.1],
                               "kind": "train", "seeds": [0, 1]})  # fmt: skip
    html = "".join(to_html(s) for s in (named, trained))
    (tmp_path / "sweeps.html").write_text(f"<!doctype html><html><body>{html}</body></html>", "utf-8")
    page, refused = offline_page(chromium)
    page.goto((tmp_path / "sweeps.html").as_uri())
    page.wait_for_function("() => [...document.querySelectorAll('.gfl-nb')].every((b) => b.dataset.painted)")
    first = page.evaluate("() => document.querySelector('.gfl-nb [data-view=grad_first]').id")
    means = drawn_means(page, first)
    for series in run_sweep(named)["series"]:
        want = [sum(p["grad_first"] for p in series["points"] if p["value"] == v) / 2 for v in named.values]
        assert all(math.isclose(a, b, rel_tol=1e-6) for a, b in zip(means[series["name"]], want, strict=True))
    chart = page.evaluate("() => document.querySelector('.gfl-nb [data-view=accuracy]').id")
    (points,) = [s["points"] for s in run_sweep(trained)["series"]]
    want = [sum(p["accuracy"] for p in points if p["value"] == v) / 2 for v in trained.values]
    assert all(math.isclose(a, b, rel_tol=1e-6) for a, b in zip(drawn_means(page, chart)["lr"], want, strict=True))
    baseline = next(t["y"] for t in plot(page, chart)["data"] if t.get("line", {}).get("dash") == "dot")
    assert baseline == [points[0]["baseline_accuracy"]] * 2  # the trivial predictor's, dotted
    assert refused == [] and page.log.errors == []
    page.context.close()


def open_static_sweep(chromium, folder, doc, spec):
    """A static copy of a sweep lesson's page (the export's own writer, its sweep recorded) opened offline: the page
    and the requests it was refused."""
    from server.export import sweep as export
    from server.export.site import _assets, _templates

    (folder / "data").mkdir()
    _assets(folder)
    recorded = export.record(folder, spec)
    page_html = export.sweep_page(_templates(), doc, spec, recorded, None, {doc["link"]: "lesson.html"})
    (folder / "lesson.html").write_text(page_html, "utf-8")
    page, refused = offline_page(chromium)
    page.goto((folder / "lesson.html").as_uri())
    return page, refused


def test_the_static_sites_sweep_lesson_replays_its_precomputed_sweep_offline(chromium, tmp_path):
    from engine.lab import run_sweep
    from engine.lessons import lesson_config
    from engine.lessons.catalogue import get_lesson
    from server.routes.lessons import lesson_doc

    lesson = get_lesson("gain-against-explosion")
    doc, spec = lesson_doc(lesson), lesson_config(lesson)
    page, refused = open_static_sweep(chromium, tmp_path, doc, spec)
    page.click("#lesson .lesson-go")
    page.wait_for_function(COMPLETE)
    assert [done for _, done, _, _ in page.evaluate("() => window.gflSweep.progress")] == list(range(33))
    assert page.evaluate("() => window.gflSweep.lastPaint.metric") == "ratio"  # the copy opens on the lesson's metric
    means = drawn_means(page)
    floor = next(t["y"][0] for t in plot(page, "chart-sweep")["data"] if t.get("mode") == "markers")
    for series in run_sweep(spec)["series"]:
        want = [sum(p["ratio"] for p in series["points"] if p["value"] == v) / 2 for v in spec.values]
        got = means[f"nonlinearity = {series['over']['nonlinearity']}"]
        # A ratio flushed to exactly 0 sits on the log axis's floor (its marker says so).
        assert all(math.isclose(a, b, rel_tol=1e-6) or a == b or (b == 0 and math.isclose(a, floor))
                   for a, b in zip(got, want, strict=True))
    assert page.locator("#sweep-form [name=values]").is_disabled()
    assert page.locator("#lesson button.try").first.is_disabled()
    assert refused == [] and page.log.errors == []
    page.context.close()


def test_a_static_copy_of_named_settings_replays_them_by_name_and_opens_on_its_links_metric(chromium, tmp_path):
    from engine.lab import Sweep, run_sweep
    from engine.lessons import lesson_config
    from engine.lessons.catalogue import get_lesson
    from server.routes.lessons import lesson_doc

    # The adding lesson's page and its named settings, on a sweep small enough to train here.
    lesson = get_lesson("adding-problem-against-length")
    doc = lesson_doc(lesson)
    spec = Sweep.from_dict({**lesson_config(lesson).to_dict(), "values": [5, 10], "seeds": [0, 1],
                            "config": {"task": "adding", "hidden_size": 4, "batch_size": 4, "steps": 3}})
    page, refused = open_static_sweep(chromium, tmp_path, doc, spec)
    assert page.locator("#sweep-form [name=metric]").input_value() == "learned"  # the lesson's view
    page.click("#lesson .lesson-go")
    page.wait_for_function(COMPLETE)
    assert page.evaluate("() => window.gflSweep.lastPaint.metric") == "learned"
    means = drawn_means(page)
    assert list(means) == ["RNN", "IRNN", "LSTM", "GRU"]
    for series in run_sweep(spec)["series"]:
        want = [sum(p["learned"] for p in series["points"] if p["value"] == v) / 2 for v in spec.values]
        assert means[series["name"]] == want
    assert refused == [] and page.log.errors == []
    page.context.close()
