"""The screenshots under docs/screenshots/, at 1366×768 (not a test; run it by hand).

.venv/bin/python -m tests.e2e.screenshots [--out docs/screenshots] [--only main training lessons cliff lag] [--full]

main: the page's main states (default.png, lstm.png, exploding.png, gru-link.png);
training: training-live.png (mid-run), training.png (done), compare.png (RNN, LSTM and GRU trained on the
same data); lessons: lesson-<id>.png, each lesson as a class sees it after pressing play, the answer still
hidden (a lesson on the cliff page is shot by the cliff group); cliff: cliff.png, the loss surface of a one-unit
RNN with both descents, and lesson-<id>.png for each lesson of the cliff page; lag: lag-map.png, the lag map's view
as a view=lag link opens it (a vanilla RNN forecasting the sine series, every step scored, T = 200), and lag-row.png,
one output's own gradient drawn over the flat-looking ‖∂L/∂h_t‖ of the same run; screens: the clipping lesson as a
student meets it, in each state (idle, computing, training, trained, diverged) on a 390×844 phone and at 1366×768,
light and dark: screen-<state>-<phone|desktop>[-dark].png; present: the presenter's view (present=1) on a 1280×720 and
a 1920×1080 projector, with the gradient chart enlarged (view=grad-norm) at 1280×720 (present-<size>[-view].png), that
view embedded alone (embed-view.png) and the page as it prints (print.png).
"""

from __future__ import annotations

import argparse
import json
import urllib.request
from pathlib import Path

from playwright.sync_api import sync_playwright

from tests.e2e.harness import ROOT, VIEWPORT, PageLog, launch, new_context, running_server, wait_complete

STATES = {
    "default": "/",
    "lstm": "/?cell=lstm&num_layers=2&bidirectional=1&seq_len=100",
    "exploding": "/?cell=rnn&nonlinearity=relu&init=orthogonal&gain=3&seq_len=400",
    "gru-link": "/?cell=gru&seq_len=37&clip=norm&clip_at=0.5",
}
TRAINING = "/?cell=gru&task=adding&seq_len=30&clip=norm&clip_at=0.5&steps=400"
COMPARE = "/?task=adding&seq_len=30&steps=300&cmp_b=cell:lstm&cmp_c=cell:gru"
STEPS_AT_LEAST = "n => { const r = window.gfl.training.run; return !!r && r.steps >= n; }"
TRAIN_DONE = "() => { const t = window.gfl.training; return !t.active && !!(t.run && t.run.done); }"
ALL_TRAINED = """() => ['A', 'B', 'C'].every(n => { const e = window.gfl.compare.entries[n];
  return e && e.run && e.run.done && e.trace && e.trace.complete; })"""
SCROLL_TO_TRAINING = (
    "() => window.scrollBy(0, document.getElementById('training').getBoundingClientRect().top - 58)"
)


def shoot(page, path: Path, settle_ms: int = 300) -> None:
    page.mouse.move(5, 5)  # no hover label or mode bar in the picture
    page.wait_for_timeout(settle_ms)  # condition-free: Plotly settles its hover layers with no event to wait on
    page.screenshot(path=str(path))
    print(path)


def main_states(browser, base: str, out: Path, full: bool) -> list[str]:
    problems = []
    for name, link in STATES.items():
        page = new_context(browser, viewport=VIEWPORT).new_page()
        log = PageLog(page)
        page.goto(base + link)
        wait_complete(page)
        shoot(page, out / f"{name}.png")
        if full:
            page.screenshot(path=str(out / f"{name}-full.png"), full_page=True)
        problems += [f"{name}: {e}" for e in log.errors + log.foreign_requests()]
        page.close()
    return problems


