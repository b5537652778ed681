"""The exported lesson site, opened from file:// with every other request refused: every lesson, every
"now try" and every training replay plays, and the page shows the numbers the live server computes.  This is
where each lesson is opened in the browser (the static copy is the lab's own page): its panel, controls and
views are checked here too.

The reference is the engine itself (what the server's tracer and trainer run), computed here in the test,
not numbers read back from the export.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from engine import Config, trace_config
from engine.config import FIELD_BY_NAME
from engine.lab import trace_trained
from engine.lessons import lesson_config, try_config
from engine.tracing import rows_for
from server.export.cliff import cliff_settings
from server.export.grid import slider_grid
from server.export.site import CLIFF, SWEEPS
from server.export.site import EXPORTED as LESSONS
from server.routes.lessons import lesson_documents
from tests.e2e.exported import engine_training, exported_site
from tests.e2e.harness import offline_page
from tests.e2e.test_cliff import check_drawn, painted
from tests.e2e.test_lessons_page import CONTROL_VALUES, check_opened, check_try, check_try_undone, check_views, query

pytestmark = pytest.mark.timeout(1500)



@pytest.fixture(scope="session")
def exported(tmp_path_factory, lessons_measured):
    """The site, where the engine's trainings of its settings are kept (tests/e2e/exported.py), the export's report.
    The export and the tests read each lesson's document as measured once this session (tests/conftest.py)."""
    return exported_site(tmp_path_factory)


@pytest.fixture(scope="session")
def site(exported):
    """The exported site and the export's report."""
    out, _, report = exported
    return out, report


@pytest.fixture(scope="module")
def offline(site, chromium):
    page, refused = offline_page(chromium)
    yield page, refused
    page.context.close()


def page_numbers(page) -> dict:
    """The trace on show: its config, loss and ‖∂L/∂h_t‖ as (L, D, T)."""
    got = page.evaluate(
        """() => { const t = gfl.trace, s = t.start.shapes, LD = s.L * s.D;
           return { config: t.config, loss: String(t.done.loss), L: s.L, D: s.D, T: s.T,
                    norms: Array.from(t.gradHNorm, v => Number.isFinite(v) ? v : String(v)), LD }; }"""
    )
    norms = np.array([float(v) for v in got["norms"]]).reshape(got["T"], got["L"], got["D"]).transpose(1, 2, 0)
    return {**got, "loss": float(got["loss"]), "norms": norms}


def same_number(a: float, b: float) -> bool:
    return (math.isnan(a) and math.isnan(b)) or a == b or math.isclose(a, b, rel_tol=1e-6)


def assert_same(got: dict, trace, cfg: Config, what: str) -> None:
    for key, want in cfg.to_dict().items():
        have = got["config"].get(key)
        same = math.isclose(have, want) if isinstance(want, float) and isinstance(have, (int, float)) else have == want
        assert same, f"{what}: the page shows {key}={have!r}, expected {want!r}"
    assert same_number(got["loss"], trace.loss), f"{what}: loss {got['loss']} != {trace.loss}"
    np.testing.assert_allclose(got["norms"], trace.grad_h_norm, rtol=1e-6, err_msg=f"{what}: ‖∂L/∂h_t‖")


def wait_painted(page, after: int, trained: bool = False) -> int:
    page.wait_for_function(
        "([after, trained]) => { const p = window.gfl && gfl.lastPaint;"
        " return !!p && p.complete && p.run > after && !!p.trained === trained; }",
        arg=[after, trained],
        timeout=120_000,
    )
    return page.evaluate("() => gfl.lastPaint.run")


def play(page, after: int) -> int:
    """Press play (the lesson's own run waits at step 0) and wait for the run to be painted whole."""
    page.select_option("#speed", "0.6")
    if page.evaluate("() => !gfl.player.playing && gfl.player.cursor < gfl.player.length - 1"):
        page.click("#play")
    return wait_painted(page, after)


def show_whole(page) -> None:
    """Instant speed, then Play (a lesson's own run waits for its prediction): each run is shown whole, and a recorded
    training arrives at once rather than at its recorded pace."""
    page.select_option("#speed", "0")
    page.click("#play")


