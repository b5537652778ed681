"""Lessons: a teaching link, a short explanation, a prediction to make, things to try, and claims we check.

The lessons are data, in ``lessons.json`` next to this module.  Each one has

- ``id`` (a slug such as ``vanishing-gradients``), ``title``, ``topic`` (one of :data:`TOPICS`), ``summary``;
- ``link``: the config keys that differ from the defaults, exactly as a teaching link writes them;
- ``explanation`` (2 to 4 paragraphs), ``analogy``, ``equation`` and ``equation_says`` (the equation in words);
- ``question`` and ``answer``: "predict, then press play", the answer shown after;
- ``tries``: 2 or 3 suggestions ``{"key", "value", "look_for"}``, each moving one control of the link;
- ``claims``: ``{"kind", "says", ...}``, a statement about what the link (or, with ``"try": i``, the link after
  try i) shows, which :func:`check_claim` measures.  :data:`CLAIM_KINDS` lists the kinds and their parameters;
- optionally ``view``: ``"lab"`` (the default, the main page ``/``) or ``"cliff"`` (the page ``/cliff``, whose link,
  tries, claims and measures are those of :mod:`engine.cliff` and :mod:`engine.cliff_lessons`).

Text is plain Unicode with no markup: every string is one paragraph, equations are written out (``‖∂L/∂h_t‖``).
A number the link measures is written as a placeholder, ``{measure}`` or ``{measure@i}`` for the link after try
i (:data:`MEASURES`); :func:`engine.lesson_numbers.render_lesson` fills it from the trace of that exact config.

Ratios are ‖∂L/∂h_0‖ / ‖∂L/∂h_{T-1}‖ of layer 0, forward direction: how much of the gradient at the last step
is left at the first.  Training claims train for the link's own ``steps``, exactly what pressing Train shows.
"""

from __future__ import annotations

import functools
import json
import math
import re
from dataclasses import dataclass, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np

from engine.cliff import CLIFF_FIELD_BY_NAME, CliffConfig
from engine.cliff_lessons import CLIFF_CLAIM_KINDS, CLIFF_MEASURES, check_cliff_claim
from engine.config import FIELD_BY_NAME, LINK_VERSION, Config, ConfigError
from engine.experiment import trace_config
from engine.network import build_model, parameter_count
from engine.tasks import get_task
from engine.training import Trainer

LESSONS_PATH = Path(__file__).with_name("lessons.json")

# The syllabus: every topic has at least one lesson.
TOPICS = ("architectures", "vanishing", "exploding", "clipping", "lstm", "gru", "bidirectional", "deep", "practice")

# kind -> (required parameters, optional parameters, what the measured config needs).  A parameter's spec is a
# type or a tuple of the allowed strings.  Every claim also has "says" and may have "try".
_CELLS = FIELD_BY_NAME["cell"].choices
_GATED = (lambda c: c.cell != "rnn", "an LSTM or GRU")
CLAIM_KINDS: dict[str, tuple[dict[str, Any], dict[str, Any], tuple | None]] = {
    "loss_enters": ({"at": ("last", "all")}, {}, None),  # exactly the steps where the loss injects gradient
    "vanishes": ({"ratio_below": float}, {}, None),
    "explodes": ({"ratio_above": float}, {"not_finite": bool}, None),  # or not finite; not_finite: must not be
    "survives": ({"ratio_above": float}, {"after_training": bool}, None),  # after_training: the final profile
    "learns": ({"below_baseline_fraction": float, "last": int}, {}, None),  # mean of the last losses
    "plateaus": ({"above_baseline_fraction": float, "last": int}, {}, None),
    "diverges_without_clipping": ({}, {}, (lambda c: c.clip != "none", "a link that clips")),
    "fewer_params_than": ({"cell": _CELLS}, {}, None),
    # each direction's far quarter over its near end
    "both_ends": ({"edge_ratio_above": float}, {}, (lambda c: c.bidirectional, "a bidirectional link")),
    # the top layer's reverse direction gets gradient only at the last step
    "one_end": ({}, {}, (lambda c: c.bidirectional and c.arch == "many-to-one", "a bidirectional many-to-one link")),
    # at the last step: bottom layer / top layer, and rising layer by layer
    "layers": ({"ratio_below": float}, {}, (lambda c: c.num_layers >= 2, "num_layers of 2 or more")),
    # product of the mean forget (LSTM) or update (GRU) gate over t = 1..T-1
    "memory_open": ({"gate_product_above": float}, {}, _GATED),
    "memory_closed": ({"gate_product_below": float}, {}, _GATED),
}
# Claim kinds measured by training (as is any claim with after_training).
_TRAINED_KINDS = ("learns", "plateaus", "diverges_without_clipping")

