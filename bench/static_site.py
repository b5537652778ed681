"""First paint of the static lesson site: each lesson opened from file:// in headless Chromium.

    python bench/static_site.py [--loads 7] [--site DIR] [--lessons a,b] [--json out.json]

The site is exported once into a temporary folder (or ``--site DIR``, a folder ``python -m server.export``
wrote already), then every lesson page is opened from ``file://`` ``--loads`` times.  Per lesson, the medians
of, in ms after navigation start:

- ``fcp``: the browser's first contentful paint (the lesson's text and the page's layout);
- ``views``: the lesson's views painted: the frame that shows every chart in the window (1366 × 768) holding
  a drawing of the lesson's trace, its frames all in (on the cliff page: the loss surface and the steps);
- ``all``: the same for every chart on the page, the ones further down included;
- and, to see where the time goes, when Plotly had run (``plotly``), the page's script started (``script``),
  the first recording had run (``data``) and the views in the window were drawn, before their frame
  (``drawn``).

The baseline, measured in the same run and the same browser: a page with one paragraph that loads the
site's own ``vendor/plotly.min.js`` and draws one three-point line with it.  Its ``fcp`` and ``views`` are
taken in the same way, and each lesson's figures are also printed as a ratio to the baseline's ``views``:
1.0 means a lesson paints its views as soon as Plotly alone can draw anything.

Chromium is driven over the DevTools protocol directly (Page and Runtime only, no network tracking), as in
bench/ui_latency.py.  The budget: first paint of a lesson under 1 s.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.cdp import Page, devtools_page  # noqa: E402

BUDGET_MS = 1000.0
MARKS = ("fcp", "plotly", "script", "data", "drawn", "views", "all")

# Runs before any of the page's scripts: notes when each stage happened (performance.now(), ms after
# navigation start).  A global's first assignment is caught with a setter on window.
INSTRUMENT = r"""
(() => {
  const m = (window.__bench = { fcp: null, plotly: null, script: null, data: null, drawn: null, views: null,
    all: null });
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) if (e.name === "first-contentful-paint") m.fcp = e.startTime;
  }).observe({ type: "paint", buffered: true });
  const watch = (name, mark) => {
    let value;
    Object.defineProperty(window, name, { configurable: true, enumerable: true,
      get: () => value, set: (v) => { value = v; if (m[mark] === null) m[mark] = performance.now(); } });
  };
  watch("Plotly", "plotly");
  watch("gfl", "script");
  watch("gflCliff", "script");
  watch("GFL_RECORDINGS", "data");
  const inSight = (el) => {
    const r = el.getBoundingClientRect();
    return r.bottom > 0 && r.top < innerHeight && r.right > 0 && r.left < innerWidth;
  };
  // The charts that hold the trace: those in sight for `views`, every one laid out for `all`.
  const drawn = (sight) => {
    if (window.gfl && !(window.gfl.trace && window.gfl.trace.complete)) return false;
    const list = [...document.querySelectorAll(".views .view .chart, .cliff-views .cliff-chart")]
      .filter((el) => el.getClientRects().length > 0 && (!sight || inSight(el)));
    return list.length > 0 && list.every((el) => el.querySelector(".main-svg"));
  };
  // The frame that shows the views: drawn inside an animation frame callback, that frame, whose paint comes
  // before any task queued from the callback; drawn elsewhere, the next frame.
  let inFrame = false;
  const raf = window.requestAnimationFrame.bind(window);
  window.requestAnimationFrame = (cb) => raf((t) => { inFrame = true; try { cb(t); } finally { inFrame = false; } });
  const onScreen = (mark) => {
    const shown = () => setTimeout(() => (m[mark] = performance.now()));
    if (inFrame) shown();
    else raf(shown);
  };
  const check = () => {
    if (m.drawn === null && drawn(true)) {
      m.drawn = performance.now();
      onScreen("views");
    }
    if (m.all === null && drawn(false)) onScreen("all");
  };
  window.addEventListener("gfl:painted", check);
  window.addEventListener("gfl:benchdrawn", check);
})();
"""

BASELINE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>baseline</title></head>
<body><p>Plotly alone: one paragraph, then one chart.</p><div id="c" class="cliff-views">
<div class="cliff-chart" style="width:600px;height:300px"></div></div>
<script src="vendor/plotly.min.js"></script>
<script>
  requestAnimationFrame(() => {
    Plotly.newPlot(document.querySelector(".cliff-chart"), [{ y: [1, 3, 2] }]);
    window.dispatchEvent(new Event("gfl:benchdrawn"));
  });
</script></body></html>
"""

