"""The model space: one validated configuration object.

One table, :data:`FIELDS`, drives validation, the API's description of every
key, and the teaching link (its keys are the URL's keys).  Nothing else in the
project lists the keys again.  What one key is (type, bounds, link text, its
description) is :class:`engine.fields.Field`; ``Field`` and ``ConfigError`` are
importable from here too.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Any

from engine.fields import ConfigError, Field

# Bumped when the meaning of a link changes; written as `v=` in teaching links.
LINK_VERSION = 1

# Traces keep every per-timestep array; this caps their size so one request
# cannot exhaust memory.  The largest advertised model (T=2000, H=256, four
# bidirectional layers) at batch 1 uses 4.1 M cells.
MAX_TRACE_CELLS = 16_000_000


# Tasks with a source and a target sentence, what an encoder-decoder can learn.
SEQ2SEQ_TASKS = ("copy", "reverse", "translate")


# Link keys that belong to the page, not the model, each with how a link writes it: the link version, the
# lesson (a lesson's id), teacher options (embed: a yes/no flag; hide: control names, comma-separated) and
# compare mode's alternatives (cmp_b, cmp_c: key:value pairs, comma-separated).  The page reads them from
# GET /api/config's page_keys; /api/script allows and ignores them.
PAGE_KEYS: dict[str, str] = {
    "v": "version", "lesson": "lesson", "embed": "flag", "hide": "keys", "cmp_b": "pairs", "cmp_c": "pairs",
}


_WEIGHTS = ("weights", "trace")  # a key that draws other initial weights changes the trace too
_DATA = ("data", "trace")

FIELDS: tuple[Field, ...] = (
    # model
    Field(
        "cell", "choice", "rnn", "Recurrent cell: vanilla RNN, LSTM or GRU.", "model", choices=("rnn", "lstm", "gru"),
        label="Cell", affects=_WEIGHTS, choice_labels=(("rnn", "vanilla RNN"), ("lstm", "LSTM"), ("gru", "GRU")),
        self_named=True,
    ),
    Field(
        "nonlinearity",
        "choice",
        "tanh",
        "Activation of the vanilla RNN (LSTM and GRU always use tanh).",
        "model",
        choices=("tanh", "relu"),
        label="Nonlinearity", applies=(("cell", ("rnn",)),), why_not="vanilla RNN only", affects=_WEIGHTS,
        self_named=True,
    ),
    Field(
        "arch",
        "choice",
        "many-to-one",
        "Where inputs enter and where the loss is measured.",
        "model",
        choices=("one-to-one", "one-to-many", "many-to-one", "many-to-many", "encoder-decoder"),
        label="Architecture", affects=("weights", "data", "trace"), self_named=True,
    ),
    Field(
        "hidden_size", "int", 32, "Number of units in each hidden state h_t.", "model", low=1, high=256, unit="units",
        label="Hidden size H", affects=_WEIGHTS,
    ),
    Field("num_layers", "int", 1, "Stacked recurrent layers.", "model", low=1, high=4, unit="layers",
          label="Layers L", affects=_WEIGHTS),
    Field("bidirectional", "bool", False, "Add a second direction that reads the sequence backwards.", "model",
          label="Bidirectional", affects=_WEIGHTS),
    # The encoder-decoder's source order: Sutskever et al. (2014) fed the source backwards.
    Field("reverse_source", "bool", False, "Feed the source sentence to the encoder backwards (encoder-decoder only).",
          "model", label="Reverse the source", applies=(("arch", ("encoder-decoder",)),),
          why_not="encoder-decoder only"),
    # sequence
    Field(
        "task",
        "choice",
        "random",
        "What the sequences contain and what the model must predict.",
        "sequence",
        choices=("random", "adding", "copy", "sine", "sentiment", "pattern", "reverse", "translate"),
        # The task sets the input and output sizes, so it decides the weights' shapes too.
        label="Task", affects=("weights", "data", "trace"), self_named=True,
    ),
    Field(
        "seq_len",
        "int",
        50,
        "Number of timesteps T (one-to-one always uses 1).",
        "sequence",
        low=1,
        high=2000,
        unit="steps",
        label="Sequence length T", not_applies=(("arch", ("one-to-one",)),), why_not="one-to-one uses T = 1",
        affects=_DATA,
    ),
    Field(
        "tbptt",
        "int",
        0,
        "Truncated BPTT: the state is detached every this many steps, so no gradient travels back past a"
        " window's start (0: full backpropagation through time).",
        "sequence",
        low=0,
        high=2000,
        unit="steps",
        label="Truncated BPTT window k", affects=("trace", "training"),
        not_applies=(("arch", ("encoder-decoder",)),), why_not="not for the encoder–decoder",
    ),
    Field(
        "seed",
        "int",
        0,
        "Seed for weights and data: the same seed gives the same numbers.",
        "sequence",
        low=0,
        high=2**31 - 1,
        label="Seed", affects=("weights", "data", "trace"),
    ),
    # initialisation
    Field(
        "init",
        "choice",
        "pytorch",
        "How the weights are drawn before gain is applied.",
        "initialisation",
        choices=("pytorch", "orthogonal", "normal", "identity"),
        label="Initialisation", affects=_WEIGHTS, self_named=True,
    ),
    Field(
        "gain",
        "float",
        1.0,
        "Multiplies the recurrent weights W_hh after initialisation.",
        "initialisation",
        low=0.0,
        high=10.0,
        unit="×",
        label="Gain on W_hh", affects=_WEIGHTS,
    ),
    Field(
        "forget_bias",
        "float",
        0.0,
        "Added to the LSTM forget-gate bias (LSTM only).",
        "initialisation",
        low=-10.0,
        high=10.0,
        # A bias, not W_hh: the weight figures (eigenvalues, σ_max) stay as they are.
        label="Forget-gate bias", applies=(("cell", ("lstm",)),), why_not="LSTM only",
    ),
    # clipping
    Field(
        "clip",
        "choice",
        "none",
        "Gradient clipping: none, by total norm, or by value.",
        "clipping",
        choices=("none", "norm", "value"),
        label="Clipping", choice_labels=(("none", "none"), ("norm", "by total norm"), ("value", "by value")),
    ),
    Field(
        "clip_at",
        "float",
        1.0,
        "Clipping threshold (max total norm, or max absolute value).",
        "clipping",
        low=0.0,
        high=1e6,
        low_open=True,
        label="Clip threshold", not_applies=(("clip", ("none",)),), why_not="no clipping",
    ),
    # training
    Field(
        "optimizer", "choice", "adam", "Optimizer used when training.", "training", choices=("sgd", "adam", "rmsprop"),
        label="Optimizer", affects=("training",), self_named=True,
        choice_labels=(("sgd", "SGD"), ("adam", "Adam"), ("rmsprop", "RMSprop")),
    ),
    Field("lr", "float", 0.01, "Learning rate.", "training", low=1e-6, high=10.0, label="Learning rate",
          affects=("training",)),
    # The trace runs on one batch of batch_size sequences: it is the data's size, not a training-only key.
    Field("batch_size", "int", 16, "Sequences per batch.", "training", low=1, high=256, unit="sequences",
          label="Batch size N", affects=_DATA),
    Field("steps", "int", 500, "Optimizer steps when training.", "training", low=1, high=5000, unit="steps",
          label="Training steps", affects=("training",)),
)

FIELD_BY_NAME: dict[str, Field] = {f.name: f for f in FIELDS}

# Keys whose change draws another W_hh (the weight-figure cache's key), or another batch.
WEIGHT_KEYS: tuple[str, ...] = tuple(f.name for f in FIELDS if "weights" in f.affects)
DATA_KEYS: tuple[str, ...] = tuple(f.name for f in FIELDS if "data" in f.affects)


@dataclass(frozen=True)
class Config:
    """A validated point of the model space.  Build it with :meth:`from_dict`."""

    cell: str = "rnn"  # 'rnn' | 'lstm' | 'gru'
    nonlinearity: str = "tanh"  # 'tanh' | 'relu', RNN only
    arch: str = "many-to-one"  # where inputs enter and where the loss enters
    hidden_size: int = 32  # H
    num_layers: int = 1  # L
    bidirectional: bool = False  # D = 2 when true
    task: str = "random"  # data generator, engine.tasks
    seq_len: int = 50  # T
    tbptt: int = 0  # truncation window k: the state is detached every k steps; 0 is full BPTT
    seed: int = 0  # seeds weights and data
    init: str = "pytorch"  # weight initialisation scheme
    gain: float = 1.0  # multiplies W_hh after init
    forget_bias: float = 0.0  # added to the LSTM forget-gate bias
    clip: str = "none"  # 'none' | 'norm' | 'value'
    clip_at: float = 1.0  # clip threshold
    optimizer: str = "adam"  # training optimizer
    lr: float = 0.01  # learning rate
    batch_size: int = 16  # N
    steps: int = 500  # training steps
    reverse_source: bool = False  # encoder-decoder: the encoder reads the source backwards

    @property
    def num_directions(self) -> int:
        return 2 if self.bidirectional else 1

    @property
    def span(self) -> int:
        """Steps on the trace's time axis: T, or 2·T for the encoder-decoder (the source's T steps, then the
        target's T steps).  Every (L, D, ·, H) array of a trace, and a training profile, is this long."""
        return 2 * self.seq_len if self.arch == "encoder-decoder" else self.seq_len

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None = None) -> Config:
        """Validate ``data``; missing keys take their defaults.

        Raises :class:`ConfigError` naming the first bad key and what is allowed.
        """
        data = {} if data is None else data
        if not isinstance(data, dict):
            raise ConfigError("config", "config must be an object of key: value pairs")
        unknown = sorted(k for k in data if k not in FIELD_BY_NAME)
        if unknown:
            raise ConfigError(
                str(unknown[0]), f"unknown config key {unknown[0]!r}; known keys: " + ", ".join(FIELD_BY_NAME)
            )
        values = {f.name: f.check(data[f.name]) if f.name in data else f.default for f in FIELDS}
        return cls(**values).normalised()

    def normalised(self) -> Config:
        """Apply the rules that tie keys together, then check cross-key limits."""
        cfg = self
        if cfg.arch == "one-to-one" and cfg.seq_len != 1:
            cfg = replace(cfg, seq_len=1)
        if cfg.cell != "rnn" and cfg.nonlinearity != "tanh":
            cfg = replace(cfg, nonlinearity="tanh")
        if cfg.arch == "encoder-decoder" and cfg.tbptt != 0:  # its trace joins two modules; windows are not cut
            cfg = replace(cfg, tbptt=0)
        if cfg.arch == "encoder-decoder" and cfg.task not in SEQ2SEQ_TASKS:
            raise ConfigError(
                "task", f"arch 'encoder-decoder' needs task one of {', '.join(map(repr, SEQ2SEQ_TASKS))}; "
                f"got {cfg.task!r}",
            )
        # An encoder-decoder traces the source's T steps and the target's T steps.
        span = 2 * cfg.seq_len if cfg.arch == "encoder-decoder" else cfg.seq_len
        cells = span * cfg.batch_size * cfg.hidden_size * cfg.num_layers * cfg.num_directions
        if cells > MAX_TRACE_CELLS:
            raise ConfigError(
                "batch_size",
                f"seq_len × batch_size × hidden_size × num_layers × directions is {cells:,}; "
                f"at most {MAX_TRACE_CELLS:,} is allowed: lower batch_size, seq_len or hidden_size",
            )
        return cfg

    def to_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    def non_default(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in FIELDS if getattr(self, f.name) != f.default}

    def to_query(self) -> dict[str, str]:
        """The teaching-link query: non-default keys plus the link version."""
        q = {"v": str(LINK_VERSION)}
        q.update({k: FIELD_BY_NAME[k].format(v) for k, v in self.non_default().items()})
        return q