# Measured numbers in the text: {measure} on the link, {measure@i} on the link after try i (see
# engine/lesson_numbers.py).  measure -> what the measured config needs, or None.
MEASURES: dict[str, tuple | None] = {
    "ratio": None,
    "sigma_max": None,
    "spectral_radius": ((lambda c: c.cell == "rnn"), "a vanilla RNN"),
    "gate_product": _GATED,
    "layer_fraction": ((lambda c: c.num_layers >= 2), "num_layers of 2 or more"),
    "edge_forward": ((lambda c: c.bidirectional), "a bidirectional link"),
    "edge_reverse": ((lambda c: c.bidirectional), "a bidirectional link"),
    "rnn_params": None,
}
PLACEHOLDER = re.compile(r"\{([a-z_]+)(?:@(\d+))?\}")


@dataclass(frozen=True)
class _View:
    """What a lesson's link, tries, claims and placeholders are made of on the page it opens."""

    make: Any  # dict -> a validated config (raises ConfigError)
    fields: dict  # key -> Field
    claim_kinds: dict  # as CLAIM_KINDS
    measures: dict  # as MEASURES


VIEWS = {
    "lab": _View(Config.from_dict, FIELD_BY_NAME, CLAIM_KINDS, MEASURES),
    "cliff": _View(CliffConfig.from_dict, CLIFF_FIELD_BY_NAME, {k: (*v, None) for k, v in CLIFF_CLAIM_KINDS.items()},
                   dict.fromkeys(CLIFF_MEASURES)),
}  # fmt: skip
_SLUG = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")
_TEXT = ("title", "summary", "analogy", "equation", "equation_says", "question", "answer")
_KEYS = {"id", "topic", "link", "explanation", "tries", "claims", *_TEXT}


class LessonError(ValueError):
    """The lessons file is malformed; the message names the lesson and the field."""


@dataclass(frozen=True)
class Try:
    key: str  # a config key
    value: Any  # its new value
    look_for: str  # what to watch after the change


@dataclass(frozen=True)
class Claim:
    kind: str  # one of CLAIM_KINDS
    says: str  # the claim in one line, for people
    params: MappingProxyType  # the kind's parameters
    on_try: int | None  # measure the link after try i instead of the link itself

    @property
    def trains(self) -> bool:
        """Whether measuring the claim needs training (the Trainer) rather than one trace."""
        return self.kind in _TRAINED_KINDS or bool(self.params.get("after_training"))


@dataclass(frozen=True)
class Lesson:
    id: str
    title: str
    topic: str
    summary: str
    link: MappingProxyType  # non-default config keys
    explanation: tuple[str, ...]  # paragraphs
    analogy: str
    equation: str
    equation_says: str
    question: str
    answer: str
    tries: tuple[Try, ...]
    claims: tuple[Claim, ...]
    view: str = "lab"  # the page the link opens: one of VIEWS

    @property
    def trains(self) -> bool:
        """Whether the lesson's own question is about training: a claim on its link needs it."""
        return any(c.on_try is None and c.trains for c in self.claims)