DONE = "(() => window.__bench && window.__bench.views !== null && window.__bench.all !== null)()"


async def load(page: Page, url: str) -> dict:
    """One fresh load of `url`: the page's marks, in ms after navigation start."""
    await page.call("Page.navigate", url="about:blank")
    await page.wait_for("document.readyState === 'complete'")
    await page.call("Page.navigate", url=url)
    await page.wait_for(DONE)
    return await page.evaluate("window.__bench")


async def measure(page: Page, url: str, loads: int) -> dict:
    await load(page, url)  # the first load warms the disk cache and Chromium's own start-up
    samples = [await load(page, url) for _ in range(loads)]
    out = {}
    for mark in MARKS:
        values = [s[mark] for s in samples if s[mark] is not None]
        out[mark] = statistics.median(values) if values else None
    out["views_ms"] = [round(s["views"]) for s in samples]
    return out


def lesson_pages(site: Path, only: list[str] | None) -> list[tuple[str, Path]]:
    pages = sorted(site.glob("lesson-*.html"))
    named = [(p.stem.removeprefix("lesson-"), p) for p in pages]
    return [(n, p) for n, p in named if not only or n in only]


async def run(site: Path, loads: int, only: list[str] | None) -> dict:
    (site / "bench-baseline.html").write_text(BASELINE, encoding="utf-8")
    results: dict = {}
    try:
        async with devtools_page(poll_s=0.02) as page:
            await page.call("Page.enable")
            await page.call("Page.addScriptToEvaluateOnNewDocument", source=INSTRUMENT)
            base = await measure(page, (site / "bench-baseline.html").as_uri(), loads)
            results["baseline"] = base
            print(f"{'baseline (Plotly alone)':28s} fcp {base['fcp']:6.0f}  views {base['views']:6.0f} ms"
                  f"  (Plotly ran at {base['plotly']:.0f})", flush=True)  # fmt: skip
            for name, path in lesson_pages(site, only):
                r = await measure(page, path.as_uri(), loads)
                r["fcp_vs_baseline"] = r["fcp"] / base["views"]
                r["views_vs_baseline"] = r["views"] / base["views"]
                r["meets_budget"] = r["fcp"] <= BUDGET_MS and r["views"] <= BUDGET_MS
                results[name] = r
                stages = ("plotly", "script", "data", "drawn", "all")
                parts = "  ".join(f"{k} {r[k]:.0f}" for k in stages if r[k] is not None)
                verdict = "ok" if r["meets_budget"] else "OVER"
                print(f"{name:28s} fcp {r['fcp']:6.0f}  views {r['views']:6.0f} ms"
                      f"  ({r['fcp_vs_baseline']:.2f} / {r['views_vs_baseline']:.2f} × baseline)"
                      f"  | {parts} | {verdict} {BUDGET_MS:.0f} ms", flush=True)  # fmt: skip
    finally:
        (site / "bench-baseline.html").unlink(missing_ok=True)
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--loads", type=int, default=7, help="loads per page after one warm-up load")
    parser.add_argument("--site", type=Path, help="an exported site to use instead of exporting one")
    parser.add_argument("--lessons", help="comma-separated lesson ids (default: every lesson page)")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)
    only = args.lessons.split(",") if args.lessons else None
    if args.site:
        results = asyncio.run(run(args.site, args.loads, only))
    else:
        from server.export.site import export_site

        with tempfile.TemporaryDirectory(prefix="gfl-site-") as tmp:
            started = time.perf_counter()
            report = export_site(Path(tmp), log=lambda _line: None)
            print(f"exported {report['bytes'] / 1e6:.1f} MB in {time.perf_counter() - started:.0f} s", flush=True)
            results = asyncio.run(run(Path(tmp), args.loads, only))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    lessons = [r for k, r in results.items() if k != "baseline"]
    return 0 if all(r["meets_budget"] for r in lessons) else 1


if __name__ == "__main__":
    raise SystemExit(main())
