"""The lab's views in a Jupyter notebook (JupyterLab, VS Code, Colab) or any HTML file, offline.

    from engine import trace_module
    from server.notebook import show

    trace = trace_module(lstm, x, lambda out: out.pow(2).mean())
    show(trace)              # the last expression of a cell: ‖∂L/∂h_t‖, h_t, ∂L/∂h_t, gates, layer × time map

A trace taken with the lag map (``trace_module(..., lag_rows=64)``, ``trace_config(cfg, lag_rows=64)``) shows its
map and lag curve too, drawn by the page's own lag views.

``show(Sweep.from_dict({"key": "seq_len", "values": [10, 20, 40], "over": {"cell": ["rnn", "lstm"]}}))`` computes a
sweep's points here and draws its curves as the sweep page does.

``show`` takes a :func:`engine.trace_module` result, a :func:`engine.trace_submodules` result
(every recurrent module of a model, each under its name), an app :class:`engine.Trace`, or a
``{label: trace}`` dict of any of them (shown one after the other, e.g. two settings to compare).  The views
are the lab page's own modules; Plotly comes from the installed ``plotly`` package.  :func:`to_html` gives
the same block as a string, with Plotly inside, to write to a file.
"""

from __future__ import annotations

import sys

from server.notebook.frames import module_units, sections
from server.notebook.html import block

__all__ = ["TraceDisplay", "module_units", "show", "to_html"]

# Plotly (4.8 MB) goes into one output of a kernel session: the cell that first showed views (its id, as
# JupyterLab, Notebook 7 and VS Code send it).  Later outputs reuse it; running that same cell again puts it in
# the new output, since the old one is replaced.  Where the front end sends no cell id, re-runs cannot be told
# apart, so every output carries its own copy.
_plotly_cell: str | None = None


def _cell_id() -> str | None:
    """The id of the notebook cell being run, or None outside a kernel or from a front end that sends none."""
    try:
        from IPython import get_ipython
    except ImportError:
        return None
    shell = get_ipython()
    kernel = getattr(shell, "kernel", None)
    if kernel is None:
        return None
    try:
        parent = kernel.get_parent()
    except TypeError:  # ipykernel < 6 asks which channel
        parent = kernel.get_parent("shell")
    cell = (parent or {}).get("metadata", {}).get("cellId")
    return cell if isinstance(cell, str) and cell else None


def to_html(obj, *, sample: int = 0, tbptt: int = 0, include_plotly: bool = True,
            handoff: tuple[str, str] | None = None) -> str:
    """A self-contained HTML block painting ``obj``'s views (see the module docstring for what ``obj`` may be).

    ``sample``: the batch sample the per-unit heatmaps show (norms are over the whole batch).  ``tbptt``: the
    window length a ModuleTrace was traced with, to mark the windows.  ``include_plotly=False`` leaves Plotly
    out, for a page that already has it.
    """
    return block(sections(obj, sample, tbptt, handoff), include_plotly=include_plotly)


class TraceDisplay:
    """What :func:`show` returns: Jupyter renders it through ``_repr_html_``."""

    def __init__(self, obj, sample: int = 0, tbptt: int = 0, include_plotly: bool | None = None,
                 handoff: tuple[str, str] | None = None):
        self.sections = sections(obj, sample, tbptt, handoff)  # validated now, so a bad argument fails at the call
        self.include_plotly = include_plotly

    def _repr_html_(self) -> str:
        global _plotly_cell
        include = self.include_plotly
        if include is None:
            cell = _cell_id()
            # Colab shows every output in its own frame, so each needs its own copy.
            include = cell is None or _plotly_cell in (None, cell) or "google.colab" in sys.modules
            if include and _plotly_cell is None:
                _plotly_cell = cell
        return block(self.sections, include_plotly=include)

    def __repr__(self) -> str:
        titles = ", ".join(s["title"] for s in self.sections)
        return f"<Gradient Flow Lab views: {titles} (shown as HTML in a notebook; to_html() for a file)>"


def show(obj, *, sample: int = 0, tbptt: int = 0, include_plotly: bool | None = None,
         handoff: tuple[str, str] | None = None) -> TraceDisplay:
    """The lab's views of ``obj``, shown inline when it is a cell's last expression (or passed to ``display``).

    ``include_plotly``: None puts Plotly in the output of the session's first cell that shows views (in every
    output in Colab, or where the front end does not say which cell runs); True or False forces it.
    ``handoff=("encoder.gru", "decoder.gru")``: an encoder and the decoder it hands its state to (a decoder stepped
    token by token is one trace) on one time axis, the handoff and its gradient marked (server/notebook/handoff.py).
    Raises ``TypeError``/``ValueError`` for what cannot be shown, naming the argument.
    """
    return TraceDisplay(obj, sample, tbptt, include_plotly, handoff)