def load_lessons(path: str | Path = LESSONS_PATH) -> tuple[Lesson, ...]:
    """Read and validate a lessons file; raises :class:`LessonError` naming the first problem."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as e:
        raise LessonError(f"{Path(path).name}: cannot read lessons: {e}") from e
    items = data.get("lessons") if isinstance(data, dict) else None
    if not isinstance(items, list) or not items:
        raise LessonError(f'{Path(path).name}: expected {{"lessons": [...]}} with at least one lesson')
    lessons, seen = [], set()
    for k, item in enumerate(items):
        where = f"{Path(path).name}: lesson {item.get('id', k)!r}" if isinstance(item, dict) else f"lesson {k}"
        lesson = _parse_lesson(item, lambda msg, w=where: LessonError(f"{w}: {msg}"))
        if lesson.id in seen:
            raise LessonError(f"{where}: id is used twice")
        seen.add(lesson.id)
        lessons.append(lesson)
    return tuple(lessons)


def _require(ok: Any, err, message: str) -> None:
    if not ok:
        raise err(message)


def _parse_lesson(item: Any, err) -> Lesson:
    _require(isinstance(item, dict), err, "must be an object")
    missing, unknown = sorted(_KEYS - set(item)), sorted(set(item) - _KEYS - {"view"})
    _require(not missing, err, f"missing fields {missing}")
    _require(not unknown, err, f"unknown fields {unknown}")
    slug = isinstance(item["id"], str) and _SLUG.match(item["id"])
    _require(slug, err, "id must be a slug: lowercase letters and digits joined by single hyphens")
    view_name = item.get("view", "lab")
    _require(view_name in VIEWS, err, f"view must be one of {', '.join(VIEWS)}; got {view_name!r}")
    view = VIEWS[view_name]
    _require(item["topic"] in TOPICS, err, f"topic must be one of {', '.join(TOPICS)}; got {item['topic']!r}")
    paragraphs = item["explanation"]
    ok = isinstance(paragraphs, list) and 2 <= len(paragraphs) <= 4
    _require(ok, err, "explanation must be a list of 2 to 4 paragraphs")
    for name, text in [(name, item[name]) for name in _TEXT] + [("explanation", p) for p in paragraphs]:
        _check_text(text, name, err)
    link, tries, claims = item["link"], item["tries"], item["claims"]
    _require(isinstance(link, dict), err, "link must be an object of config keys")
    try:
        base = view.make(link)
    except ConfigError as e:
        raise err(f"link: {e.message}") from e
    _require(isinstance(tries, list) and 2 <= len(tries) <= 3, err, "tries must be a list of 2 or 3 suggestions")
    tries = tuple(_parse_try(t, link, base, view, lambda m, i=i: err(f"try {i}: {m}")) for i, t in enumerate(tries))
    _require(isinstance(claims, list) and claims, err, "claims must be a non-empty list")
    configs = [base] + [view.make({**link, t.key: t.value}) for t in tries]
    claims = tuple(_parse_claim(c, configs, view, lambda m, i=i: err(f"claim {i}: {m}")) for i, c in enumerate(claims))
    _require(not PLACEHOLDER.search(item["title"]), err, "title must not hold a measured number")
    for text in [item[name] for name in _TEXT] + list(paragraphs) + [t.look_for for t in tries]:
        _check_placeholders(text, configs, view, err)
    text = {name: item[name] for name in _TEXT}
    return Lesson(id=item["id"], topic=item["topic"], link=MappingProxyType(dict(link)), view=view_name,
                  explanation=tuple(paragraphs), tries=tries, claims=claims, **text)  # fmt: skip


def _check_text(value: Any, name: str, err) -> None:
    _require(isinstance(value, str) and value.strip(), err, f"{name} must be non-empty text")
    markup = "\n" in value or any(m in value for m in ("**", "`", "](")) or value.lstrip().startswith("#")
    _require(not markup, err, f"{name} must be plain text, one paragraph, without markup: {value[:40]!r}")


def _check_placeholders(text: str, configs: list, view: _View, err) -> None:
    for m in PLACEHOLDER.finditer(text):
        name, on_try = m.group(1), m.group(2)
        known = view.measures
        _require(name in known, err, f"{m.group(0)}: measure must be one of {', '.join(known)}")
        ok = on_try is None or int(on_try) < len(configs) - 1
        _require(ok, err, f"{m.group(0)}: try must be the index of one of the lesson's {len(configs) - 1} tries")
        cfg, needs = configs[0 if on_try is None else int(on_try) + 1], known[name]
        _require(not needs or needs[0](cfg), err, f"{m.group(0)}: {name} needs {needs and needs[1]}")


def _parse_try(t: Any, link: dict, base, view: _View, err) -> Try:
    _require(
        isinstance(t, dict) and set(t) == {"key", "value", "look_for"}, err, 'must be {"key", "value", "look_for"}'
    )
    key, value = t["key"], t["value"]
    _require(key in view.fields, err, f"key {key!r} is not a config key")
    _check_text(t["look_for"], "look_for", err)
    try:
        moved = view.make({**link, key: value})
    except ConfigError as e:
        raise err(e.message) from e
    was = getattr(base, key)
    _require(getattr(moved, key) != was, err, f"{key} is already {was!r} in the link: a try must move its control")
    return Try(key, value, t["look_for"])


def _parse_claim(c: Any, configs: list, view: _View, err) -> Claim:
    _require(isinstance(c, dict), err, "must be an object")
    kind, kinds = c.get("kind"), view.claim_kinds
    _require(kind in kinds, err, f"kind must be one of {', '.join(kinds)}; got {kind!r}")
    required, optional, needs = kinds[kind]
    _check_text(c.get("says"), "says", err)
    on_try, tries = c.get("try"), len(configs) - 1
    ok = on_try is None or type(on_try) is int and 0 <= on_try < tries
    _require(ok, err, f"try must be the index of one of the lesson's {tries} tries; got {on_try!r}")
    params = {k: v for k, v in c.items() if k not in ("kind", "says", "try")}
    missing = sorted(set(required) - set(params))
    _require(not missing, err, f"{kind} needs {', '.join(missing)}")
    for name, value in params.items():
        want = {**required, **optional}.get(name)
        _require(want is not None, err, f"{kind} takes no parameter {name!r}")
        if isinstance(want, tuple):
            _require(value in want, err, f"{name} must be one of {', '.join(want)}; got {value!r}")
        else:
            number = want is float and type(value) in (int, float) and math.isfinite(value)
            _require(number or type(value) is want, err, f"{name} must be of type {want.__name__}; got {value!r}")
    cfg = configs[0 if on_try is None else on_try + 1]
    _require(not needs or needs[0](cfg), err, f"{kind} needs {needs and needs[1]}")
    return Claim(kind, c["says"], MappingProxyType(params), on_try)


LESSONS: tuple[Lesson, ...] = load_lessons()
_BY_ID = {lesson.id: lesson for lesson in LESSONS}


def get_lesson(lesson_id: str) -> Lesson:
    if lesson_id not in _BY_ID:
        raise KeyError(f"unknown lesson {lesson_id!r}; known lessons: {', '.join(_BY_ID)}")
    return _BY_ID[lesson_id]


def lesson_config(lesson: Lesson) -> Config | CliffConfig:
    """The lesson's setting: a :class:`Config` (view ``lab``) or a :class:`CliffConfig` (view ``cliff``)."""
    return VIEWS[lesson.view].make(dict(lesson.link))


