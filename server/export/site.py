"""The lessons as a static site: every page, recording and asset in one folder that opens from ``file://``.

``DIR/index.html`` lists the lessons; ``DIR/lesson-<id>.html`` is each lesson's page, as the server renders it for
the lesson's link; ``DIR/lab.html`` the lab at its defaults.  A page takes its frames from recordings of exactly
what the socket would send (:func:`server.wire.trace_units`, :mod:`server.wire.training_frames`'s frames): the
lesson's setting, each "now try" variant and, for a lesson whose question is about training, the training of each;
for a lesson with a main slider, a thin grid of its values (:mod:`server.export.grid`), which the copy's slider
moves over.
Every trace is recorded with its lag map (what the socket sends for ``{"type": "run", "lag": true}``), so the lag
map's view opens on any page of the copy, and a link that says ``view=lag`` plays offline with its map.  Each
recording is one classic script under ``DIR/data/`` named by its request key, binary frames in base64, because a
page opened from ``file://`` may load scripts but not ``fetch()`` files.  A page loads its own setting's recording
with itself; the others load when a try or Train asks for them.  The cliff lesson's page (``/cliff``) is there too,
with the ``/api/cliff`` answers of its settings (:mod:`server.export.cliff`), and each sweep lesson's page
(``/sweep``) with its sweep's points (:mod:`server.export.sweep`).  The pages' ES modules are bundled
into ``DIR/static/gfl.js``, ``gfl-cliff.js`` and ``gfl-sweep.js`` (:mod:`server.export.bundle`), Plotly copied
from its package.
"""

from __future__ import annotations

import json
import shutil
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import anyio
import torch
from jinja2 import Environment, FileSystemLoader, select_autoescape

from engine import Config, trace_config
from engine.lab import Trainer, trace_trained
from engine.lessons import CLIFF_PAGE, LAB_PAGE, LESSONS, SWEEP_PAGE, Lesson, lesson_config, try_config
from server.assets import page_urls
from server.export import cliff, sweep
from server.export.bundle import bundle
from server.export.grid import grid_configs, slider_grid
from server.export.page import localise, recording_script, static_page
from server.routes.api import config_table
from server.routes.lessons import PICKER, index_context, lesson_documents
from server.routes.pages import page_context
from server.settings import Settings
from server.sharing import LAG, lag_rows_for, request_key, stream_training
from server.wire import Unit, dumps, trace_units

# The lessons of the main page, and those of the cliff page (server/export/cliff.py).
EXPORTED = tuple(lesson for lesson in LESSONS if lesson.view == LAB_PAGE.name)
CLIFF = tuple(lesson for lesson in LESSONS if lesson.view == CLIFF_PAGE.name)
SWEEPS = tuple(lesson for lesson in LESSONS if lesson.view == SWEEP_PAGE.name)  # server/export/sweep.py

ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Recorded:
    kind: str  # 'run' | 'train'
    config: Config
    src: str  # the data script, relative to DIR
    lag: bool  # whether the recording holds the lag map


def run_units(cfg: Config, lag: bool = False) -> list[Unit]:
    """What the socket sends for a ``run`` of ``cfg`` (``lag``: asked with the lag map), without run numbers."""
    return trace_units(trace_config(cfg, lag_rows=lag_rows_for(cfg) if lag else 0), time.perf_counter())


def train_units(cfg: Config, lag: bool = False) -> list[Unit]:
    """What the socket sends for a ``train`` of ``cfg`` (``lag``: asked with the lag map): the server's own training
    stream (server.sharing.stream_training), computed here in turn, then the trained model's trace."""
    units: list[Unit] = []

    async def compute(fn, *args, cost_s: float):
        return fn(*args)

    async def emit(more) -> None:
        units.extend(more)

    # In a thread of its own: anyio.run refuses a thread that already runs an event loop (a caller in async code, or
    # Playwright's sync API in the same process).
    with ThreadPoolExecutor(1) as thread:
        thread.submit(anyio.run, stream_training, compute, emit, cfg, lag, lambda rows: Trainer(cfg, lag_rows=rows),
                      lambda model, rows: trace_trained(model, cfg, lag_rows=rows)).result()
    return units


