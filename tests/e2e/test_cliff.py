"""The cliff page in Chromium: it paints the API's grid and both paths, the lab's controls drive the link and the
paths, a reload restores the setting, its lesson is an ordinary lesson, and axe-core finds nothing."""

from __future__ import annotations

import json
import math
import urllib.request
from urllib.parse import parse_qs, urlparse

import pytest

from tests.e2e.axe import violations
from tests.e2e.harness import PageLog, plot
from tests.e2e.test_security import RECORD_VIOLATIONS, csp_complaints

PAINTED = "after => { const p = window.gflCliff && window.gflCliff.lastPaint; return !!p && p.count > after; }"


def painted(page, after: int = 0) -> int:
    page.wait_for_function(PAINTED, arg=after)
    return page.evaluate("() => window.gflCliff.lastPaint.count")


def api(base: str, query: str) -> dict:
    with urllib.request.urlopen(f"{base}/api/cliff?{query}") as r:
        return json.load(r)


def close(a, b) -> bool:
    return all(math.isclose(x, y, rel_tol=1e-12, abs_tol=1e-12) for x, y in zip(a, b, strict=True))


def check_drawn(page, base: str) -> dict:
    """The drawn heatmap and paths are the API's numbers for the page's own setting."""
    query = page.evaluate("() => window.gflCliff.lastPaint.query")
    want = api(base, query)
    traces = {t["name"]: t for t in plot(page, "chart-surface")["data"]}
    heat = traces["loss"]
    assert close(heat["x"], want["grid"]["w"]) and close(heat["y"], want["grid"]["b"])
    for row, loss_row in zip(heat["z"], want["grid"]["loss"], strict=True):
        assert close(row, [math.log10(max(v, 1e-16)) for v in loss_row])
    for name in ("plain", "clipped"):
        assert close(traces[name]["x"], want["paths"][name]["w"]) and close(traces[name]["y"], want["paths"][name]["b"])
    for chart in ("#chart-surface", "#chart-steps"):
        assert page.locator(f"{chart} .main-svg").count() > 0, f"{chart} holds no drawing"
    steps = {t["name"]: t for t in plot(page, "chart-steps")["data"]}
    assert close(steps["plain"]["y"], want["paths"]["plain"]["step"])
    assert close(steps["clipped"]["y"], want["paths"]["clipped"]["step"])
    return want


def query(page) -> dict[str, list[str]]:
    return parse_qs(urlparse(page.url).query)


def box(key: str) -> str:
    """The number box of a key's control (its only control, or a slider's exact twin), as the lab's form builds it."""
    return f'.control[data-field="{key}"] input[type="number"]'


def type_value(page, key: str, text: str) -> None:
    page.fill(box(key), text)
    page.dispatch_event(box(key), "change")


def test_the_page_paints_the_grid_and_both_paths_and_follows_the_controls(page, server_url):
    page.add_init_script(RECORD_VIOLATIONS)
    page.goto(server_url + "/cliff")
    count = painted(page)
    want = check_drawn(page, server_url)
    # The default is the lesson's picture: the plain descent's step off the wall dwarfs every clipped step.
    assert max(want["paths"]["plain"]["step"]) > 20 * max(want["paths"]["clipped"]["step"])
    shown = float(page.inner_text('[data-stat="plain-max-step"]'))
    assert math.isclose(shown, max(want["paths"]["plain"]["step"]), rel_tol=5e-3)
    assert query(page) == {"v": ["1"]}

    type_value(page, "clip_at", "2")
    count = painted(page, count)
    assert query(page) == {"v": ["1"], "clip_at": ["2"]}
    moved = check_drawn(page, server_url)
    assert moved["config"]["clip_at"] == 2
    assert moved["paths"]["clipped"]["w"] != want["paths"]["clipped"]["w"]
    assert moved["paths"]["plain"] == want["paths"]["plain"]  # clipping does not touch the plain descent

    page.select_option("#ctl-readout", "linear")
    count = painted(page, count)
    assert query(page)["readout"] == ["linear"]
    check_drawn(page, server_url)

    page.reload()
    painted(page)
    assert page.input_value(box("clip_at")) == "2" and page.input_value("#ctl-readout") == "linear"
    assert check_drawn(page, server_url)["config"]["readout"] == "linear"
    assert csp_complaints(page) == []  # the page keeps to its Content-Security-Policy
    assert page.log.errors == [] and page.log.foreign_requests() == []


def test_a_refused_value_is_marked_and_leaves_the_link(page, server_url):
    page.goto(server_url + "/cliff?T=20")
    count = painted(page)
    type_value(page, "T", "1000")
    assert page.get_attribute(box("T"), "aria-invalid") == "true"
    assert "T must be an integer from 1 to 100" in page.inner_text("#notices")  # as the lab's form says it
    assert query(page)["T"] == ["20"]
    type_value(page, "w_max", "0")  # each key is fine alone, the grid is not: the server names w_max
    page.wait_for_function("() => document.getElementById('cliff-status').dataset.phase === 'failed'")
    assert "w_max must be greater than w_min" in page.inner_text("#cliff-status")
    assert page.get_attribute("#ctl-w_max", "aria-invalid") == "true"
    assert page.evaluate("() => window.gflCliff.lastPaint.count") == count
    # Chromium logs the refused request itself; nothing else may be logged.
    assert [e for e in page.log.errors if "status of 422" not in e] == []
    assert len(page.log.errors) == 1


