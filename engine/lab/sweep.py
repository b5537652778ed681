"""A sweep: one config key moved over a list of values, optionally crossed with curves (another key's alternatives,
or named settings of several keys: :mod:`engine.lab.sweep_over`) and several seeds; each point is the setting its own
link would be, traced or trained exactly as that link is.

The classic results are curves, not single traces: how the gradient reaching the first step falls as T grows
(Bengio, Simard & Frasconi 1994), how the recurrent gain decides between vanishing and exploding (Pascanu, Mikolov
& Bengio 2013), which cells learn a task at which lengths.  A :class:`Sweep` names the points; :func:`trace_point`
and :func:`train_point` say what a point's result is, from exactly the numbers its own trace or training gives, so
a sweep computed here (:func:`run_sweep`) and one served point by point from the server's cache agree.

Points are ordered value by value (then the curves, then the seeds), so every curve grows from
left to right together while a sweep streams.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from engine.config import FIELD_BY_NAME, FIELDS, LINK_VERSION, PAGE_KEYS, Config, ConfigError, quote, read_link
from engine.lab.sweep_over import Alternative, over_json, over_link, parse_over_link, read_over

__all__ = ["Point", "Sweep", "run_sweep", "trace_point", "train_point"]

KINDS = ("trace", "train")
MAX_VALUES = 24  # values of the swept key
MAX_SEEDS = 5
MAX_POINTS = 96  # values × alternatives × seeds
# A training point "learned" when its final loss is below this fraction of the task's baseline (the trivial
# predictor's loss), and "diverged" when its loss or gradient stopped being finite.
LEARNED_BELOW = 0.5
# The link's own keys besides the config's and the page's: how a sweep is written in its link.
SWEEP_KEYS = ("key", "values", "over", "seeds", "kind")
_SEED = FIELD_BY_NAME["seed"]


@dataclass(frozen=True)
class Point:
    """One point of a sweep: its place, the values that make it, and the setting its own link would be."""

    index: int  # in the sweep's order (value, then alternative, then seed)
    series: int  # which alternative, so which curve (0 when there is none)
    value: Any  # of the swept key
    seed: int
    config: Config


@dataclass(frozen=True)
class Sweep:
    """A validated sweep; build it with :meth:`from_dict` (the API's body) or :meth:`from_query` (its link)."""

    config: Config  # the setting every point starts from
    key: str  # the swept config key
    values: tuple[Any, ...]
    over_key: str | None  # the other key whose values each draw a curve; None for named settings or one curve
    over: tuple[Alternative, ...]  # each curve's settings (engine.lab.sweep_over); empty for one curve
    seeds: tuple[int, ...]
    kind: str  # 'trace' | 'train'

    def __getattr__(self, name: str) -> Any:
        """A config key reads the sweep's setting (a lesson's try moves one)."""
        if name in FIELD_BY_NAME:
            return getattr(self.config, name)
        raise AttributeError(name)

    @property
    def series(self) -> list[dict[str, Any]]:
        """Each curve's ``over``: the config keys it sets, ``{"cell": "lstm"}``, or ``{}`` for a plain sweep's one."""
        return [a.set for a in self.over] if self.over else [{}]

    @property
    def curve_names(self) -> list[str]:
        """Each curve's name: the other key's value as text (``"lstm"``), a named setting's name, or ``"all"``."""
        return [a.name for a in self.over] if self.over else ["all"]

    def series_head(self, s: int) -> dict[str, Any]:
        """Curve ``s`` as the answer and the socket describe it: ``{"over"}``, and ``"name"`` for a named setting."""
        head: dict[str, Any] = {"over": self.series[s]}
        if self.over and self.over_key is None:
            head["name"] = self.over[s].name
        return head

    def points(self) -> Iterator[Point]:
        """Every point, in order: value by value, then the alternatives, then the seeds."""
        index = 0
        for value in self.values:
            for s, over in enumerate(self.series):
                for seed in self.seeds:
                    data = {**self.config.to_dict(), **over, self.key: value, "seed": seed}
                    yield Point(index, s, value, seed, Config.from_dict(data))
                    index += 1

    @property
    def size(self) -> int:
        return len(self.values) * len(self.series) * len(self.seeds)

    @classmethod
    def from_dict(cls, data: Any) -> Sweep:
        """The API's body ``{"config", "key", "values", "over", "seeds", "kind"}``; raises :class:`ConfigError`
        naming the field (a config key for a bad ``config`` value) and what is allowed."""
        if not isinstance(data, dict):
            raise ConfigError("sweep", 'a sweep must be an object such as {"key": "seq_len", "values": [10, 20]}')
        unknown = sorted(str(k) for k in data if k not in ("config", *SWEEP_KEYS))
        if unknown:
            raise ConfigError(unknown[0][:40], f"unknown sweep key {quote(unknown[0])}; a sweep has config, "
                              + ", ".join(SWEEP_KEYS))
        config = Config.from_dict(data.get("config", {}))
        kind = data.get("kind", "trace")
        if kind not in KINDS:
            raise ConfigError("kind", f"kind must be one of {', '.join(map(repr, KINDS))}; got {quote(kind)}")
        key = _key(data.get("key"), kind)
        values = _list(data.get("values"), "values", MAX_VALUES, FIELD_BY_NAME[key])
        over_key, over = read_over(data.get("over"), key)
        seeds = _list(data.get("seeds", [config.seed]), "seeds", MAX_SEEDS, _SEED)
        sweep = cls(config, key, values, over_key, over, seeds, kind)
        if sweep.size > MAX_POINTS:
            raise ConfigError("values", f"this sweep has {len(values)} values × {len(sweep.series)} alternatives × "
                              f"{len(seeds)} seeds = {sweep.size} points; at most {MAX_POINTS} are allowed")
        _check_points(sweep)
        return sweep

    @classmethod
    def from_query(cls, params: Iterable[tuple[str, str]] | Mapping[str, str]) -> Sweep:
        """A sweep's link: the config's keys as a teaching link writes them, and ``key=seq_len``,
        ``values=10,20,40``, ``over=cell:rnn,lstm`` (or named settings, :func:`engine.lab.sweep_over.over_link`),
        ``seeds=0,1,2``, ``kind=trace``.  Strict: the first
        problem raises :class:`ConfigError` naming its key."""
        pairs = list(params.items() if isinstance(params, Mapping) else params)
        own = {k: t for k, t in pairs if k in SWEEP_KEYS}
        config, problems = read_link([(k, t) for k, t in pairs if k not in SWEEP_KEYS], FIELD_BY_NAME, PAGE_KEYS)
        if problems:
            raise problems[0]
        repeated = next((k for k in own if sum(1 for p, _ in pairs if p == k) > 1), None)
        if repeated is not None:
            raise ConfigError(repeated, f"key {quote(repeated)} is given more than once; give each key once")
        key = own.get("key")
        data: dict[str, Any] = {"config": config, "kind": own.get("kind", "trace"), "key": key}
        field = FIELD_BY_NAME.get(key) if isinstance(key, str) else None
        data["values"] = _read_list(own.get("values", ""), "values", field)
        if own.get("over"):
            data["over"] = parse_over_link(own["over"])
        if "seeds" in own:
            data["seeds"] = _read_list(own["seeds"], "seeds", _SEED)
        return cls.from_dict(data)

    def to_dict(self) -> dict[str, Any]:
        """The API's body for this sweep (every config key)."""
        over = over_json(self.over_key, self.over) if self.over else {}
        return {"config": self.config.to_dict(), "key": self.key, "values": list(self.values), "over": over,
                "seeds": list(self.seeds), "kind": self.kind}  # fmt: skip

    def to_query(self) -> dict[str, str]:
        """The sweep's link: the config's teaching-link keys, then the sweep's own."""
        q = self.config.to_query()
        q.pop("seed", None)  # the seeds say it
        q["key"] = self.key
        q["values"] = ",".join(FIELD_BY_NAME[self.key].format(v) for v in self.values)
        if self.over:
            q["over"] = over_link(self.over_key, self.over)
        q["seeds"] = ",".join(str(s) for s in self.seeds)
        q["kind"] = self.kind
        q["v"] = str(LINK_VERSION)
        return q


def sweepable(kind: str) -> tuple[str, ...]:
    """The keys a sweep of ``kind`` may move: every config key but the seed (the seeds are their own list), and for
    a trace sweep only those that change the trace."""
    return tuple(f.name for f in FIELDS if f.name != "seed" and (kind == "train" or f.affects != ("training",)))


# What the sweep page opens on without a sweep in its link: the gradient reaching the first step against T, per cell.
DEFAULT_SWEEP = {"key": "seq_len", "values": [10, 20, 40, 80, 160], "over": {"cell": ["rnn", "lstm", "gru"]}}


def page_sweep(params: Iterable[tuple[str, str]] | Mapping[str, str]) -> tuple[Sweep, list[dict[str, str]]]:
    """The sweep page's sweep from its link, never failing: a link without ``key`` opens :data:`DEFAULT_SWEEP`; a
    bad one opens it too, with a notice naming the field (``{"field", "message"}``)."""
    pairs = [(k, t) for k, t in (params.items() if isinstance(params, Mapping) else params) if k not in PAGE_KEYS]
    if not any(k == "key" for k, _ in pairs):
        return Sweep.from_dict(DEFAULT_SWEEP), []
    try:
        return Sweep.from_query(pairs), []
    except ConfigError as e:
        notice = {"field": e.field, "message": f"{e.message}; the default sweep is shown"}
        return Sweep.from_dict(DEFAULT_SWEEP), [notice]


def _key(key: Any, kind: str) -> str:
    keys = sweepable(kind)
    if key == "seed":
        raise ConfigError("key", "key cannot be 'seed': give the seeds as seeds, each drawn as the band's spread")
    if key not in keys:
        why = (f"{key!r} changes only training, so every point of a trace sweep would be the same; sweep it with "
               "kind 'train', or " if isinstance(key, str) and key in FIELD_BY_NAME else "")
        raise ConfigError("key", f"key must be a config key to sweep: {why}one of {', '.join(keys)}; "
                          f"got {quote(key)}")
    return key


def _list(raw: Any, name: str, most: int, field) -> tuple[Any, ...]:
    """``raw`` as 1 to ``most`` distinct values, each checked by ``field``; errors name ``name``."""
    if not isinstance(raw, list) or not 1 <= len(raw) <= most:
        got = f"{len(raw)} of them" if isinstance(raw, list) else quote(raw)
        raise ConfigError(name, f"{name} must be a list of 1 to {most} values of {field.name}; got {got}")
    values = []
    for i, v in enumerate(raw):
        try:
            values.append(field.check(v))
        except ConfigError as e:
            raise ConfigError(name, f"{name}[{i}]: {e.message}") from None
    if len(set(values)) < len(values):
        raise ConfigError(name, f"{name} must not repeat a value; got {', '.join(map(field.format, values))}")
    return tuple(values)


def _check_points(sweep: Sweep) -> None:
    """Raise :class:`ConfigError` naming ``values`` unless every point is a valid setting."""
    try:
        for _ in sweep.points():
            pass
    except ConfigError as e:
        raise ConfigError("values", f"a point of this sweep is not a valid setting: {e.message}") from None


def _read_list(text: str, name: str, field) -> list[Any]:
    if field is None:
        return [t for t in text.split(",")]  # from_dict names what is wrong with them
    values = []
    for i, t in enumerate(text.split(",") if text else []):
        try:
            values.append(field.parse(t))
        except ConfigError as e:
            raise ConfigError(name, f"{name}[{i}]: {e.message}") from None
    return values


def describe_point(sweep: Sweep, point: Point) -> str:
    """A point in words, for an error message: ``seq_len = 200 (cell = lstm, seed 1)``."""
    f = FIELD_BY_NAME[sweep.key]
    extra = [f"{k} = {FIELD_BY_NAME[k].format(v)}" for k, v in sweep.series[point.series].items()]
    named = f"{sweep.over[point.series].name}: " if sweep.over and sweep.over_key is None else ""
    return f"{sweep.key} = {f.format(point.value)} ({named}{', '.join([*extra, f'seed {point.seed}'])})"


# -- what a point's result is --------------------------------------------------------------------------------


def first_and_last(grad_h_norm: np.ndarray, input_steps: tuple[int, ...]) -> tuple[float, float, float]:
    """‖∂L/∂h_t‖ of layer 0, forward direction, at the first step where input enters and at the last step, and
    their ratio first / last (how much of the gradient at the end is left at the start)."""
    g = np.asarray(grad_h_norm, dtype=np.float64)[0, 0]  # (T,)
    first, last = float(g[input_steps[0]]), float(g[-1])
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = float(np.float64(first) / np.float64(last))
    return first, last, ratio


def trace_point(grad_h_norm: np.ndarray, input_steps: tuple[int, ...], loss: float, total_norm: float,
                total_norm_clipped: float, bound: np.ndarray | None = None) -> dict[str, Any]:  # fmt: skip
    """A trace sweep's point from its own trace's numbers: ``grad_h_norm`` (L, D, T) and ``loss`` exactly as
    given, the total gradient norm before and after clipping, and :func:`first_and_last`.  ``bound`` is the
    trace's geometric bound on ‖∂L/∂h_t‖ (L, D, T; :func:`engine.lab.theory.geometric_bound`, a vanilla RNN's
    only): ``bound_first`` is its value at the first input step, layer 0, forward (None without one)."""
    first, last, ratio = first_and_last(grad_h_norm, input_steps)
    bound_first = None if bound is None else float(np.asarray(bound, dtype=np.float64)[0, 0, input_steps[0]])
    return {"loss": loss, "total_norm": total_norm, "total_norm_clipped": total_norm_clipped,
            "grad_first": first, "grad_last": last, "ratio": ratio, "bound_first": bound_first,
            "grad_h_norm": grad_h_norm}  # fmt: skip


def train_point(final_loss: float | None, baseline: dict[str, Any], diverged_at: int | None,
                accuracy: float | None) -> dict[str, Any]:  # fmt: skip
    """A training sweep's point from its own training's end: the final loss, the task's baseline loss, whether it
    learned (finite final loss below :data:`LEARNED_BELOW` × baseline) and whether it diverged; for a task that
    classifies, ``accuracy``, the last step's (the share of its batch's scored steps whose most likely class is the
    target, :func:`engine.data.metric`, on the batch whose loss is the final loss) and ``baseline_accuracy``, the
    trivial predictor's (None for a regression task).  ``baseline`` is :func:`engine.data.baseline`'s."""
    diverged = diverged_at is not None
    finite = final_loss is not None and math.isfinite(final_loss)
    learned = not diverged and finite and final_loss < LEARNED_BELOW * baseline["loss"]
    return {"final_loss": final_loss, "baseline": baseline["loss"], "learned": bool(learned), "diverged": diverged,
            "diverged_at": diverged_at, "accuracy": accuracy, "baseline_accuracy": baseline["metric"]}  # fmt: skip


def run_sweep(sweep: Sweep) -> dict[str, Any]:
    """The whole sweep computed here, point by point, as the API answers it (``{"key", "values", "series"}``):
    each point's :func:`point_result`."""
    series = [{**sweep.series_head(s), "points": []} for s in range(len(sweep.series))]
    for point in sweep.points():
        series[point.series]["points"].append({"value": point.value, "seed": point.seed, **point_result(sweep, point)})
    return {"key": sweep.key, "values": list(sweep.values), "series": series}


def point_result(sweep: Sweep, point: Point) -> dict[str, Any]:
    """One point's result computed here: its trace (:func:`engine.lab.experiment.trace_config`) or its training run
    to the end (:class:`engine.lab.training.Trainer`)."""
    from engine.lab.experiment import trace_config
    from engine.lab.training import Trainer

    if sweep.kind == "trace":
        tr = trace_config(point.config)
        return trace_point(tr.grad_h_norm, tr.input_steps, tr.loss, tr.total_norm, tr.total_norm_clipped,
                           tr.theory["bound"])
    trainer = Trainer(point.config)
    done = trainer.run()
    return train_point(done.final_loss, trainer.baseline, done.diverged_at, trainer.last.metric)
