"""Screenshots of the main states at 1366×768 for docs/screenshots/ (not a test; run it by hand).

.venv/bin/python -m tests.e2e.screenshots [--out docs/screenshots] [--full]
"""

from __future__ import annotations

import argparse
from pathlib import Path

from playwright.sync_api import sync_playwright

from tests.e2e.harness import ROOT, VIEWPORT, PageLog, launch, running_server, wait_complete

STATES = {
    "default": "/",
    "lstm": "/?cell=lstm&num_layers=2&bidirectional=1&seq_len=100",
    "exploding": "/?cell=rnn&nonlinearity=relu&init=orthogonal&gain=3&seq_len=400",
    "gru-link": "/?cell=gru&seq_len=37&clip=norm&clip_at=0.5",
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    parser.add_argument("--full", action="store_true", help="also save the whole page as NAME-full.png")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    problems = []
    with running_server() as base, sync_playwright() as p:
        browser = launch(p)
        for name, link in STATES.items():
            page = browser.new_page(viewport=VIEWPORT)
            log = PageLog(page)
            page.goto(base + link)
            wait_complete(page)
            page.wait_for_timeout(300)  # let Plotly settle its hover layers
            page.screenshot(path=str(args.out / f"{name}.png"))
            if args.full:
                page.screenshot(path=str(args.out / f"{name}-full.png"), full_page=True)
            problems += [f"{name}: {e}" for e in log.errors + log.foreign_requests()]
            print(args.out / f"{name}.png")
            page.close()
        browser.close()
    for line in problems:
        print("problem:", line)
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