def parse_query(params: dict[str, str]) -> tuple[Config, list[dict[str, str]]]:
    """Read a teaching link leniently.

    Every bad or unknown key falls back to its default and is reported in the
    returned notices (``{"field", "message"}``), so a mistyped link still opens.
    """
    notices: list[dict[str, str]] = []
    values: dict[str, Any] = {}
    for key, text in params.items():
        if key in PAGE_KEYS:
            continue
        f = FIELD_BY_NAME.get(key)
        if f is None:
            notices.append({"field": key, "message": f"unknown key {key!r} ignored"})
            continue
        try:
            values[key] = f.parse(text)
        except ConfigError as e:
            notices.append({"field": key, "message": f"{e.message}; using the default {f.format(f.default)}"})
    try:
        return Config.from_dict(values), notices
    except ConfigError as e:
        if e.field == "task":  # an encoder-decoder link with a task it cannot learn: keep the task
            notices.append({"field": "arch", "message": f"{e.message}; using the default arch"})
            values.pop("arch", None)
            return parse_query({k: v for k, v in params.items() if k != "arch"})[0], notices
        # Only the work cap ties keys together: shrink the batch to fit rather than drop the link.
        probe = Config(**{**Config().to_dict(), **values, "batch_size": 1})
        per_sequence = probe.seq_len * probe.hidden_size * probe.num_layers * probe.num_directions
        values["batch_size"] = max(1, MAX_TRACE_CELLS // per_sequence)
        notices.append({"field": e.field, "message": f"{e.message}; using batch_size {values['batch_size']}"})
        return Config.from_dict(values), notices