def train(page, after: int, cfg: Config, kept: Path | None, what: str) -> int:
    """Press Train and wait for the trained model's run: the page's numbers are the engine's training of ``cfg``
    (computed once per session: tests/e2e/exported.py)."""
    page.click("#train")
    page.wait_for_function("() => ['trained', 'diverged'].includes(gfl.state.training.status)", timeout=120_000)
    run = wait_painted(page, after, trained=True)
    model, result = engine_training(cfg, kept)
    final, diverged = page.evaluate("() => [String(gfl.state.training.finalLoss), gfl.state.training.divergedAt]")
    assert diverged == result.diverged_at, f"{what}: diverged at {diverged}"
    assert same_number(float(final), result.final_loss), f"{what}: final loss {final}"
    assert_same(page_numbers(page), trace_trained(model, cfg), cfg, f"{what}, trained")
    return run


def test_site_is_small_and_complete(site):
    out, report = site
    assert report["bytes"] < 25e6
    assert (out / "index.html").is_file() and (out / "vendor" / "plotly.min.js").is_file()
    index = (out / "index.html").read_text()
    for lesson in (*LESSONS, *CLIFF, *SWEEPS):
        assert f'href="lesson-{lesson.id}.html"' in index
    for page in report["pages"]:
        text = (out / page).read_text()
        assert 'src="/' not in text and 'href="/' not in text, f"{page} refers to a server path"


@pytest.mark.parametrize("lesson", LESSONS, ids=[le.id for le in LESSONS])
def test_lesson_plays_offline(exported, offline, lesson):
    """Each lesson, once: its panel, controls and views (the checks of tests/e2e/test_lessons_page.py), then its
    numbers, each "now try" (which moves exactly its control and the link, and pressed again puts them back) and
    each training, against the engine."""
    out, kept, _ = exported
    page, refused = offline
    doc = lesson_documents()[lesson.id]
    page.goto((out / f"lesson-{lesson.id}.html").as_uri())
    check_opened(page, doc, picker=f"lesson-{lesson.id}.html")
    # Lazy: the page came with its own setting's recording, and no other has been loaded yet.
    first = page.evaluate("() => window.GFL_STATIC.recordings[0].src")
    assert page.evaluate("() => Object.keys(window.GFL_RECORDINGS)") == [first]
    show_whole(page)
    run = wait_painted(page, 0)
    cfg = lesson_config(lesson)
    check_views(page, doc, cfg.to_dict())
    assert query(page)["lesson"] == [lesson.id], "the link keeps its lesson"
    assert_same(page_numbers(page), trace_config(cfg), cfg, f"{lesson.id}")
    if lesson.trains:
        run = train(page, run, cfg, kept, lesson.id)
    traced = cfg  # the setting of the trace on show
    for i, t in enumerate(lesson.tries):
        before, link_before = page.evaluate(CONTROL_VALUES), query(page)
        # A try that moves only a Train key (steps) keeps the trace on show: no new one comes.
        retraces = "trace" in FIELD_BY_NAME[t.key].affects
        page.click(f'.try[data-try="{i}"]')
        run = wait_painted(page, run) if retraces else run
        cfg = try_config(lesson, i)
        traced = cfg if retraces else traced
        check_try(page, doc, i, before, link_before, cfg.to_dict())
        assert_same(page_numbers(page), trace_config(cfg), traced, f"{lesson.id}, try {t.key}={t.value}")
        if lesson.trains:
            run = train(page, run, cfg, kept, f"{lesson.id}, try {t.key}={t.value}")
        page.click(f'.try[data-try="{i}"]')
        run = wait_painted(page, run) if retraces else run
        traced = lesson_config(lesson) if retraces else traced
        check_try_undone(page, i, before, link_before)
    assert not refused, f"the static site asked the network for {refused}"
    assert not page.log.errors, page.log.errors
    # Controls outside the recordings are disabled, saying why.
    assert page.evaluate("() => document.querySelector('#controls fieldset.static-controls').disabled")
    assert "this lesson's setting" in page.inner_text("#static-note")
    # Uploads, Compare and the script need a server: each is disabled, saying so.
    assert page.evaluate("() => [...document.querySelectorAll('#upload input, #upload select, #upload button')]"
                         ".every(el => el.disabled)")
    assert "needs the live lab" in page.evaluate("() => document.getElementById('upload-static-note').textContent")
    assert page.evaluate("() => ['compare-toggle', 'copy-script'].every(id => document.getElementById(id).disabled)")


