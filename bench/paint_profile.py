"""Where the time goes while a slider is dragged: a DevTools CPU profile of the page, and each view's own draw.

    python bench/paint_profile.py [--seconds 3] [--top 12] [--slider gain] [--only default lstm]

For each scenario of bench/ui_latency.py the page is opened, then `--slider` is dragged for `--seconds` (one step
of its grid every animation frame, driven through the DevTools protocol, as bench/ui_latency.py drags) while

* the DevTools CPU profiler samples the renderer (Profiler domain, 200 µs): self time summed by script
  (Plotly, the page's modules, the browser's own work: garbage collection, "(program)" = style, layout and
  paint outside JavaScript, "(idle)");
* Plotly's own stages (its defaults, axes, colorbars and margins, the traces, text measurement) are summed from
  the same profile, by the function names the bundle keeps;
* every chart's draw is timed inside the page (each Chart's draw wrapped for the run: the synchronous part of
  Plotly.react and the code that builds its traces), summed per view.

Prints both tables; docs/performance/paint.md gives the findings.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.cdp import Page, devtools_page  # noqa: E402
from bench.ui_latency import DRAG_AND_COUNT, PAINTED, ROOT, SCENARIOS, tree_of  # noqa: E402
from tests.e2e.harness import running_server  # noqa: E402

# Time each view's paint (building its traces and drawing them) and, within it, each chart's Plotly draw.
WRAP_DRAWS = """
(() => {
  const draws = (window.gflDrawMs = {});
  const paints = (window.gflPaintMs = {});
  const timed = (into, key, fn) => (...args) => {
    const t0 = performance.now();
    const r = fn(...args);
    const [ms, n] = into[key] || [0, 0];
    into[key] = [ms + performance.now() - t0, n + 1];
    return r;
  };
  for (const [id, chart] of Object.entries(window.gfl.charts)) chart.draw = timed(draws, id, chart.draw.bind(chart));
  const views = window.gfl.views;  // an older page does not expose its views: its charts' draws are still timed
  if (views) {
    const paintIf = views.paintIf.bind(views);
    views.paintIf = (name, key, paint) => paintIf(name, key, timed(paints, name, paint));
  }
  const player = window.gfl.player;
  player.render = timed(paints, "(every render)", player.render);
  return true;
})()
"""


def by_script(profile: dict) -> dict[str, float]:
    """Self time in ms per script (or per browser category) from a CPU profile's samples."""
    nodes = {n["id"]: n for n in profile["nodes"]}
    deltas = profile["timeDeltas"]
    out: collections.Counter = collections.Counter()
    # The first delta runs from the profiler's start time, not from a sample: left out.
    for sample, dt in zip(profile["samples"][1:], deltas[1:], strict=True):
        frame = nodes[sample]["callFrame"]
        url = frame.get("url") or frame.get("functionName") or "(anonymous)"
        out[url.rsplit("/", 1)[-1] or url] += dt / 1000.0
    return dict(out)


# Plotly's own stages of a redraw, by the (unminified) property names its bundle keeps: time spent inside each,
# callees included.  Axes: the tick labels and lines; margin pushers: colorbars and the margins they push.
PLOTLY_STAGES = {
    "supplyDefaults": "the figure's defaults",
    "drawFramework": "the subplots' SVG frame",
    "drawMarginPushers": "colorbars and the margins they push",
    "drawOne": "axes: ticks, labels, lines",
    "drawData": "the traces themselves",
    "bBox": "text measured (forced layout)",
}


def plotly_stages(profile: dict) -> dict[str, float]:
    """Inclusive time in ms of each of Plotly's PLOTLY_STAGES (a sample counts once per stage on its stack)."""
    nodes = {n["id"]: n for n in profile["nodes"]}
    parent = {c: n["id"] for n in profile["nodes"] for c in n.get("children", [])}
    out: collections.Counter = collections.Counter()
    for sample, dt in zip(profile["samples"][1:], profile["timeDeltas"][1:], strict=True):
        stages = set()
        while sample is not None:
            name = nodes[sample]["callFrame"]["functionName"].rsplit(".", 1)[-1]
            if name in PLOTLY_STAGES:
                stages.add(name)
            sample = parent.get(sample)
        for name in stages:
            out[name] += dt / 1000.0
    return dict(out)


async def profile(page: Page, base: str, link: str, seconds: float, slider: str) -> dict:
    await page.call("Page.navigate", url=base + link)
    await page.wait_for(PAINTED)
    await page.evaluate(WRAP_DRAWS)
    await page.call("Profiler.enable")
    await page.call("Profiler.setSamplingInterval", interval=200)
    await page.call("Profiler.start")
    drag = await page.evaluate(DRAG_AND_COUNT % (json.dumps(slider), int(seconds * 1000)))  # let go at its end
    prof = (await page.call("Profiler.stop"))["profile"]
    await page.call("Profiler.disable")
    draws = await page.evaluate("window.gflDrawMs")
    paints = await page.evaluate("window.gflPaintMs")
    return {"drag": drag, "scripts": by_script(prof), "stages": plotly_stages(prof), "draws": draws, "paints": paints}


async def run(seconds: float, top: int, root: Path, label: str, slider: str, only: list[str] | None) -> dict:
    results = {}
    with running_server(root=root) as base:
        async with devtools_page() as page:
            for name, link, *_ in SCENARIOS:
                if only and name.split()[0] not in only:
                    continue
                r = await profile(page, base, link, seconds, slider)
                results[name] = r
                total = sum(r["scripts"].values())
                print(f"\n{label}, {name}: {r['drag']['repaints']} repaints in {r['drag']['seconds']:.1f} s"
                      f" ({r['drag']['values']} values passed);"
                      f" {total:.0f} ms sampled")  # fmt: skip
                for script, ms in sorted(r["scripts"].items(), key=lambda kv: -kv[1])[:top]:
                    print(f"  {ms:8.0f} ms {100 * ms / total:5.1f} %  {script}")
                print("  Plotly's stages (callees included)")
                for stage, ms in sorted(r["stages"].items(), key=lambda kv: -kv[1]):
                    print(f"  {ms:8.0f} ms {100 * ms / total:5.1f} %  {stage}: {PLOTLY_STAGES[stage]}")
                print("  per view: paint (building its traces + drawing) | of which Plotly's draw")
                for view, (ms, n) in sorted(r["paints"].items(), key=lambda kv: -kv[1][0]):
                    print(f"  {ms:8.0f} ms in {n:3d} ({ms / n:5.1f} ms each)  {view}")
                for chart, (ms, n) in sorted(r["draws"].items(), key=lambda kv: -kv[1][0]):
                    print(f"  {ms:8.0f} ms in {n:3d} ({ms / n:5.1f} ms each)  Plotly: {chart}")
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--top", type=int, default=12)
    parser.add_argument("--baseline", default=None, help="also profile this commit first (e.g. the merge-base)")
    parser.add_argument("--slider", default="gain", help="the slider dragged (one step of its grid a frame)")
    parser.add_argument("--only", nargs="*", help="scenarios by their first word: default, lstm")
    args = parser.parse_args(argv)
    opts = (args.slider, args.only)
    if args.baseline:
        with tree_of(args.baseline) as old:
            asyncio.run(run(args.seconds, args.top, old, f"baseline {args.baseline[:10]}", *opts))
    asyncio.run(run(args.seconds, args.top, ROOT, "this tree", *opts))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
