"""Any setting as a standalone PyTorch script (``GET /api/script``): text for the web, built from a template.

The script (``templates/script.py.j2`` and the cell and task pieces under ``templates/script/``) imports
torch and numpy only, re-derives the lab's weights and batch from the seed, runs the recurrence as an
explicit loop over time steps and prints, last, one JSON line ``{"loss", "grad_h_norm", ..., "lag_row"}`` whose
numbers equal ``/api/trace``'s: ``lag_row`` is the lag map's row of the last output step, one more backward pass
from that output alone through the script's own states (``/api/trace?lag=1``'s row for that step).  Only the
chosen cell's equations and the chosen task's generator are written into it, so a student reads nothing that does
not apply.  The tasks' fixed data (vocabularies, the
dictionary, the waves) is rendered from the engine's own constants, not retyped.

A setting the template cannot write out is refused by name (:class:`ConfigError`), never rendered as some
other setting's script: a key the templates never read that is off its default, a choice with no piece of
its own (``script/task_<task>.py.j2``), or a branch the template marks ``unsupported``.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from urllib.parse import urlencode

import jinja2
import jinja2.meta

from engine import Config, ConfigError
from engine.config import FIELD_BY_NAME, FIELDS, PAGE_KEYS
from engine.data import get_task, tasks, word_tasks
from engine.models import GATES, NUM_BLOCKS

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
MAIN = "script.py.j2"

_env = jinja2.Environment(
    loader=jinja2.FileSystemLoader(str(TEMPLATES)),
    autoescape=False,  # Python source, not HTML
    trim_blocks=True,
    lstrip_blocks=True,
    keep_trailing_newline=True,
    undefined=jinja2.StrictUndefined,
)


def _literal(value: object) -> str:
    """A value as a Python literal, as ruff format writes it: "lstm", 0.5, True, ("good", "bad"), [3, 6]."""
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, (tuple, list)):
        items = ", ".join(_literal(v) for v in value)
        return f"[{items}]" if isinstance(value, list) else f"({items}{',' if len(value) == 1 else ''})"
    return repr(value)


_env.filters["py"] = _literal

_CELL_NOTES = {"rnn": "vanilla RNN", "lstm": "long short-term memory", "gru": "gated recurrent unit"}
_ARCH_NOTES = {
    "one-to-one": "one step: input and loss at t = 0",
    "one-to-many": "input at t = 0 only, loss at every step",
    "many-to-one": "input at every step, loss at the last step only",
    "many-to-many": "input and loss at every step",
    "encoder-decoder": "an encoder reads the source, a decoder writes the target; loss at every decoder step",
}
_MODULES = {"rnn": "RNN", "lstm": "LSTM", "gru": "GRU"}

# The engine's fixed task data (the constants the task modules export: COPY_BLANK as copy_blank, ...), written into
# the task pieces as Python literals.
_TASK_DATA = {name.lower(): getattr(m, name) for m in (tasks, word_tasks) for name in m.__all__ if name.isupper()}


def _unsupported(key: str, value: object) -> str:
    shown = FIELD_BY_NAME[key].format(value)
    raise ConfigError(key, f"the script cannot write out {key}={shown} yet; the lab's page and /api/trace can")


def _piece(kind: str, value: str) -> str:
    """The template of one choice (``script/task_copy.py.j2``); a choice with none is refused by name."""
    name = f"script/{kind}_{value}.py.j2"
    if name not in _env.list_templates():
        _unsupported(kind, value)
    return name


_env.globals["unsupported"] = _unsupported
_env.globals["piece"] = _piece


def _read_keys() -> frozenset[str]:
    """The config keys the templates read: a key outside this set is not in the script at all."""
    names = set()
    for name in _env.list_templates(filter_func=lambda n: n == MAIN or n.startswith("script/")):
        source = _env.loader.get_source(_env, name)[0]
        names |= jinja2.meta.find_undeclared_variables(_env.parse(source))
    return frozenset(names & set(FIELD_BY_NAME))


# Keys that only change what Train does (optimizer, lr, steps): the script is of the untrained model.
_TRAINING_ONLY = frozenset(f.name for f in FIELDS if tuple(f.affects) == ("training",))
_READ = _read_keys()


def strict_config(params: dict[str, str]) -> Config:
    """The config of a teaching link's query, each key read as the page reads it, but strictly.

    The page opens a mistyped link with defaults and a notice; a script must be of exactly the setting
    asked for, so an unknown key or a bad value raises :class:`ConfigError` naming it, and so does a
    setting over the work cap (with the values as given: nothing is shrunk to fit).  The page's own keys
    (``v``, ``lesson``, ``embed``, ...) are allowed and do not matter.
    """
    values = {}
    for key, text in params.items():
        if key in PAGE_KEYS:
            continue
        f = FIELD_BY_NAME.get(key)
        if f is None:
            known = ", ".join([x.name for x in FIELDS] + sorted(PAGE_KEYS))
            raise ConfigError(key, f"unknown link key {key!r}; known keys: {known}")
        values[key] = f.parse(text)  # raises the value's own message ("seq_len must be an integer from 1 to 2000")
    return Config.from_dict(values)


def filename(config: Config) -> str:
    """A download name that says what the script is: ``gradient_flow_lstm_copy_T120.py``."""
    return f"gradient_flow_{config.cell}_{config.task}_T{config.seq_len}.py"


def render_script(config: Config, base_url: str = "http://127.0.0.1:8000/") -> str:
    """The standalone script for ``config``; ``base_url`` is where the lab is served, for its link.

    Raises :class:`ConfigError` naming the key for a setting the script cannot write out.
    """
    for f in FIELDS:
        value = getattr(config, f.name)
        if f.name not in _READ and f.name not in _TRAINING_ONLY and value != f.default:
            _unsupported(f.name, value)
    _piece("cell", config.cell)  # before the tables below, which know only today's choices
    _piece("task", config.task)
    task = get_task(config.task)
    link = base_url.rstrip("/") + "/?" + urlencode(config.to_query())
    shown = [f"{k}={FIELD_BY_NAME[k].format(v)}" for k, v in config.non_default().items()]
    return _env.get_template(MAIN).render(
        **config.to_dict(),
        **_TASK_DATA,
        summary=textwrap.fill("Setting: " + (", ".join(shown) if shown else "the lab's defaults"), 100),
        link=link,
        filename=filename(config),
        input_size=task.input_size,
        output_size=task.output_size,
        classification=task.classification,
        blocks=NUM_BLOCKS[config.cell],
        gate_order=", ".join(GATES[config.cell]),
        module=_MODULES.get(config.cell, ""),
        cell_note=_CELL_NOTES.get(config.cell, ""),
        arch_note=_ARCH_NOTES.get(config.arch, ""),
        task_note=task.description,
    )