GRIDDED = [le for le in LESSONS if le.id in ("vanishing-gradients", "exploding-gradients")]  # an int and a float


def drag_slider(page, selector: str, start: float, end: float) -> None:
    """Press the slider's thumb at ``start`` and drag it by the mouse, through the values between, to ``end``."""
    box = page.locator(selector).bounding_box()
    low, high = (float(v) for v in page.evaluate(f"() => (s => [s.min, s.max])(document.querySelector('{selector}'))"))
    thumb = 8  # half the thumb's width: the track's ends are where its centre can go
    at = lambda v: box["x"] + thumb + (v - low) / (high - low) * (box["width"] - 2 * thumb)  # noqa: E731
    y = box["y"] + box["height"] / 2
    page.mouse.move(at(start), y)
    page.mouse.down()
    page.mouse.move(at(end), y, steps=8)
    page.mouse.up()


@pytest.mark.parametrize("lesson", GRIDDED, ids=[le.id for le in GRIDDED])
def test_the_lessons_main_slider_drags_offline_onto_its_recorded_grid(site, offline, lesson):
    """The lesson's main slider is the one control the copy lets move, over the grid of values the export recorded:
    dragged by the mouse through them, it ends on the value it was let go at, and the views show exactly that
    setting's numbers, as the engine traces it.  A try of another key holds it (those settings are not recorded)."""
    out, _ = site
    page, refused = offline
    grid = slider_grid(lesson)
    page.goto((out / f"lesson-{lesson.id}.html").as_uri())
    show_whole(page)
    wait_painted(page, 0)
    slider = f"#ctl-{grid.field}"
    assert page.evaluate("() => document.querySelector('#controls fieldset.static-controls').disabled")
    assert not page.evaluate("() => document.querySelector('fieldset.static-slider').disabled")
    assert page.evaluate(f"() => document.querySelector('{slider}').closest('fieldset').className") == "static-slider"
    base = lesson_config(lesson).to_dict()
    target = grid.values[1] if base[grid.field] != grid.values[1] else grid.values[2]
    drag_slider(page, slider, base[grid.field], target)
    page.wait_for_function(f"() => gfl.lastPaint.complete && gfl.trace.config.{grid.field} === {target}")
    cfg = Config.from_dict({**base, grid.field: target})
    assert_same(page_numbers(page), trace_config(cfg), cfg, f"{lesson.id}, {grid.field}={target}")
    assert query(page)[grid.field] == [str(target)], "the link says the value let go at"
    assert page.evaluate("() => document.querySelectorAll('canvas.quick-paint').length") == 0, "released: Plotly's"
    other = next(i for i, t in enumerate(lesson.tries) if t.key != grid.field)
    page.click(f'.try[data-try="{other}"]')
    assert page.evaluate("() => document.querySelector('fieldset.static-slider').disabled")
    assert "undo the try" in page.inner_text("#static-slider-note")
    page.click(f'.try[data-try="{other}"]')
    assert not page.evaluate("() => document.querySelector('fieldset.static-slider').disabled")
    assert not refused and not page.log.errors, (refused, page.log.errors)


def test_the_labs_page_says_it_holds_the_lab_at_its_defaults(site, offline):
    out, _ = site
    page, refused = offline
    page.goto((out / "lab.html").as_uri())
    page.select_option("#speed", "0")  # the run shown whole as it arrives (the lab's own page plays it at once)
    wait_painted(page, 0)
    note = page.inner_text("#static-note")
    assert "the lab at its default setting" in note and "lesson" not in note, note
    assert not refused and not page.log.errors, (refused, page.log.errors)


