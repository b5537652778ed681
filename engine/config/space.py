"""The model space: one validated configuration object, and the rules that tie its keys together.

Each key is one :class:`engine.config.fields.Field` of the table :data:`engine.config.table.FIELDS` (importable
from here, as are ``Field`` and ``ConfigError``).  :class:`Config` holds one value per key; its properties
are the quantities derived from several keys (the time axis's ``span``, the work cap's ``trace_cells``),
computed here once for every caller: the engine, the server's caps and cost estimates, link reading, tests.
The cross-key rules are applied by :meth:`Config.normalised` and described by :func:`describe_rules`
(``GET /api/config`` and the OpenAPI document say what is enforced, from this code).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import parse_qsl

from engine.config.fields import ConfigError, check_against, read_link
from engine.config.table import DATA_KEYS, FIELD_BY_NAME, FIELDS, LINK_VERSION, PAGE_KEYS, WEIGHT_KEYS

__all__ = [
    "ATTENTION_MAX_SEQ_LEN", "DATA_KEYS", "FIELDS", "FIELD_BY_NAME", "LINK_VERSION", "MAX_TRACE_CELLS", "PAGE_KEYS",
    "SEQ2SEQ_TASKS", "TASKS_FOR_ARCH", "WEIGHT_KEYS", "Config", "ConfigError", "describe_rules", "parse_query",
]  # fmt: skip

# Traces keep every per-timestep array; this caps their size so one request cannot exhaust memory.  The
# largest model of the table at batch_size 1 (an encoder-decoder, 2·2000 steps, H=256, four bidirectional
# layers) is 8.2 M cells: every model fits at batch_size 1 (tests/engine/test_config.py).
MAX_TRACE_CELLS = 16_000_000

# With attention every decoder step reads every encoder step: the alignment is T × T, the additive decoder runs a
# step at a time and the lag map takes a backward pass per row, so T is kept to this.
ATTENTION_MAX_SEQ_LEN = 128

# Tasks with a source and a target sentence, what an encoder-decoder can learn.
SEQ2SEQ_TASKS = ("copy", "reverse", "translate")
# The archs that take only some tasks; every other arch takes every task.
TASKS_FOR_ARCH: dict[str, tuple[str, ...]] = {"encoder-decoder": SEQ2SEQ_TASKS}

_D = {f.name: f.default for f in FIELDS}  # the dataclass's defaults are the table's


@dataclass(frozen=True)
class Config:
    """A validated point of the model space: one attribute per key of :data:`FIELDS`, in its order, with its
    type and default (checked when this module loads).  Build it with :meth:`from_dict`."""

    cell: str = _D["cell"]  # 'rnn' | 'lstm' | 'gru'
    nonlinearity: str = _D["nonlinearity"]  # 'tanh' | 'relu', RNN only
    arch: str = _D["arch"]  # where inputs enter and where the loss enters
    hidden_size: int = _D["hidden_size"]  # H
    num_layers: int = _D["num_layers"]  # L
    bidirectional: bool = _D["bidirectional"]  # D = 2 when true
    reverse_source: bool = _D["reverse_source"]  # encoder-decoder: the encoder reads the source backwards
    attention: str = _D["attention"]  # encoder-decoder: 'none' | 'additive' (Bahdanau) | 'dot' (Luong)
    task: str = _D["task"]  # data generator, engine.data.tasks
    seq_len: int = _D["seq_len"]  # T
    lag: int = _D["lag"]  # D of the recall task: y_t = x_{t-D}
    tbptt: int = _D["tbptt"]  # truncation window k: the state is detached every k steps; 0 is full BPTT
    seed: int = _D["seed"]  # seeds weights and data
    init: str = _D["init"]  # weight initialisation scheme
    gain: float = _D["gain"]  # multiplies W_hh after init
    forget_bias: float = _D["forget_bias"]  # added to the LSTM forget-gate bias
    clip: str = _D["clip"]  # 'none' | 'norm' | 'value'
    clip_at: float = _D["clip_at"]  # clip threshold
    optimizer: str = _D["optimizer"]  # training optimizer
    lr: float = _D["lr"]  # learning rate
    batch_size: int = _D["batch_size"]  # N
    steps: int = _D["steps"]  # training steps

    @property
    def num_directions(self) -> int:
        """D: 2 when bidirectional, else 1."""
        return 2 if self.bidirectional else 1

    @property
    def span(self) -> int:
        """Steps on the trace's time axis: T, or 2·T for the encoder-decoder (the source's T steps, then the
        target's T steps).  Every (L, D, ·, H) array of a trace, and a training profile, is this long."""
        return 2 * self.seq_len if self.arch == "encoder-decoder" else self.seq_len

    @property
    def cells_per_sequence(self) -> int:
        """span × hidden_size × num_layers × D: one sequence's share of each (L, D, span, H) array."""
        return self.span * self.hidden_size * self.num_layers * self.num_directions

    @property
    def trace_cells(self) -> int:
        """What the work cap counts: span × batch_size × hidden_size × num_layers × D (at most MAX_TRACE_CELLS)."""
        return self.cells_per_sequence * self.batch_size

    def largest_batch_size(self) -> int:
        """The most sequences per batch this model may trace: within the work cap and batch_size's own bounds."""
        return min(int(FIELD_BY_NAME["batch_size"].high), MAX_TRACE_CELLS // self.cells_per_sequence)

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None = None) -> Config:
        """Validate ``data`` (JSON values); missing keys take their defaults.

        Raises :class:`ConfigError` naming the first bad key and what is allowed.
        """
        data = {} if data is None else data
        if not isinstance(data, dict):
            raise ConfigError("config", "config must be an object of key: value pairs")
        unknown = sorted(str(k) for k in data if k not in FIELD_BY_NAME)
        if unknown:
            raise ConfigError(unknown[0], f"unknown config key {unknown[0]!r}; known keys: " + ", ".join(FIELD_BY_NAME))
        values = {f.name: f.check(data[f.name]) if f.name in data else f.default for f in FIELDS}
        return cls(**values).normalised()

    def normalised(self) -> Config:
        """Apply the rules that tie keys together (see :func:`describe_rules`), then check the cross-key limits."""
        values = self.to_dict()
        pinned = {f.name: f.pinned for f in FIELDS if f.pinned is not None and not f.applies_to(values)}
        cfg = replace(self, **pinned)
        allowed = TASKS_FOR_ARCH.get(cfg.arch)
        if allowed is not None and cfg.task not in allowed:
            raise ConfigError(
                "task", f"arch {cfg.arch!r} needs task one of {', '.join(map(repr, allowed))}; got {cfg.task!r}"
            )
        if cfg.attention != "none" and cfg.seq_len > ATTENTION_MAX_SEQ_LEN:
            raise ConfigError("seq_len", _attention_steps(cfg))
        if cfg.trace_cells > MAX_TRACE_CELLS:
            raise _over_work_cap(cfg)
        return cfg

    def to_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in FIELDS}

    def non_default(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in FIELDS if getattr(self, f.name) != f.default}

    def to_query(self) -> dict[str, str]:
        """The teaching-link query: non-default keys plus the link version."""
        q = {"v": str(LINK_VERSION)}
        q.update({k: FIELD_BY_NAME[k].format(v) for k, v in self.non_default().items()})
        return q


