"""Any setting as a standalone PyTorch script (``GET /api/script``): text for the web, built from a template.

The script (``templates/script.py.j2`` and the cell and task pieces under ``templates/script/``) imports
torch and numpy only, re-derives the lab's weights and batch from the seed, runs the recurrence as an
explicit loop over time steps and prints, last, one JSON line ``{"loss", "grad_h_norm", ...}`` whose
numbers equal ``/api/trace``'s.  Only the chosen cell's equations and the chosen task's generator are
written into it, so a student reads nothing that does not apply.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from urllib.parse import urlencode

import jinja2

from engine import Config, ConfigError, parse_query
from engine.cells import GATES, NUM_BLOCKS
from engine.config import FIELD_BY_NAME, FIELDS, PAGE_KEYS
from engine.tasks import get_task

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"

_env = jinja2.Environment(
    loader=jinja2.FileSystemLoader(str(TEMPLATES)),
    autoescape=False,  # Python source, not HTML
    trim_blocks=True,
    lstrip_blocks=True,
    keep_trailing_newline=True,
    undefined=jinja2.StrictUndefined,
)
# A value as a Python literal: "lstm", 0.5, True (json.dumps writes strings as ruff format would).
_env.filters["py"] = lambda v: json.dumps(v) if isinstance(v, str) else repr(v)

_CELL_NOTES = {"rnn": "vanilla RNN", "lstm": "long short-term memory", "gru": "gated recurrent unit"}
_ARCH_NOTES = {
    "one-to-one": "one step: input and loss at t = 0",
    "one-to-many": "input at t = 0 only, loss at every step",
    "many-to-one": "input at every step, loss at the last step only",
    "many-to-many": "input and loss at every step",
}
_MODULES = {"rnn": "RNN", "lstm": "LSTM", "gru": "GRU"}


def strict_config(params: dict[str, str]) -> Config:
    """The config of a teaching link's query, read by :func:`engine.parse_query`, but strictly.

    The page opens a mistyped link with defaults and a notice; a script must be of exactly the setting
    asked for, so any key that :func:`parse_query` would ignore or replace raises :class:`ConfigError`
    naming it.  The page's own keys (``v``, ``lesson``, ``embed``, ...) are allowed and do not matter.
    """
    config, notices = parse_query(params)
    if not notices:
        return config
    key = notices[0]["field"]
    f = FIELD_BY_NAME.get(key)
    if f is None:
        raise ConfigError(
            key, f"unknown link key {key!r}; known keys: " + ", ".join([x.name for x in FIELDS] + sorted(PAGE_KEYS))
        )
    if key in params:
        f.parse(params[key])  # raises the value's own message ("seq_len must be an integer from 1 to 2000; ...")
    # Each value is fine on its own: the keys together are over the work cap.
    Config.from_dict({k: FIELD_BY_NAME[k].parse(v) for k, v in params.items() if k in FIELD_BY_NAME})
    raise ConfigError(key, notices[0]["message"])  # not reached while parse_query notices only these cases


def filename(config: Config) -> str:
    """A download name that says what the script is: ``gradient_flow_lstm_copy_T120.py``."""
    return f"gradient_flow_{config.cell}_{config.task}_T{config.seq_len}.py"


def render_script(config: Config, base_url: str = "http://127.0.0.1:8000/") -> str:
    """The standalone script for ``config``; ``base_url`` is where the lab is served, for its link."""
    task = get_task(config.task)
    link = base_url.rstrip("/") + "/?" + urlencode(config.to_query())
    shown = [f"{k}={FIELD_BY_NAME[k].format(v)}" for k, v in config.non_default().items()]
    values = config.to_dict()
    return _env.get_template("script.py.j2").render(
        **values,
        summary=textwrap.fill("Setting: " + (", ".join(shown) if shown else "the lab's defaults"), 100),
        link=link,
        filename=filename(config),
        num_directions=config.num_directions,
        input_size=task.input_size,
        output_size=task.output_size,
        classification=task.classification,
        blocks=NUM_BLOCKS[config.cell],
        gate_order=", ".join(GATES[config.cell]),
        module=_MODULES[config.cell],
        cell_note=_CELL_NOTES[config.cell],
        arch_note=_ARCH_NOTES[config.arch],
        task_note=task.description,
    )