def lesson_settings(lesson: Lesson) -> list[tuple[str, Config, bool]]:
    """(kind, config, lag) of every request a lesson's page makes: its setting and tries, and their trainings.

    Every trace is recorded with its lag map; a training with its maps when the lesson opens on the lag map view
    (its page then trains with the map, as the live page does while the view is open)."""
    configs = [lesson_config(lesson), *(try_config(lesson, i) for i in range(len(lesson.tries)))]
    wanted = [("run", c, True) for c in configs]
    if lesson.trains:
        wanted += [("train", c, lesson.link_view == "lag") for c in configs]
    return wanted


class Recorder:
    """Records each distinct request once, into ``DIR/data/``."""

    def __init__(self, out: Path, log=print):
        self.out = out
        self.log = log
        self.done: dict[str, Recorded] = {}
        (out / "data").mkdir(parents=True, exist_ok=True)

    def record(self, kind: str, cfg: Config, lag: bool) -> Recorded:
        key = request_key(kind + LAG if lag else kind, cfg)
        if key not in self.done:
            started = time.perf_counter()
            units = run_units(cfg, lag) if kind == "run" else train_units(cfg, lag)
            src = f"data/{kind}-{key[:16]}.js"
            (self.out / src).write_text(recording_script(src, units), encoding="utf-8")
            self.done[key] = Recorded(kind, cfg, src, lag)
            self.log(f"  {kind:5s} {cfg.to_query()}  {time.perf_counter() - started:.1f}s")
        return self.done[key]


def _templates() -> Environment:
    env = Environment(loader=FileSystemLoader(str(ROOT / "templates")), autoescape=select_autoescape(["html"]))
    env.globals.update(page_urls())  # plain URLs: the copy's files sit beside its pages
    env.globals["static_copy"] = True  # the pages leave out what needs a server (the link to the API's page)
    return env


def lesson_page(env: Environment, doc: dict | None, config: Config, recordings: list[Recorded], links: dict[str, str],
                search: str, live_url: str | None, base_url: str | None = None,
                slider: dict | None = None) -> str:  # fmt: skip
    """One page of the copy: the server's own page for the link, its frames from ``recordings``; ``slider``: the
    main control the copy lets move over its recorded grid (server/export/grid.py), if any."""
    context = page_context(doc, config_table(), config.to_dict(), [])
    page = env.get_template("index.html").render(request=SimpleNamespace(query_params={}), **context)
    recorded = [{"kind": r.kind, "config": json.loads(dumps(r.config.to_dict())), "src": r.src, "lag": r.lag}
                for r in recordings]  # fmt: skip
    return static_page(page, "main.js", "gfl.js", recorded, search, live_url, links, base_url, slider)