check_against(Config, FIELDS)


def _over_work_cap(cfg: Config) -> ConfigError:
    span = f"2·seq_len {cfg.span}" if cfg.arch == "encoder-decoder" else f"seq_len {cfg.span}"
    factors = (f"{span} × batch_size {cfg.batch_size} × hidden_size {cfg.hidden_size} × num_layers "
               f"{cfg.num_layers} × directions {cfg.num_directions}")
    fits = cfg.largest_batch_size()
    advice = "lower seq_len or hidden_size"
    if fits:
        advice = f"lower batch_size (at most {fits} fits), seq_len or hidden_size"
    return ConfigError(
        "batch_size", f"{factors} is {cfg.trace_cells:,} cells; at most {MAX_TRACE_CELLS:,} are allowed: {advice}"
    )


def _attention_steps(cfg: Config) -> str:
    return (f"attention {cfg.attention!r} needs seq_len at most {ATTENTION_MAX_SEQ_LEN} (every decoder step reads "
            f"every source step); got {cfg.seq_len}")


def describe_rules() -> list[dict[str, Any]]:
    """The rules that tie keys together, as :meth:`Config.normalised` applies them (``GET /api/config``'s ``rules``).

    ``pinned``: where ``field`` does not apply (its ``applies``/``not_applies``), it is set to ``value``.
    ``choices``: under ``when``, ``field`` must be one of ``choices``; any other value is refused naming ``field``.
    ``most``: under ``when``, ``field`` is at most ``max``; more is refused naming ``field``.
    ``work_cap``: ``span × batch_size × hidden_size × num_layers × D`` at most ``max``, else refused naming
    ``batch_size``; ``span`` is ``2·seq_len`` for the archs in ``double_span``, else ``seq_len``.
    """
    rules: list[dict[str, Any]] = [
        {"kind": "pinned", "field": f.name, "value": f.pinned, "applies": {k: list(v) for k, v in f.applies},
         "not_applies": {k: list(v) for k, v in f.not_applies},
         "description": f"{f.name} is set to {f.format(f.pinned)} where it does not apply ({f.why_not})."}
        for f in FIELDS if f.pinned is not None
    ]  # fmt: skip
    for arch, tasks in TASKS_FOR_ARCH.items():
        rules.append({
            "kind": "choices", "field": "task", "when": {"arch": [arch]}, "choices": list(tasks),
            "description": f"arch {arch!r} takes task one of {', '.join(map(repr, tasks))}; another task is "
                           "refused (field task).",
        })  # fmt: skip
    rules.append({
        "kind": "most", "field": "seq_len", "max": ATTENTION_MAX_SEQ_LEN, "when": {"attention": ["additive", "dot"]},
        "description": f"with attention, seq_len is at most {ATTENTION_MAX_SEQ_LEN} (else refused, field seq_len).",
    })  # fmt: skip
    rules.append({
        "kind": "work_cap", "field": "batch_size", "max": MAX_TRACE_CELLS,
        "product": ["span", "batch_size", "hidden_size", "num_layers", "D"], "double_span": ["encoder-decoder"],
        "description": f"span × batch_size × hidden_size × num_layers × D is at most {MAX_TRACE_CELLS:,} "
                       "(else refused, field batch_size), where span = 2·seq_len for the encoder-decoder (it traces "
                       "the source's T steps, then the target's) and seq_len otherwise, D = 2 when bidirectional. "
                       "Every model fits at batch_size 1.",
    })  # fmt: skip
    return rules