def training_states(browser, base: str, out: Path, full: bool) -> list[str]:
    page = new_context(browser, viewport=VIEWPORT).new_page()
    log = PageLog(page)
    page.goto(base + TRAINING)
    page.select_option("#speed", "0")
    run = wait_complete(page)
    page.click("#train")
    page.wait_for_function(STEPS_AT_LEAST, arg=150, timeout=120_000)
    page.evaluate(SCROLL_TO_TRAINING)  # the panel just under the sticky playback bar, as a teacher scrolls
    shoot(page, out / "training-live.png", settle_ms=150)
    page.wait_for_function(TRAIN_DONE, timeout=120_000)
    wait_complete(page, after=run)
    page.evaluate(SCROLL_TO_TRAINING)
    shoot(page, out / "training.png")
    problems = [f"training: {e}" for e in log.errors + log.foreign_requests()]
    page.close()

    page = new_context(browser, viewport=VIEWPORT).new_page()
    log = PageLog(page)
    page.goto(base + COMPARE)
    page.select_option("#speed", "0")
    wait_complete(page)
    page.click("#compare-train")
    page.wait_for_function(ALL_TRAINED, timeout=180_000)
    page.evaluate("() => window.scrollTo(0, 0)")
    shoot(page, out / "compare.png", settle_ms=400)
    problems += [f"compare: {e}" for e in log.errors + log.foreign_requests()]
    page.close()
    return problems


def lesson_states(browser, base: str, out: Path, full: bool) -> list[str]:
    with urllib.request.urlopen(base + "/api/lessons", timeout=10) as r:
        lessons = json.load(r)["lessons"]
    page = new_context(browser, viewport=VIEWPORT).new_page()
    log = PageLog(page)
    for doc in lessons:
        if not doc["link"].startswith("/?"):
            continue  # the cliff group shoots the cliff page's lessons
        page.goto(base + doc["link"])
        page.wait_for_function("() => window.gfl && window.gfl.trace && window.gfl.lastPaint")
        page.select_option("#speed", "0")
        page.click("#play")  # as if played through: the lesson's run waits for its prediction
        wait_complete(page)
        if page.locator("#lesson-answer").is_visible():
            page.click(".lesson-reveal")  # keep the answer for the class to find
        page.mouse.move(0, VIEWPORT["height"] - 1)
        shoot(page, out / f"lesson-{doc['id']}.png")
    page.close()
    return [f"lessons: {e}" for e in log.errors + log.foreign_requests()]


LAG = "/?task=sine&arch=many-to-many&seq_len=200&view=lag"
HAS_MAP = "() => document.getElementById('view-lag').classList.contains('has-map')"


def lag_states(browser, base: str, out: Path, full: bool) -> list[str]:
    page = new_context(browser, viewport=VIEWPORT).new_page()
    log = PageLog(page)
    page.goto(base + LAG)
    wait_complete(page)
    page.wait_for_function(HAS_MAP)  # the link brings the view into sight once it is drawn
    shoot(page, out / "lag-map.png")
    page.select_option("#lag-row", "160")
    page.wait_for_function("() => document.getElementById('chart-grad-norm').data"
                           ".some(d => (d.name || '').startsWith('output s'))")  # fmt: skip
    page.evaluate("() => window.scrollTo(0, 0)")
    shoot(page, out / "lag-row.png")
    page.close()
    return [f"lag: {e}" for e in log.errors + log.foreign_requests()]


CLIFF_PAINTED = "() => !!(window.gflCliff && window.gflCliff.lastPaint)"


def cliff_states(browser, base: str, out: Path, full: bool) -> list[str]:
    with urllib.request.urlopen(base + "/api/lessons", timeout=10) as r:
        lessons = [d for d in json.load(r)["lessons"] if d["link"].startswith("/cliff?")]
    page = new_context(browser, viewport=VIEWPORT).new_page()
    log = PageLog(page)
    for name, link in [("cliff", "/cliff")] + [(f"lesson-{d['id']}", d["link"]) for d in lessons]:
        page.goto(base + link)
        page.wait_for_function(CLIFF_PAINTED)
        if page.locator(".lesson-go").count():  # as a class sees it after pressing Run: the descents and the answer
            page.click(".lesson-go")
            page.wait_for_function("() => !window.gflCliff.lastPaint.held")
        shoot(page, out / f"{name}.png", settle_ms=400)
        if full:
            page.screenshot(path=str(out / f"{name}-full.png"), full_page=True)
    page.close()
    return [f"cliff: {e}" for e in log.errors + log.foreign_requests()]