def test_a_view_lag_link_plays_offline_with_its_map(site, offline):
    """A link that says view=lag opens the copy's page on the lag map, drawn from the recording: the engine's map."""
    out, _ = site
    page, refused = offline
    lesson = next(le for le in LESSONS if le.id == "bidirectional")  # every step has a loss: a row per output
    query = lesson_documents()[lesson.id]["link"].partition("?")[2]
    page.goto((out / f"lesson-{lesson.id}.html").as_uri() + f"?{query}&view=lag")
    show_whole(page)
    wait_painted(page, 0)
    page.wait_for_function("() => document.getElementById('view-lag').classList.contains('has-map')")
    assert page.evaluate("() => document.getElementById('view-lag').open") and "view=lag" in query_of(page)
    cfg = lesson_config(lesson)
    want = trace_config(cfg, lag_rows=rows_for(cfg.trace_cells)).grad_h_by_output[0, 0]  # (S, T), layer 1 forward
    z = page.evaluate("() => document.getElementById('chart-lag-map').data[0].z")
    got = np.array([[0.0 if v is None else 10**v for v in row] for row in z])
    np.testing.assert_allclose(got, want, rtol=1e-5)
    assert not refused, f"the static site asked the network for {refused}"
    assert not page.log.errors, page.log.errors


def query_of(page) -> str:
    return page.evaluate("() => location.search")


def gray_code_flips(n: int) -> list[int]:
    """Which try to press at each move so that the pressed set goes through every subset of n tries once."""
    return [(i & -i).bit_length() - 1 for i in range(1, 2**n)]


@pytest.mark.parametrize("lesson", CLIFF, ids=[le.id for le in CLIFF])
def test_cliff_lesson_plays_offline(site, offline, server_url, lesson):
    """The cliff lesson from file://: the page's tries toggle, so they combine, and every combination is in the
    copy and drawn from its own recording; the surface and both descents are the live /api/cliff's numbers.

    That each recording is the live answer, byte for byte, is tests/server/test_export.py's to check: here the
    drawing is checked against the live API for the lesson's setting and the last combination reached."""
    out, _ = site
    page, refused = offline
    page.goto((out / f"lesson-{lesson.id}.html").as_uri())
    count = painted(page)
    assert page.evaluate("() => window.gflCliff.lastPaint.held")  # predict first: the descents wait for Run
    first = page.evaluate("() => window.GFL_STATIC.recordings[0].src")
    assert page.evaluate("() => Object.keys(window.GFL_RECORDINGS)") == [first]
    page.click(".lesson-go")
    count = painted(page, count)
    check_drawn(page, server_url)
    loaded = {first}
    seen = {page.evaluate("() => window.gflCliff.lastPaint.query")}
    for i in gray_code_flips(len(lesson.tries)):
        page.click(f'.try[data-try="{i}"]')
        count = painted(page, count)
        seen.add(page.evaluate("() => window.gflCliff.lastPaint.query"))
        # Each combination drew a recording of its own, loaded for it.
        now = set(page.evaluate("() => Object.keys(window.GFL_RECORDINGS)"))
        assert len(now) == len(loaded) + 1, (sorted(loaded), sorted(now))
        loaded = now
    check_drawn(page, server_url)
    assert len(seen) == len(cliff_settings(lesson)) == 2 ** len(lesson.tries)
    assert not refused, f"the static site asked the network for {refused}"
    assert not page.log.errors, page.log.errors
    assert page.evaluate("() => document.querySelector('#controls fieldset.static-controls').disabled")
    assert "static copy" in page.inner_text("#static-note")


# Every paint: whether it said the run is whole, and which views' charts hold a drawing by then.
RECORD_PAINTS = """
window.__paints = [];
window.addEventListener("gfl:painted", (e) => window.__paints.push({ complete: e.detail.complete,
  drawn: [...document.querySelectorAll(".views .view")].filter((v) => v.querySelector(".chart .main-svg"))
    .map((v) => v.id) }));
"""


