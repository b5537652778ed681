"""What every page of the static copy shares: its recordings as classic scripts, and a page the server rendered
turned into the copy's page (its link read from the boot data, its frames from recordings, its modules from a
bundle, its server addresses as the copy's files).  The lab's pages (:mod:`server.export.site`) and the cliff's
(:mod:`server.export.cliff`) are both made by :func:`static_page`.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Sequence
from typing import Any

from server.wire import Unit, recorded_rows, script_json

_BOOT = re.compile(r'(<script type="application/json" id="gfl-boot">)(.*?)(</script>)', re.S)


def recording_script(name: str, units: Sequence[Unit]) -> str:
    """A classic script that files ``units`` under ``name`` in ``window.GFL_RECORDINGS``."""
    body = json.dumps(recorded_rows(units), separators=(",", ":"), ensure_ascii=False)
    return f"(window.GFL_RECORDINGS ||= {{}})[{json.dumps(name)}] = {body};\n"


def localise(page: str, links: dict[str, str]) -> str:
    """A rendered page's server addresses as the static copy's relative files."""
    for link, file in sorted(links.items(), key=lambda kv: -len(kv[0])):
        page = page.replace(f'"{html.escape(link)}"', f'"{file}"').replace(f'"{link}"', f'"{file}"')
    page = page.replace('href="/static/', 'href="static/').replace('src="/vendor/', 'src="vendor/')
    page = page.replace('href="/lessons"', 'href="index.html"').replace('href="/"', 'href="lab.html"')
    return page.replace('href="/api/script"', 'href="#"')


def static_page(page: str, module: str, bundled: str, recordings: list[dict[str, Any]], search: str,
                live_url: str | None, links: dict[str, str], base_url: str | None = None,
                slider: dict | None = None) -> str:  # fmt: skip
    """``page``, rendered by the server for a link, as the copy serves it.

    No server reads the copy's link: the page reads ``search`` as it reads its own query on a live server.  It takes
    its frames from ``recordings`` ([{kind, config, src}], the first, its own setting's, loading with the page, in
    parallel with Plotly; the others when a try or Train asks) and its ES module ``static/js/<module>`` from the
    bundle ``static/<bundled>``.  ``base_url``: where the site will be served, which Copy link writes links under
    (without it, they are relative to the site).  ``slider``: ``{field, min, max, step}``, the one control the copy
    lets move, over the values it recorded.
    """

    def boot(m: re.Match) -> str:
        data = json.loads(m.group(2))
        data.update(config=None, search=search)
        return m.group(1) + script_json(data) + m.group(3)

    page = _BOOT.sub(boot, page, count=1)
    tag = f'<script type="module" src="/static/js/{module}"></script>'
    assert tag in page, f"the page no longer loads static/js/{module}"
    copy = {"recordings": recordings, "live_url": live_url, "base_url": base_url, "slider": slider}
    first = f'<script src="{html.escape(recordings[0]["src"])}" defer></script>\n  ' if recordings else ""
    page = page.replace(tag, f"<script>window.GFL_STATIC = {script_json(copy)};</script>\n  {first}"
                             f'<script src="static/{bundled}" defer></script>')  # fmt: skip
    return localise(page, links)
