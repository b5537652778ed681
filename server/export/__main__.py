"""``python -m server.export --out DIR`` (or ``gradient-flow-lab export --out DIR``): write the static lesson site."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="gradient-flow-lab export",
        description="Write the lessons as a static site that opens from file:// or any static host.",
    )
    parser.add_argument("--out", required=True, type=Path, metavar="DIR", help="folder to write the site into")
    parser.add_argument(
        "--live-url",
        metavar="URL",
        help="a live lab (http[s]://host[:port]/) that settings outside the recorded ones link to",
    )
    parser.add_argument(
        "--base-url",
        metavar="URL",
        help="the address the site will be served at (http[s]://host/path/): Copy link writes links under it; "
        "without it, links are relative to the site",
    )
    args = parser.parse_args(argv)
    for option, value in (("--live-url", args.live_url), ("--base-url", args.base_url)):
        parts = urlsplit(value or "")
        if value is not None and (parts.scheme not in ("http", "https") or not parts.netloc):
            parser.error(f"{option} must be an http:// or https:// address; got {value!r}")
    from server.export.site import export_site  # torch loads only once the arguments are good

    started = time.perf_counter()
    report = export_site(args.out, args.live_url, log=lambda line: print(line, file=sys.stderr), base_url=args.base_url)
    mb = report["bytes"] / 1e6
    print(f"wrote {len(report['pages'])} pages and {report['recordings']} recordings to {args.out} "
          f"({mb:.1f} MB) in {time.perf_counter() - started:.0f} s")  # fmt: skip


if __name__ == "__main__":
    main()