def test_views_in_sight_are_drawn_first(site, chromium):
    """A lesson's first paint draws the views in the window; those further down follow on their own a frame
    later, and a run is painted whole only with every view drawn."""
    out, _ = site
    page, refused = offline_page(chromium)
    try:
        page.add_init_script(RECORD_PAINTS)
        page.goto((out / "lesson-lstm-cell-state.html").as_uri())  # an LSTM: its gates view is further down
        page.wait_for_function("() => window.__paints.some((p) => p.drawn.includes('view-gates'))")
        below = page.evaluate(
            """() => [...document.querySelectorAll('.views figure.view:not(.empty)')]
                 .filter((v) => v.getBoundingClientRect().top >= innerHeight).map((v) => v.id)"""
        )
        assert "view-gates" in below and "view-grad-norm" not in below
        paints = page.evaluate("() => window.__paints")
        early = next(p for p in paints if "view-grad-norm" in p["drawn"])
        assert "view-hidden" in early["drawn"] and not set(below) & set(early["drawn"]), paints
        # Played through, the run is whole; every paint that said so had every view drawn.
        run = play(page, 0)
        paints = page.evaluate("() => window.__paints")
        assert run and all(set(below) <= set(p["drawn"]) for p in paints if p["complete"]), paints
        assert not refused and not page.log.errors, (refused, page.log.errors)
    finally:
        page.context.close()


@pytest.mark.parametrize("lesson", CLIFF, ids=[le.id for le in CLIFF])
def test_cliff_copy_links_to_the_live_lab_at_its_setting(site, chromium, lesson):
    """With --live-url, the cliff page's note links to the live cliff page at the setting on show."""
    out, _ = site
    page_text = (out / f"lesson-{lesson.id}.html").read_text(encoding="utf-8")
    assert '"live_url":null' in page_text
    live = out / f"lesson-{lesson.id}-live.html"  # the same page as `--live-url https://lab.example/` writes it
    live.write_text(page_text.replace('"live_url":null', '"live_url":"https://lab.example/"'), encoding="utf-8")
    page, refused = offline_page(chromium)
    try:
        page.goto(live.as_uri())
        count = painted(page)
        here = "() => location.search"
        assert page.get_attribute("#live-link", "href") == "https://lab.example/cliff" + page.evaluate(here)
        assert f"lesson={lesson.id}" in page.evaluate(here)
        t = lesson.tries[-1]
        page.click(f'.try[data-try="{len(lesson.tries) - 1}"]')
        painted(page, count)
        href = page.get_attribute("#live-link", "href")
        assert href == "https://lab.example/cliff" + page.evaluate(here) and f"{t.key}=" in href, href
        assert not refused and not page.log.errors, (refused, page.log.errors)
    finally:
        page.context.close()
        live.unlink()


# Keeps what Copy link puts on the clipboard where the test can read it (a file:// page may not use the clipboard);
# run in the page once it has loaded, before Copy link is pressed.
CAPTURE_COPY = "navigator.clipboard.writeText = async (text) => { window.copied = text; };"


@pytest.mark.parametrize("base", [None, "https://course.example/rnn/"])
def test_copy_link_gives_an_address_relative_to_the_site_never_file(site, offline, base):
    """Copy link in the copy: the page's file and its setting, relative to the site or under --base-url."""
    out, _ = site
    page_text = (out / "lab.html").read_text(encoding="utf-8")
    assert '"base_url":null' in page_text
    target = out / "lab-base.html"  # the same page as `--base-url <base>` writes it
    target.write_text(page_text.replace('"base_url":null', f'"base_url":{json.dumps(base)}'), encoding="utf-8")
    page, refused = offline
    try:
        page.goto(target.as_uri())
        page.select_option("#speed", "0")
        wait_painted(page, 0)
        page.evaluate(f"() => {{ {CAPTURE_COPY} }}")
        page.click("#copy-link")
        page.wait_for_function("() => typeof window.copied === 'string'")
        want = "lab-base.html" + page.evaluate("() => location.search")
        assert page.evaluate("() => window.copied") == (base or "") + want
        assert not refused and not page.log.errors, (refused, page.log.errors)
    finally:
        target.unlink()
