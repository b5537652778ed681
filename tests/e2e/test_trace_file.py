"""A saved trace file (engine.save_traces) opened in the page: by the file control, by a drop, and by --open.

The page draws each trace with its own views; the charts hold the numbers the engine traced."""

from __future__ import annotations

import base64
import re

import numpy as np
import pytest
import torch
from torch import nn

from engine import mark_state, save_traces, trace_submodules
from server.uploads.trace_file import file_token
from tests.e2e.harness import new_context, running_server

RTOL = 1e-6
PAINTED = "key => document.getElementById('saved-trace').dataset.painted === key"


@pytest.fixture(scope="module")
def traces() -> dict:
    """An LSTMCell loop with its lag map, a cell written from nn.Linear called per step, a marked tensor loop."""
    torch.manual_seed(0)
    x = torch.randn(6, 2, 3)
    cell = nn.LSTMCell(3, 4)

    def cell_loop():
        state, total = None, 0
        for t in range(6):
            state = cell(x[t], state)
            total = total + state[0].square().sum()
        return total

    out = {"cell": trace_submodules(cell, cell_loop, lag_rows=3)[""]}
    i2h = nn.Linear(3 + 4, 4)

    class Step(nn.Module):
        def __init__(self):
            super().__init__()
            self.i2h = i2h

        def forward(self, x, h):
            return torch.tanh(self.i2h(torch.cat([x, h], 1)))

    step = Step()

    def char_rnn():
        h = torch.zeros(2, 4)
        for t in range(6):
            h = step(x[t], h)
        return h.sum()

    out["char_rnn"] = trace_submodules(step, char_rnn)[""]
    w = nn.Parameter(torch.randn(4, 4) * 0.5)

    def marked():
        h = torch.ones(2, 4)
        for _ in range(5):
            h = mark_state(torch.tanh(h @ w), "H")
        return h.sum()

    holder = nn.Module()
    holder.w = w
    out["H"] = trace_submodules(holder, marked)["H"]
    return out


@pytest.fixture(scope="module")
def saved(traces, tmp_path_factory):
    path = tmp_path_factory.mktemp("saved") / "three kinds.gfltrace"
    save_traces(traces, path)
    return path


def _norm_line(page, sid: str) -> np.ndarray:
    lines = page.evaluate("id => document.getElementById(id).data.filter(t => t.mode === 'lines' && t.line &&"
                          " t.line.dash === 'solid').map(t => t.y)", f"{sid}-grad-norm")  # fmt: skip
    return np.array(lines[0], dtype=float)


def _shown(page, key: str) -> dict:
    page.wait_for_function(PAINTED, arg=key)
    return page.evaluate("() => { const s = document.getElementById('saved-trace');"
                         " return {id: s.querySelector('.gfl-nb-section').id, key: s.gfl.key,"
                         " views: [...s.querySelectorAll('.gfl-nb-chart')].filter(c => c.data)"
                         ".map(c => c.dataset.view),"
                         " options: [...document.getElementById('saved-trace-pick').options].map(o => o.text)}; }")


def test_a_file_chosen_shows_each_trace_with_the_pages_views(page, server_url, saved, traces):
    page.goto(server_url)
    page.set_input_files("#trace-file-input", str(saved))
    shown = _shown(page, "cell")
    assert shown["options"] == ["cell", "char_rnn", "H"]
    assert {"grad-norm", "hidden", "grad-units", "gates", "lag-map", "lag-curve"} <= set(shown["views"])
    np.testing.assert_allclose(_norm_line(page, shown["id"]), traces["cell"].grad_h_norm[0, 0], rtol=RTOL)
    page.select_option("#saved-trace-pick", label="H")
    shown = _shown(page, "H")
    assert "gates" not in shown["views"] and {"grad-norm", "hidden", "grad-units"} <= set(shown["views"])
    np.testing.assert_allclose(_norm_line(page, shown["id"]), traces["H"].grad_h_norm[0, 0], rtol=RTOL)
    assert "3 traces" in page.text_content("#trace-file-status")
    # The settings' own trace is still the page's: the saved file took nothing from it.
    # (Views the file's panel pushed out of sight are painted when they scroll back in: those in sight hold it.)
    page.wait_for_function("() => !!(gfl.lastPaint && (gfl.lastPaint.inSight || gfl.lastPaint.complete))")


def test_a_file_dropped_on_the_page_opens_and_a_wrong_one_is_named(page, server_url, saved, traces):
    page.goto(server_url)
    drop = """([name, b64]) => { const bytes = Uint8Array.from(atob(b64), c => c.charCodeAt(0));
      const dt = new DataTransfer(); dt.items.add(new File([bytes], name));
      document.querySelector('main').dispatchEvent(new DragEvent('drop', {dataTransfer: dt, bubbles: true,
        cancelable: true})); }"""
    page.evaluate(drop, ["notes.txt", base64.b64encode(b"not a trace at all").decode()])
    page.wait_for_function("() => document.getElementById('trace-file-status').classList.contains('upload-error')")
    status = page.text_content("#trace-file-status")
    assert "notes.txt" in status and "does not start with GFLTRACE" in status
    assert page.is_hidden("#saved-trace")
    page.evaluate(drop, [saved.name, base64.b64encode(saved.read_bytes()).decode()])
    shown = _shown(page, "cell")
    np.testing.assert_allclose(_norm_line(page, shown["id"]), traces["cell"].grad_h_norm[0, 0], rtol=RTOL)


def test_the_file_a_server_was_started_with_opens_at_the_link_it_printed(chromium, saved, traces, tmp_path):
    log = tmp_path / "server.log"
    with running_server(args=["--open", str(saved)], log_path=str(log)) as base:
        printed = re.search(r"opens at (http://\S+)", log.read_text()).group(1)
        assert printed.endswith(f"/#trace-file={file_token(saved.read_bytes())}")
        context = new_context(chromium)
        page = context.new_page()
        try:
            page.goto(base + printed[printed.index("/#"):])
            shown = _shown(page, "cell")
            assert page.text_content("#saved-trace-name") == saved.name
            page.select_option("#saved-trace-pick", label="char_rnn")
            shown = _shown(page, "char_rnn")
            np.testing.assert_allclose(_norm_line(page, shown["id"]), traces["char_rnn"].grad_h_norm[0, 0], rtol=RTOL)
        finally:
            context.close()