def try_config(lesson: Lesson, i: int) -> Config | CliffConfig:
    """The lesson's link with try ``i``'s one control moved."""
    t = lesson.tries[i]
    return VIEWS[lesson.view].make({**lesson.link, t.key: t.value})


def lesson_query(lesson: Lesson) -> dict[str, str]:
    """The lesson's teaching-link query: the config's keys, the link version and ``lesson=<id>``."""
    if lesson.view == "cliff":
        return {"v": str(LINK_VERSION), **lesson_config(lesson).to_query(), "lesson": lesson.id}
    return {**lesson_config(lesson).to_query(), "lesson": lesson.id}


def lesson_path(lesson: Lesson) -> str:
    """The page a lesson's link opens."""
    return "/cliff" if lesson.view == "cliff" else "/"


# --- measuring claims -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Run:
    losses: tuple[float, ...]
    final_profile: np.ndarray  # (L, D, T)
    diverged_at: int | None
    baseline: float


_trace = functools.lru_cache(maxsize=32)(trace_config)


@functools.lru_cache(maxsize=16)
def _train(cfg: Config) -> _Run:
    trainer, steps = Trainer(cfg), []
    trainer.add_listener(steps.append)
    result = trainer.run()
    return _Run(tuple(s.loss for s in steps), steps[-1].profile, result.diverged_at, trainer.baseline["loss"])


def _ratio(grad_h_norm: np.ndarray) -> float:
    g = grad_h_norm[0, 0].astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        return float(g[0] / g[-1])