def parse_query(params: str | Iterable[tuple[str, str]] | Mapping[str, str]) -> tuple[Config, list[dict[str, str]]]:
    """Read a teaching link leniently: the link itself (``"https://…/?cell=lstm&seq_len=100"``, or only its query),
    or its ``(key, text)`` pairs (a mapping, or ``QueryParams.multi_items()``).

    Each problem falls back and is reported in the returned notices (``{"field", "message"}``), so a mistyped
    link still opens: an unknown key is ignored, a repeated key or a bad value takes its default
    (:func:`engine.config.fields.read_link`).  Then the cross-key rules: an arch that does not take the link's task
    gives way to the default arch (the task is kept), and a model over the work cap keeps its keys with the
    largest ``batch_size`` that fits (:meth:`Config.largest_batch_size`), and a model with attention past
    :data:`ATTENTION_MAX_SEQ_LEN` steps takes that many, so the result is always a valid Config.
    """
    if isinstance(params, str):
        query = params.partition("?")[2] if "?" in params else params
        params = parse_qsl(query.partition("#")[0], keep_blank_values=True)
    values, problems = read_link(params, FIELD_BY_NAME, PAGE_KEYS)
    notices = [_notice(p) for p in problems]
    allowed = TASKS_FOR_ARCH.get(values.get("arch", _D["arch"]))
    if allowed is not None and values.get("task", _D["task"]) not in allowed:
        arch = values.pop("arch", _D["arch"])
        notices.append({"field": "arch", "message": f"arch {arch!r} needs task one of "
                        f"{', '.join(map(repr, allowed))}; using the default arch {_D['arch']!r}"})  # fmt: skip
    probe = replace(Config(), **values)  # every key, before the rules
    if (probe.attention != "none" and FIELD_BY_NAME["attention"].applies_to(probe.to_dict())
            and probe.seq_len > ATTENTION_MAX_SEQ_LEN):
        values["seq_len"] = ATTENTION_MAX_SEQ_LEN
        notices.append({"field": "seq_len",
                        "message": f"{_attention_steps(probe)}; using seq_len {ATTENTION_MAX_SEQ_LEN}"})
    one = Config.from_dict({**values, "batch_size": 1})  # every model fits at batch_size 1
    batch = values.get("batch_size", _D["batch_size"])
    if batch > one.largest_batch_size():
        over = replace(one, batch_size=batch)
        batch = one.largest_batch_size()
        notices.append({"field": "batch_size", "message": f"{_over_work_cap(over).message}; using batch_size {batch}"})
    return Config.from_dict({**values, "batch_size": batch}), notices


def _notice(problem: ConfigError) -> dict[str, str]:
    f = FIELD_BY_NAME.get(problem.field)
    if f is None:
        return {"field": problem.field, "message": f"{problem.message} ignored"}
    return {"field": problem.field, "message": f"{problem.message}; using the default {f.format(f.default)}"}
