"""UI latency while a slider moves: this tree's page and server against a baseline tree's, in one run.

    python bench/ui_latency.py [--baseline REV] [--moves 10] [--drag-s 3] [--json out.json]

The baseline is another commit of this repository (default: where this branch left main), unpacked into a
temporary directory and served by its own ``python -m server``; each tree is measured in turn against a fresh
server of its own, in the same headless Chromium, driven over the DevTools protocol (bench/cdp.py).  For each
setting of the issue's table:

* **slider → repaint**: the gain slider moves to a value not asked for before (value set + an `input` event, as a
  hand does), and the clock runs, inside the page (performance.now()), until the page reports the new run painted
  whole in every view in sight (`gfl:painted`, `inSight`; a page without it: `complete`, every view).  Between
  moves the student pauses: the bench waits until the page has no prefetch out and is bringing no neighbour in
  (the baseline does neither), so neighbouring values have had their chance to be computed.  Median over
  `--moves` moves (the first move, which warms caches, not counted).
* **repaints per second while dragging**: the gain slider is dragged for `--drag-s` seconds, an `input` event on
  every animation frame, and the runs painted whole in the views in sight meanwhile are counted.

Targets (issue 27): default ≥ 30 repaints/s and ≤ 50 ms; LSTM T=1000, 2 layers, bidirectional ≥ 4 repaints/s and
≤ 250 ms.  The machine is shared: compare the ratios, not the absolute figures.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import json
import statistics
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.cdp import Page, devtools_page  # noqa: E402
from tests.e2e.harness import running_server  # noqa: E402

# name, link, target ms, target repaints/s
SCENARIOS = [
    ("default", "/", 50.0, 30.0),
    ("lstm T=1000 L=2 bi", "/?cell=lstm&seq_len=1000&num_layers=2&bidirectional=1", 250.0, 4.0),
]

# Drag the slider for `ms`, one input event per animation frame; count the runs painted whole meanwhile.
DRAG_AND_COUNT = """
((name, ms) => new Promise((resolve) => {
  const slider = document.querySelector(`[name="${name}"]`);
  const seen = new Set();
  let first = null;
  const onPaint = (e) => {
    if (!(e.detail.inSight ?? e.detail.complete) || seen.has(e.detail.run)) return;
    if (first === null) { first = e.detail.run; return; }  // the run on show before the drag
    seen.add(e.detail.run);
  };
  window.addEventListener('gfl:painted', onPaint);
  const t0 = performance.now();
  let v = 1;
  const move = () => {
    if (performance.now() - t0 >= ms) {
      window.removeEventListener('gfl:painted', onPaint);
      return resolve({ repaints: seen.size, seconds: (performance.now() - t0) / 1000 });
    }
    v = v >= 1.5 ? 1 : v + 0.01;
    slider.value = String(v);
    slider.dispatchEvent(new Event('input', { bubbles: true }));
    requestAnimationFrame(move);
  };
  const p = window.gfl.lastPaint;
  if (p && (p.inSight ?? p.complete)) first = p.run;
  move();
}))(%s, %s)
"""

# The views in sight hold the whole run (a page that does not say so: every view does).
PAINTED = "(() => { const p = window.gfl && window.gfl.lastPaint; return !!p && (p.inSight ?? p.complete); })()"
# The student's pause between moves: until no prefetch is out, nor a neighbour being brought into the page (a page
# without them has none out).
SETTLED = ("(() => { const g = window.gfl, p = g && g.lastPaint, n = g && g.socket && g.socket.neighbours;"
           " return !!p && (p.inSight ?? p.complete) && !(g.prefetch && g.prefetch.outstanding)"
           " && !(n && n.busy); })()")

# Move the slider; resolve with the page's own timings once the new run is painted whole.
MOVE_AND_WAIT = """
((name, value) => new Promise((resolve) => {
  const before = window.gfl.lastPaint ? window.gfl.lastPaint.run : 0;
  const slider = document.querySelector(`[name="${name}"]`);
  const onPaint = (e) => {
    if (e.detail.run <= before || !(e.detail.inSight ?? e.detail.complete)) return;
    window.removeEventListener('gfl:painted', onPaint);
    const tr = window.gfl.trace;
    resolve({ total: e.detail.at - t0, paint: e.detail.at - tr.doneAt, compute: tr.done.elapsed_ms });
  };
  window.addEventListener('gfl:painted', onPaint);
  const t0 = performance.now();
  slider.value = value;
  slider.dispatchEvent(new Event('input', { bubbles: true }));
}))(%s, %s)
"""


async def measure(page: Page, base: str, link: str, moves: int, drag_s: float) -> dict:
    await page.call("Page.navigate", url=base + link)
    await page.wait_for(SETTLED)
    samples = []
    for i in range(moves + 1):
        await page.wait_for(SETTLED, timeout=300)
        value = f"{1 + 0.05 * (i + 1):.2f}"  # a value not asked for before
        r = await page.evaluate(MOVE_AND_WAIT % (json.dumps("gain"), json.dumps(value)))
        if i:  # the first move warms caches
            samples.append(r)
    await page.wait_for(SETTLED, timeout=300)
    drag = await page.evaluate(DRAG_AND_COUNT % (json.dumps("gain"), int(drag_s * 1000)))
    return {
        "median_ms": statistics.median(s["total"] for s in samples),
        "paint_ms": statistics.median(s["paint"] for s in samples),
        "drag_repaints_per_s": drag["repaints"] / drag["seconds"],
        "samples_ms": [round(s["total"], 1) for s in samples],
    }


@contextlib.contextmanager
def tree_of(rev: str):
    """The files of commit `rev`, unpacked into a temporary directory."""
    with tempfile.TemporaryDirectory(prefix="gfl-baseline-") as tmp:
        archive = subprocess.run(["git", "-C", str(ROOT), "archive", rev], check=True, capture_output=True).stdout
        with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
            tar.extractall(tmp, filter="data")
        yield Path(tmp)


async def measure_tree(root: Path, moves: int, drag_s: float) -> dict:
    out = {}
    with running_server(root=root) as base:
        async with devtools_page() as page:
            for name, link, *_ in SCENARIOS:
                out[name] = await measure(page, base, link, moves, drag_s)
    return out


def baseline_rev() -> str:
    merge_base = subprocess.run(["git", "-C", str(ROOT), "merge-base", "HEAD", "main"], capture_output=True, text=True)
    return merge_base.stdout.strip() or "HEAD"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--baseline", default=None, help="the commit measured as the baseline (default: merge-base)")
    parser.add_argument("--moves", type=int, default=10)
    parser.add_argument("--drag-s", type=float, default=3.0)
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)
    rev = args.baseline or baseline_rev()
    with tree_of(rev) as old:
        before = asyncio.run(measure_tree(old, args.moves, args.drag_s))
    after = asyncio.run(measure_tree(ROOT, args.moves, args.drag_s))
    print(f"baseline: {rev[:10]} (its page and server), measured in this run before this tree")
    print(f"{'measure':48s} {'baseline':>9s} {'now':>9s} {'ratio':>7s}  target")
    met = True
    for name, _, target_ms, target_rate in SCENARIOS:
        b, a = before[name], after[name]
        rows = [(f"repaints/s while dragging, {name}", "drag_repaints_per_s", target_rate, 1),
                (f"slider -> repaint median ms, {name}", "median_ms", target_ms, -1),
                (f"  of which the paint after the data, {name}", "paint_ms", None, -1)]  # fmt: skip
        for label, key, target, sense in rows:
            ratio = a[key] / b[key] if b[key] else float("inf")
            ok = target is None or (a[key] - target) * sense >= 0
            met &= ok
            goal = "" if target is None else f"{'>=' if sense > 0 else '<='} {target:g} {'ok' if ok else 'MISSED'}"
            print(f"{label:48s} {b[key]:9.1f} {a[key]:9.1f} {ratio:6.2f}×  {goal}")
    if args.json:
        args.json.write_text(json.dumps({"baseline": rev, "before": before, "after": after}, indent=2))
    return 0 if met else 1


if __name__ == "__main__":
    raise SystemExit(main())