def export_site(out: Path, live_url: str | None = None, log=print, base_url: str | None = None) -> dict[str, Any]:
    """Write the static site into ``out``; returns what was written (pages, recordings, bytes).  ``base_url``: the
    address the site will be served at, under which its Copy link buttons write links (else relative to the site).

    Computes with the live server's torch threads per computation (``GFL_TORCH_THREADS``, default 1): a
    training's float32 sums in another order would end a few ulps away from what the live lab shows.
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(Settings.from_env().torch_threads)
    try:
        return _export(out, live_url, log, base_url)
    finally:
        torch.set_num_threads(threads)


def site_links(docs: dict[str, dict]) -> dict[str, str]:
    """The server's addresses the copy holds as files: each lesson's link (as its documents and the picker write it)
    is its page, and the lab's links to the cliff and to the sweeps open the copy's first lesson of each (no other
    setting of those pages is recorded)."""
    links = {doc["link"]: f"lesson-{doc['id']}.html" for doc in docs.values()}
    links.update({p["link"]: f"lesson-{p['id']}.html" for p in PICKER})
    if CLIFF:
        links["/cliff"] = links[docs[CLIFF[0].id]["link"]]
    if SWEEPS:  # the lab's link to the sweep page: in the copy, its first sweep lesson
        links["/sweep"] = links[docs[SWEEPS[0].id]["link"]]
    return links


def _export(out: Path, live_url: str | None, log, base_url: str | None = None) -> dict[str, Any]:
    out.mkdir(parents=True, exist_ok=True)
    env = _templates()
    docs = lesson_documents()
    links = site_links(docs)
    recorder = Recorder(out, log)
    pages = []
    for lesson in EXPORTED:
        log(f"lesson {lesson.id}")
        recs = [recorder.record(kind, cfg, lag) for kind, cfg, lag in lesson_settings(lesson)]
        grid = slider_grid(lesson)
        if grid is not None:
            recs += [recorder.record("run", cfg, True) for cfg in grid_configs(lesson, grid)]
        doc = docs[lesson.id]
        search = doc["link"][1:]
        file = links[doc["link"]]
        slider = grid.to_dict() if grid is not None else None
        page = lesson_page(env, doc, lesson_config(lesson), _distinct(recs), links, search, live_url, base_url, slider)
        (out / file).write_text(page, "utf-8")
        pages.append(file)
    for lesson in CLIFF:
        log(f"lesson {lesson.id}")
        recs = [(cfg, cliff.record(out, cfg)) for cfg in cliff.cliff_settings(lesson)]
        file = links[docs[lesson.id]["link"]]
        (out / file).write_text(cliff.cliff_page(env, docs[lesson.id], recs, live_url, links, base_url), "utf-8")
        pages.append(file)
    for lesson in SWEEPS:
        log(f"lesson {lesson.id}")
        spec = lesson_config(lesson)
        file = links[docs[lesson.id]["link"]]
        page = sweep.sweep_page(env, docs[lesson.id], spec, sweep.record(out, spec), live_url, links, base_url)
        (out / file).write_text(page, "utf-8")
        pages.append(file)
    default = Config()
    recs = [recorder.record("run", default, True)]
    (out / "lab.html").write_text(lesson_page(env, None, default, recs, links, "", live_url, base_url), "utf-8")
    pages.append("lab.html")
    index = env.get_template("lessons.html").render(request=SimpleNamespace(query_params={}),
                                                    **index_context(list(docs.values())))  # fmt: skip
    (out / "index.html").write_text(localise(index, links), "utf-8")
    pages.append("index.html")
    _assets(out)
    size = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    recordings = len(recorder.done) + sum(len(list((out / "data").glob(f"{p}-*.js"))) for p in ("cliff", "sweep"))
    return {"pages": pages, "recordings": recordings, "bytes": size}


def _distinct(recordings: list[Recorded]) -> list[Recorded]:
    """Each recording once, in order (a grid value may be the lesson's own setting or a try's)."""
    return list({r.src: r for r in recordings}.values())


def _assets(out: Path) -> None:
    static = out / "static"
    if (static / "css").exists():
        shutil.rmtree(static / "css")
    shutil.copytree(ROOT / "static" / "css", static / "css")
    (static / "gfl.js").write_text(bundle(ROOT / "static" / "js" / "main.js"), "utf-8")
    (static / "gfl-cliff.js").write_text(bundle(ROOT / "static" / "js" / "cliff.js"), "utf-8")
    (static / "gfl-sweep.js").write_text(bundle(ROOT / "static" / "js" / "sweep.js"), "utf-8")
    plotly = resources.files("plotly") / "package_data" / "plotly.min.js"
    (out / "vendor").mkdir(exist_ok=True)
    (out / "vendor" / "plotly.min.js").write_bytes(plotly.read_bytes())
