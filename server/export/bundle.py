"""The page's ES modules as one classic script, for a copy of the site opened from ``file://``.

Chromium refuses ``<script type="module">`` from ``file://`` (a module load is a CORS request and a file
has no origin), and an import map does not change that.  A classic ``<script src>`` does load, so the
static export joins the modules into one: each module becomes a function scope that returns its exports,
called in dependency order, and each ``import`` becomes a read of an earlier module's exports.  The
modules keep their own scopes, so two modules' private helpers of the same name never meet.

Only the import/export forms the page uses are understood; anything else raises, naming the module and
line, rather than producing a bundle that breaks in the browser.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

_IMPORT = re.compile(r'^import\s*\{([^}]*)\}\s*from\s*"([^"]+)";?[^\n]*$', re.M)
_IMPORT_BARE = re.compile(r'^import\s*"([^"]+)";?[^\n]*$', re.M)
_REEXPORT = re.compile(r'^export\s*\{([^}]*)\}\s*from\s*"([^"]+)";?[^\n]*$', re.M)
_EXPORT_DECL = re.compile(r"^export\s+(?:async\s+)?(function\*?|class|const|let|var)\s+([A-Za-z_$][\w$]*)", re.M)
_EXPORT_OTHER = re.compile(r"^\s*(import|export)\b(?!\s*\{[^}]*\}\s*from)", re.M)


def _names(spec: str) -> list[tuple[str, str]]:
    """``"A, B as C"`` -> [("A", "A"), ("B", "C")]: (exported name, local name)."""
    out = []
    for part in spec.split(","):
        part = part.strip()
        if not part:
            continue
        name, _, local = part.partition(" as ")
        out.append((name.strip(), (local or name).strip()))
    return out


def _resolve(base: Path, spec: str) -> Path:
    if not spec.startswith("./"):
        raise ValueError(f"{base.name}: only relative imports ('./x.js') can be bundled, got {spec!r}")
    return (base.parent / spec).resolve()


def _translate(path: Path) -> tuple[str, list[Path], list[str]]:
    """A module's body as plain script, the modules it needs, and the names it exports."""
    src = path.read_text(encoding="utf-8")
    deps: list[Path] = []
    exports: list[str] = []

    def imported(m: re.Match) -> str:
        dep = _resolve(path, m.group(2))
        deps.append(dep)
        pairs = ", ".join(f"{n}: {loc}" if n != loc else n for n, loc in _names(m.group(1)))
        return f"const {{ {pairs} }} = __gfl_modules[{json.dumps(dep.name)}];"

    def reexported(m: re.Match) -> str:
        dep = _resolve(path, m.group(2))
        deps.append(dep)
        exports.extend(f"{loc}: __gfl_modules[{json.dumps(dep.name)}].{n}" for n, loc in _names(m.group(1)))
        return ""

    def bare(m: re.Match) -> str:
        deps.append(_resolve(path, m.group(1)))
        return ""

    src = _REEXPORT.sub(reexported, src)
    src = _IMPORT.sub(imported, src)
    src = _IMPORT_BARE.sub(bare, src)
    exports.extend(m.group(2) for m in _EXPORT_DECL.finditer(src))
    src = _EXPORT_DECL.sub(lambda m: m.group(0)[len("export") :].lstrip(), src)
    for m in _EXPORT_OTHER.finditer(src):
        line = src.count("\n", 0, m.start()) + 1
        raise ValueError(f"{path.name}:{line}: an import/export form the bundler does not handle")
    return src, deps, exports


def bundle(entry: Path) -> str:
    """The classic script that runs ``entry`` and every module it imports, each once, dependencies first."""
    order: list[Path] = []
    parts: dict[Path, tuple[str, list[str]]] = {}
    visiting: set[Path] = set()

    def visit(path: Path) -> None:
        if path in parts:
            return
        if path in visiting:
            raise ValueError(f"import cycle through {path.name}")
        visiting.add(path)
        body, deps, exports = _translate(path)
        for dep in deps:
            visit(dep)
        visiting.discard(path)
        parts[path] = (body, exports)
        order.append(path)

    visit(entry.resolve())
    names = [p.name for p in order]
    if len(set(names)) != len(names):
        raise ValueError("two bundled modules share a file name")
    out = ["// Gradient Flow Lab: the page's modules in one classic script (server/export/bundle.py).",
           '"use strict";', "const __gfl_modules = {};"]  # fmt: skip
    for path in order:
        body, exports = parts[path]
        ret = ", ".join(exports)
        head = f"// ---- {path.name}\n__gfl_modules[{json.dumps(path.name)}] = (() => {{"
        out.append(f"{head}\n{body}\nreturn {{ {ret} }};\n}})();")
    return "\n".join(out) + "\n"
