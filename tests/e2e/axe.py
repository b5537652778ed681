"""axe-core in the page: every rule of the installed axe-core (npm, tests/e2e/package.json) on what is shown now.

tests/run.sh installs it into tests/e2e/node_modules; nothing is fetched at test time.
"""

from __future__ import annotations

from pathlib import Path

import pytest

AXE = Path(__file__).with_name("node_modules") / "axe-core" / "axe.min.js"


def violations(page, context: str = "document") -> list[str]:
    """axe-core's violations on the page as one line each: rule, impact, and the first offending elements."""
    if not AXE.is_file():
        pytest.fail(f"axe-core is not installed at {AXE}: run `npm ci --prefix tests/e2e` (tests/run.sh does)")
    if not page.evaluate("() => !!window.axe"):
        # Evaluated over the devtools protocol, not added as a <script>: the page's CSP allows no inline script.
        page.evaluate(AXE.read_text(encoding="utf-8") + "\n;undefined")
    found = page.evaluate(
        """async (context) => {
          const r = await axe.run(context === 'document' ? document : document.querySelector(context),
                                  { resultTypes: ['violations'] });
          return r.violations.map(v => `${v.id} (${v.impact}): ${v.help} — ` +
            v.nodes.slice(0, 4).map(n => n.target.join(' ')).join(', ') + (v.nodes.length > 4 ? ', …' : ''));
        }""",
        context,
    )
    return found