def check_claim(lesson: Lesson, claim: Claim) -> tuple[bool, str]:
    """Measure ``claim`` on the lesson's link (or its try) with trace_config or Trainer: (holds, what was measured).

    Results are memoised per config: a config is deterministic, so the same link gives the same numbers.
    """
    cfg = lesson_config(lesson) if claim.on_try is None else try_config(lesson, claim.on_try)
    p, kind = claim.params, claim.kind
    if lesson.view == "cliff":
        return check_cliff_claim(cfg, kind, p)
    if kind == "fewer_params_than":
        task = get_task(cfg.task)
        mine, other = (parameter_count(build_model(replace(cfg, cell=c), task.input_size, task.output_size))
                       for c in (cfg.cell, p["cell"]))  # fmt: skip
        return mine < other, f"{cfg.cell}: {mine} parameters, {p['cell']}: {other}"
    if kind == "diverges_without_clipping":
        at = _train(replace(cfg, clip="none")).diverged_at
        return at is not None, f"without clipping, training diverged at step {at}" if at else "it did not diverge"
    if claim.trains:
        run = _train(cfg)
        if run.diverged_at is not None:
            return False, f"training diverged at step {run.diverged_at}"
        if kind == "survives":
            ratio = _ratio(run.final_profile)
            return ratio > p["ratio_above"], f"after training, ‖∂L/∂h_0‖ / ‖∂L/∂h_T-1‖ = {ratio:.3g}"
        mean = float(np.mean(run.losses[-p["last"] :]))
        frac = mean / run.baseline
        ok = frac < p["below_baseline_fraction"] if kind == "learns" else frac > p["above_baseline_fraction"]
        return ok, f"mean of the last {p['last']} losses {mean:.4g} = {frac:.3g} × baseline {run.baseline:.4g}"
    trace = _trace(cfg)
    g, ratio = trace.grad_h_norm, _ratio(trace.grad_h_norm)
    finite = math.isfinite(trace.loss) and bool(np.isfinite(g).all())
    said = f"‖∂L/∂h_0‖ / ‖∂L/∂h_T-1‖ = {ratio:.3g}" + ("" if finite else "; the loss or a gradient is not finite")
    if kind == "explodes":
        return (not finite if p.get("not_finite") else not finite or ratio > p["ratio_above"]), said
    if kind == "vanishes":
        return finite and ratio < p["ratio_below"], said
    if kind == "survives":
        return finite and ratio > p["ratio_above"], said
    if kind == "loss_enters":
        want = (cfg.seq_len - 1,) if p["at"] == "last" else tuple(range(cfg.seq_len))
        seen = tuple(int(t) for t in np.nonzero(trace.grad_out_norm[-1, 0] > 0)[0])
        return trace.scored_steps == want and seen == want, f"scored {trace.scored_steps}, gradient enters at {seen}"
    if kind == "both_ends":
        q = max(1, cfg.seq_len // 4)
        fwd, rev = g[0, 0, :q].mean() / g[0, 0, -1], g[0, 1, -q:].mean() / g[0, 1, 0]
        ok = bool(min(fwd, rev) > p["edge_ratio_above"])
        return ok, f"forward: first quarter / last step {fwd:.3g}; reverse: last quarter / first step {rev:.3g}"
    if kind == "one_end":
        rev = g[-1, 1]
        ok = bool((rev[:-1] == 0).all() and rev[-1] > 0)
        return ok, f"the reverse direction's gradient is non-zero at steps {np.nonzero(rev)[0].tolist()}"
    if kind == "layers":
        last = g[:, 0, -1]
        ok = bool(last[0] / last[-1] < p["ratio_below"] and (np.diff(last) > 0).all())
        return ok, "at the last step, from the bottom layer up: " + ", ".join(f"{v:.3g}" for v in last)
    if kind in ("memory_open", "memory_closed"):
        product = float(trace.theory["gate_product"][0, 0, 0])
        ok = product > p["gate_product_above"] if kind == "memory_open" else product < p["gate_product_below"]
        return ok, f"gate product from step 1 to {cfg.seq_len - 1}: {product:.3g}"
    raise ValueError(f"unknown claim kind {kind!r}")