SCREENS = {"phone": {"viewport": {"width": 390, "height": 844}, "has_touch": True, "is_mobile": True},
           "desktop": {"viewport": VIEWPORT}}
TRAINING_IS = "s => window.gfl.state.training.status === s && window.gfl.state.view.status === 'shown'"


def screen_states(browser, base: str, out: Path, full: bool) -> list[str]:
    with urllib.request.urlopen(base + "/api/lessons", timeout=60) as r:
        link = next(d["link"] for d in json.load(r)["lessons"] if d["id"] == "gradient-clipping")
    problems = []
    for (size, options), scheme in [(s, c) for s in SCREENS.items() for c in ("light", "dark")]:
        context = new_context(browser, color_scheme=scheme, **options)
        problems += clipping_lesson_states(context, base, link, out, f"{size}{'' if scheme == 'light' else '-dark'}")
        context.close()
    return problems


def clipping_lesson_states(context, base: str, link: str, out: Path, suffix: str) -> list[str]:
    page = context.new_page()
    page.set_default_timeout(120_000)
    log = PageLog(page)
    page.goto(base + "/?seq_len=2000&hidden_size=256&num_layers=3")  # seconds of computing
    page.wait_for_function("() => document.body.innerText.includes('Computing the trace')")
    shoot(page, out / f"screen-computing-{suffix}.png", settle_ms=0)
    page.goto(base + link)
    run = wait_complete(page)
    shoot(page, out / f"screen-idle-{suffix}.png")
    page.click(".lesson-go")  # the lesson's Train: the loss curve comes into sight
    page.wait_for_function(STEPS_AT_LEAST, arg=40)
    shoot(page, out / f"screen-training-{suffix}.png", settle_ms=0)
    page.wait_for_function(TRAINING_IS, arg="trained")
    run = wait_complete(page, after=run)
    shoot(page, out / f"screen-trained-{suffix}.png")
    page.click("button.try[data-key='clip'][data-value='\"none\"']")
    run = wait_complete(page, after=run)
    page.click("#train")
    page.wait_for_function(TRAINING_IS, arg="diverged")
    shoot(page, out / f"screen-diverged-{suffix}.png")
    page.close()
    return [f"screens {suffix}: {e}" for e in log.errors + log.foreign_requests()]


PRESENTING = {  # name: (width, height, link, as printed)
    "present-1280x720": (1280, 720, "/?cell=lstm&forget_bias=3&seq_len=100&present=1", False),
    "present-1920x1080": (1920, 1080, "/?cell=lstm&forget_bias=3&seq_len=100&present=1", False),
    "present-1280x720-view": (1280, 720, "/?seq_len=100&present=1&view=grad-norm", False),
    "embed-view": (1280, 720, "/?seq_len=100&embed=1&view=grad-norm", False),
    "print": (1366, 768, "/?cell=gru&seq_len=60", True),
}


def present_states(browser, base: str, out: Path, full: bool) -> list[str]:
    problems = []
    for name, (width, height, link, printed) in PRESENTING.items():
        page = new_context(browser, viewport={"width": width, "height": height}).new_page()  # introduction closed
        log = PageLog(page)
        page.goto(base + link)
        wait_complete(page)
        if printed:
            page.emulate_media(media="print")
        shoot(page, out / f"{name}.png")
        problems += [f"{name}: {e}" for e in log.errors + log.foreign_requests()]
        page.context.close()
    return problems


GROUPS = {"main": main_states, "training": training_states, "lessons": lesson_states, "cliff": cliff_states,
          "lag": lag_states, "screens": screen_states, "present": present_states}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    parser.add_argument("--only", nargs="*", choices=sorted(GROUPS), default=sorted(GROUPS))
    parser.add_argument("--full", action="store_true", help="main: also save the whole page as NAME-full.png")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    problems = []
    with running_server() as base, sync_playwright() as p:
        browser = launch(p)
        for group in args.only:
            problems += GROUPS[group](browser, base, args.out, args.full)
        browser.close()
    for line in problems:
        print("problem:", line)
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
