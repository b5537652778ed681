"""Read what the notebook display embeds, independently of the code that wrote it, and run the notebook.

``decode`` reads a run's frames as docs/protocol.md defines them (a start, forward messages with (n, K, L, D, H)
float32 payloads, backward messages with per-step tables and (n, L, D, H) payloads, a done), so a test checks
the wire contract rather than the encoder's own reading of it.
"""

from __future__ import annotations

import base64
import json
import sys
from html.parser import HTMLParser
from pathlib import Path

import numpy as np

from server.wire import Unit

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOK = ROOT / "docs" / "notebook.ipynb"

_NON_FINITE = {"nan": np.nan, "inf": np.inf, "-inf": -np.inf}


def _strict(text: str):
    """JSON as a browser parses it: NaN/Infinity tokens are an error."""

    def bad(token):
        raise ValueError(f"non-standard JSON token {token}")

    return json.loads(text, parse_constant=bad)


def _num(v):
    return _NON_FINITE[v] if isinstance(v, str) else (np.nan if v is None else v)


def decode(rows) -> dict:
    """A run's frames (Units, or [text, base64 | None] rows) as arrays: start, forward {name: (L, D, T, H)},
    grad_h (L, D, T, H), series {name: (L, D, T) or None}, done."""
    rows = [(u.text, u.data) if isinstance(u, Unit) else (u[0], None if u[1] is None else base64.b64decode(u[1]))
            for u in rows]  # fmt: skip
    start = _strict(rows[0][0])
    assert start["type"] == "start"
    s = start["shapes"]
    L, D, T, H = s["L"], s["D"], s["T"], s["H"]
    names = start["layout"]["forward"]
    forward = {n: np.full((L, D, T, H), -7.0, dtype=np.float32) for n in names}
    grad_h = np.full((L, D, T, H), -7.0, dtype=np.float32)
    series: dict = {}
    done = None
    seen_f, seen_b = set(), set()
    for text, data in rows[1:]:
        frame = _strict(text)
        if frame["type"] == "forward":
            n = frame["steps"]
            block = np.frombuffer(data, dtype="<f4").reshape(n, len(names), L, D, H)
            for s_ in range(n):
                t = frame["t"] + s_
                seen_f.add(t)
                for k, name in enumerate(names):
                    forward[name][:, :, t] = block[s_, k]
        elif frame["type"] == "backward":
            n = frame["steps"]
            block = np.frombuffer(data, dtype="<f4").reshape(n, L, D, H)
            for s_ in range(n):
                t = frame["t"] - s_
                seen_b.add(t)
                grad_h[:, :, t] = block[s_]
                for key in ("grad_h_norm", "grad_c_norm", "grad_out_norm", "bound", "gate_product"):
                    table = frame.get(key)
                    if table is None:
                        series.setdefault(key, None)
                        continue
                    arr = series.get(key)
                    if arr is None:
                        arr = series[key] = np.full((L, D, T), -7.0)
                    arr[:, :, t] = [[_num(v) for v in row] for row in table[s_]]
        elif frame["type"] == "done":
            done = frame
    assert seen_f == set(range(T)) and seen_b == set(range(T)), "every step arrives once each way"
    return {"start": start, "forward": forward, "grad_h": grad_h, "series": series, "done": done}


class _Blocks(HTMLParser):
    """Each display root's id and its data script's text, whatever order a renderer writes the attributes in."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.found: list[tuple[str, str]] = []
        self.root: str | None = None
        self.reading = False

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "div" and a.get("class") == "gfl-nb":
            self.root = a["id"]
        elif tag == "script" and a.get("class") == "gfl-nb-data":
            self.reading = True
            self.found.append((self.root, ""))

    def handle_data(self, data):
        if self.reading:
            root, text = self.found[-1]
            self.found[-1] = (root, text + data)

    def handle_endtag(self, tag):
        if tag == "script":
            self.reading = False


def displays(html: str) -> list[tuple[str, list[dict]]]:
    """Every display block in ``html``: (root id, [{title, units}])."""
    parser = _Blocks()
    parser.feed(html)
    return [(uid, _strict(text)["sections"]) for uid, text in parser.found]


def execute_notebook(path: Path, save_to: Path):
    """Run ``path`` in a real ipykernel (kernel python3, cwd the repo root); return the executed notebook.

    After the notebook's own cells, one more cell (not kept in the result) saves the notebook's model, data and
    the kernel's interpreter to ``save_to`` for the test to recompute the trace independently.
    """
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        assert cell.cell_type != "code" or not cell.outputs, "docs/notebook.ipynb is stored without outputs"
    client = NotebookClient(nb, kernel_name="python3", timeout=600, resources={"metadata": {"path": str(ROOT)}})
    with client.setup_kernel():
        for i, cell in enumerate(nb.cells):
            client.execute_cell(cell, i)
        probe = nbformat.v4.new_code_cell(
            "import sys as _sys\n"
            f"torch.save({{'lstm': lstm, 'head': head, 'x': x, 'y': y, 'variants': variants,"
            f" 'executable': _sys.executable}}, {str(save_to)!r})"
        )
        nb.cells.append(probe)
        client.execute_cell(probe, len(nb.cells) - 1)
        nb.cells.pop()
    return nb


def same_interpreter(executable: str) -> bool:
    """The kernel ran this interpreter (jupyter_client starts a 'python' kernel spec with sys.executable)."""
    return executable == sys.executable