def test_a_link_with_both_grid_axes_inverted_opens_with_a_notice_for_each(page, server_url):
    page.goto(server_url + "/cliff?w_max=0&b_max=-10&T=20")
    painted(page)
    notices = page.inner_text("#notices")
    assert "w_max must be greater than w_min" in notices and "b_max must be greater than b_min" in notices
    drawn = page.evaluate("() => window.gflCliff.lastPaint.data.config")
    assert (drawn["T"], drawn["w_max"], drawn["b_max"]) == (20, 10, 8)  # the default ranges, the rest of the link
    assert page.log.errors == []


@pytest.mark.parametrize("viewport", [{"width": 1366, "height": 768}, {"width": 390, "height": 844}],
                         ids=["projector", "phone"])  # fmt: skip
def test_axe_finds_no_violation_on_the_cliff_page(chromium, server_url, viewport):
    context = chromium.new_context(viewport=viewport)
    try:
        page = context.new_page()
        page.log = PageLog(page)
        page.goto(server_url + "/cliff?lesson=the-cliff")
        painted(page)
        assert violations(page) == []
        page.click(".lesson-go")  # and with the descents and their numbers drawn
        page.wait_for_function("() => !window.gflCliff.lastPaint.held")
        assert violations(page) == []
        # On a phone the page is one column: the surface is as wide as the screen, nothing sideways.
        width = page.evaluate("() => document.documentElement.scrollWidth")
        assert width <= viewport["width"], width
        assert page.log.errors == []
    finally:
        context.close()


@pytest.mark.playback
def test_the_cliff_lesson_opens_from_the_index_as_an_ordinary_lesson(page, server_url):
    lessons = json.load(urllib.request.urlopen(server_url + "/api/lessons"))["lessons"]
    k, doc = next((k, d) for k, d in enumerate(lessons) if d["view"] == "cliff")
    page.goto(server_url + "/lessons")
    with page.expect_navigation():
        page.click(f'article[id="{doc["id"]}"] h3 a')
    count = painted(page)
    assert urlparse(page.url).path == "/cliff" and query(page)["lesson"] == [doc["id"]]
    # The lab's lesson panel: its place in the syllabus, its neighbours, the tries in the table's own words.
    assert page.inner_text("#lesson-title") == doc["title"]
    assert page.text_content(".lesson-kicker").startswith(f"Lesson {k + 1} of {len(lessons)}")
    assert page.get_attribute(".lesson-nav [rel=prev]", "href") == lessons[k - 1]["link"]
    assert page.inner_text("button.try[data-try='0']") == "Clip threshold → 25"
    # Predict first: the surface is drawn, the descents and their numbers wait, the answer is hidden.
    assert page.locator("#lesson-answer").is_hidden()
    assert page.evaluate("() => window.gflCliff.lastPaint.held") is True
    assert [t["name"] for t in plot(page, "chart-surface")["data"]] == ["loss", "start"]
    assert page.inner_text('[data-stat="plain-max-step"]') == "…"
    # The step chart waits with its dotted line alone: a few decades labelled, not every minor tick of one.
    ticks = page.evaluate("() => [...document.querySelectorAll('#chart-steps .ytick text')].map(t => t.textContent)")
    assert 2 <= len(ticks) <= 4, ticks
    page.click(".lesson-go")
    count = painted(page, count)
    base = check_drawn(page, server_url)
    # As in every lesson, the lesson's own run, shown whole, opens the answer.
    assert page.locator("#lesson-answer").is_visible() and doc["answer"] in page.inner_text("#lesson-answer")
    t = doc["tries"][0]
    page.click("button.try[data-try='0']")
    count = painted(page, count)
    moved = check_drawn(page, server_url)
    assert float(page.input_value(box(t["key"]))) == float(t["value"])
    assert float(query(page)[t["key"]][0]) == float(t["value"]) and query(page)["lesson"] == [doc["id"]]
    assert {k for k in moved["config"] if moved["config"][k] != base["config"][k]} == {t["key"]}
    assert page.locator(".look-for[data-try='0']").is_visible()
    assert page.get_attribute("button.try[data-try='0']", "aria-pressed") == "true"
    # Pressed again, the try puts the lesson's value back.
    page.click("button.try[data-try='0']")
    painted(page, count)
    assert check_drawn(page, server_url)["config"] == base["config"]
    assert t["key"] not in query(page) and page.locator(".look-for[data-try='0']").is_hidden()
    assert page.log.errors == []


def test_each_page_takes_only_its_own_lessons(page, server_url):
    page.goto(server_url + "/?lesson=the-cliff")
    page.wait_for_function("() => window.gfl && window.gfl.lastPaint")
    assert page.locator("#lesson").count() == 0
    assert "no lesson 'the-cliff' on this page: it opens on /cliff" in page.inner_text("#notices")
