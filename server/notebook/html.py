"""One self-contained HTML block that paints a trace's views, for a notebook's output cell or a file.

The block holds, in order: its own ``<div>`` (a unique id, so several outputs on a page never meet) with the
trace's frames as JSON; Plotly from the installed ``plotly`` package, unless the page already has it; the
page's view modules joined into one classic script (:mod:`server.export.bundle`, entry ``static/js/notebook.js``),
loaded once per page; and a one-line call that paints this block's ``<div>``.  Nothing comes from the network.

Binary frames travel base64-encoded inside the JSON, as the static export's recordings do.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from engine.config import FIELDS, LINK_VERSION
from server.export.bundle import bundle
from server.wire import recorded_rows, script_json

ENTRY = Path(__file__).resolve().parents[2] / "static" / "js" / "notebook.js"

STYLE = Path(__file__).resolve().parents[2] / "static" / "css" / "notebook.css"


@cache
def _style() -> str:
    """The views' CSS, the page's own file (the page's saved trace file links it)."""
    return STYLE.read_text(encoding="utf-8")


@cache
def _fields() -> list[dict[str, Any]]:
    """The config table as the page gets it (its advice names a key only where the table gives it room)."""
    return [f.describe() for f in FIELDS]


@cache
def _plotly_script() -> str:
    """Plotly from its package, run only where the page has none yet (a second output reuses it)."""
    src = (resources.files("plotly") / "package_data" / "plotly.min.js").read_text(encoding="utf-8")
    src = src.replace("</script", "<\\/script")
    # Outputs above this one that found no Plotly wait for this event (a saved notebook whose Plotly sits in a
    # later output, or a cell run out of order).
    return ("<script>\nif (typeof window.Plotly === 'undefined') {\n" + src + "\n}\n"
            "window.dispatchEvent(new Event('gfl-plotly'));\n</script>")


@cache
def _views_script() -> str:
    """The view modules as one classic script, run once per page per version of the modules."""
    code = bundle(ENTRY)
    version = hashlib.sha256(code.encode()).hexdigest()[:16]
    # Each output carries the script; the bundle's top-level consts would clash if it ran twice in one page.
    code = code.replace("</script", "<\\/script")
    v = json.dumps(version)
    publish = f'window.GFLNotebook = {{ version: {v}, paint: __gfl_modules["notebook.js"].paint }};'
    return (f"<script>\nif (!(window.GFLNotebook && window.GFLNotebook.version === {v})) {{\n"
            f"(function () {{\n{code}\n{publish}\n}})();\n}}\n</script>")


def block(sections: list[dict[str, Any]], include_plotly: bool = True) -> str:
    """The HTML block for ``sections`` (``[{title, units}]``, see :func:`server.notebook.frames.sections`)."""
    uid = f"gfl-nb-{uuid.uuid4().hex[:12]}"
    data = {"sections": [{"title": s["title"], "units": recorded_rows(s["units"])} for s in sections],
            "fields": _fields(), "link_version": LINK_VERSION}
    return "\n".join([
        f'<div class="gfl-nb" id="{uid}">',
        f"<style>{_style()}</style>",
        '<p class="gfl-nb-wait">Gradient Flow Lab: painting the views… (nothing shows if this notebook is not '
        "trusted: scripts in its outputs do not run; trust it, or run the cell again)</p>",
        f'<script type="application/json" class="gfl-nb-data">{script_json(data)}</script>',
        "</div>",
        _plotly_script() if include_plotly else "",
        _views_script(),
        # The root is found from the script's own place first: a notebook may render outputs in a shadow root
        # or detached, where document.getElementById would not see it yet.
        "<script>(function () { var s = document.currentScript, p = s && s.parentNode;"
        f' var root = (p && p.querySelector && p.querySelector("#{uid}")) || document.getElementById("{uid}");'
        " if (root) window.GFLNotebook.paint(root); })();</script>",
    ])  # fmt: skip
