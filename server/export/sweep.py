"""The sweep lessons in the static site: each page with its own sweep's points precomputed.

A sweep lesson's sweep is computed here, every point as :func:`engine.lab.sweep.point_result` gives it, and recorded
as the frames the socket would stream (``sweep_start``, each ``sweep_point``, ``sweep_done``) into one classic script
under ``DIR/data/``; in the copy the sweep page replays them, point by point, into the same drawing code the live
page uses (static/js/sweep.js).  Its tries and form need the live lab.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from jinja2 import Environment

from engine.lab import Sweep
from server.export.page import recording_script, static_page
from server.notebook.frames import sweep_units
from server.routes.pages import page_context
from server.routes.sweep import sweep_table


def record(out: Path, sweep: Sweep) -> str:
    """Write ``sweep``'s frames as a recording script; returns its path relative to ``out``."""
    digest = hashlib.sha256(json.dumps(sweep.to_dict(), sort_keys=True).encode()).hexdigest()[:16]
    src = f"data/sweep-{digest}.js"
    (out / src).write_text(recording_script(src, sweep_units(sweep)), encoding="utf-8")
    return src


def sweep_page(env: Environment, doc: dict, sweep: Sweep, src: str, live_url: str | None, links: dict[str, str],
               base_url: str | None = None) -> str:  # fmt: skip
    """The server's /sweep page for the lesson's link, its points from the recording ``src``."""
    page = env.get_template("sweep.html").render(**page_context(doc, sweep_table(sweep), sweep.config.to_dict(), []))
    recorded = [{"kind": "sweep", "config": sweep.to_dict(), "src": src}]
    return static_page(page, "sweep.js", "gfl-sweep.js", recorded, doc["link"].partition("?")[2], live_url, links,
                       base_url)
