"""The cliff lesson in the static site: its page and the ``/api/cliff`` answers of every setting it can reach.

The cliff page's "now try" buttons toggle, each moving one control and back, so they combine: the page can
reach every subset of its tries.  Each subset's setting is recorded, as the bytes ``GET /api/cliff`` answers
(:func:`server.routes.cliff.cliff_json`), into one classic script under ``DIR/data/``, and in the copy the page's
frame source (``static/js/frames.js`` RecordedSource, standing in for ``static/js/cliff_source.js``) hands it
to the same drawing code the live page uses.
"""

from __future__ import annotations

import hashlib
import itertools
import json
from pathlib import Path

from jinja2 import Environment

from engine.lab import CliffConfig, describe_table
from engine.lessons import Lesson, lesson_config
from server.export.page import recording_script, static_page
from server.routes.cliff import cliff_json
from server.routes.pages import page_context
from server.wire import Unit

MAX_TRIES = 6  # 2**6 settings at most: the recordings of every combination stay a few MB


def cliff_settings(lesson: Lesson) -> list[CliffConfig]:
    """The lesson's setting first, then that of every combination of its tries (each applied in turn)."""
    if len(lesson.tries) > MAX_TRIES:
        raise ValueError(f"lesson {lesson.id!r}: {len(lesson.tries)} tries; the export records every "
                         f"combination of at most {MAX_TRIES}")  # fmt: skip
    out: list[CliffConfig] = []
    for n in range(len(lesson.tries) + 1):
        for subset in itertools.combinations(lesson.tries, n):
            link = dict(lesson.link)
            link.update({t.key: t.value for t in subset})
            cfg = CliffConfig.from_dict(link)
            if cfg not in out:
                out.append(cfg)
    assert out[0] == lesson_config(lesson)
    return out


def record(out: Path, cfg: CliffConfig) -> str:
    """Write the ``/api/cliff`` answer for ``cfg`` as a recording script; returns its path relative to ``out``.

    The answer is one frame of the page's source, as the live source reads it (static/js/cliff_source.js).
    """
    digest = hashlib.sha256(json.dumps(cfg.to_dict(), sort_keys=True).encode()).hexdigest()[:16]
    src = f"data/cliff-{digest}.js"
    (out / src).write_text(recording_script(src, [Unit(cliff_json(cfg).decode("utf-8"))]), encoding="utf-8")
    return src


def cliff_page(env: Environment, doc: dict, recordings: list[tuple[CliffConfig, str]], live_url: str | None,
               links: dict[str, str], base_url: str | None = None) -> str:  # fmt: skip
    """The server's /cliff page for the lesson's link, its answers from ``recordings`` ([(setting, src)])."""
    page = env.get_template("cliff.html").render(**page_context(doc, describe_table(), recordings[0][0].to_dict(), []))
    recorded = [{"kind": "run", "config": c.to_dict(), "src": src} for c, src in recordings]
    return static_page(page, "cliff.js", "gfl-cliff.js", recorded, doc["link"].partition("?")[2], live_url, links,
                       base_url)
