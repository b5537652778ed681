"""Lessons: a teaching link, a short explanation, a prediction to make, things to try, and claims we check.

The lessons are data, in ``lessons.json`` next to this module.  Each one has

- ``id`` (a slug such as ``vanishing-gradients``), ``title``, ``topic`` (one of :data:`TOPICS`), ``summary``;
- ``link``: the config keys that differ from the defaults, exactly as a teaching link writes them, and optionally
  ``view``, the view the link opens the page on (one of its page's ``views``: the lab's are
  :data:`engine.config.VIEWS`, e.g. ``"lag"``, the lag map), written back into the lesson's link;
- ``explanation`` (2 to 4 paragraphs), ``analogy``, ``equation`` and ``equation_says`` (the equation in words);
- ``question`` and ``answer``: "predict, then press play", the answer shown after;
- ``tries``: 2 or 3 suggestions ``{"key", "value", "look_for"}``, each moving one control of the link;
- ``claims``: ``{"kind", "says", ...}``, a statement about what the link (or, with ``"try": i``, the link after
  try i) shows, which :func:`check_claim` measures with its page's checker; the page lists the kinds and their
  parameters (the lab's: :data:`engine.lessons.lab.CLAIM_KINDS`);
- optionally ``view``: the page the link opens, a key of :data:`PAGES`: ``"lab"`` (the default, the main page
  ``/``, :mod:`engine.lessons.lab`), ``"cliff"`` (the page ``/cliff``, :mod:`engine.lessons.cliff`) or ``"sweep"``
  (the page ``/sweep``, whose link is a sweep's, :mod:`engine.lessons.sweep`).  The page
  says what the link, tries, claims and placeholders are made of; nothing else depends on which page it is.

Text is plain Unicode with no markup: every string is one paragraph, equations are written out (``‖∂L/∂h_t‖``).
A number the link measures is written as a placeholder, ``{measure}`` or ``{measure@i}`` for the link after try
i (the page's ``measures``); :func:`engine.lessons.numbers.render_lesson` fills it from that exact setting.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

from engine.config import ConfigError, quote
from engine.lessons.cliff import CLIFF_PAGE
from engine.lessons.lab import LAB_PAGE, claim_trains
from engine.lessons.pages import LessonPage
from engine.lessons.sweep import SWEEP_PAGE

__all__ = ["LESSONS", "TOPICS", "Lesson", "lesson_config", "lesson_path", "lesson_query", "try_config", "try_query"]

LESSONS_PATH = Path(__file__).with_name("lessons.json")

# The syllabus: every topic has at least one lesson.
TOPICS = ("architectures", "vanishing", "exploding", "clipping", "lstm", "gru", "bidirectional", "deep", "practice")

PLACEHOLDER = re.compile(r"\{([a-z_]+)(?:@(\d+))?\}")


# Every page a lesson can open, by the name a lesson's "view" gives it.
PAGES: dict[str, LessonPage] = {page.name: page for page in (LAB_PAGE, CLIFF_PAGE, SWEEP_PAGE)}
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
    kind: str  # one of its page's claim_kinds
    says: str  # the claim in one line, for people
    params: MappingProxyType  # the kind's parameters
    on_try: int | None  # measure the link after try i instead of the link itself

    @property
    def trains(self) -> bool:
        """Whether measuring the claim needs training (the Trainer) rather than one trace."""
        return claim_trains(self.kind, self.params)


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
    view: str = "lab"  # the page the link opens: a key of PAGES
    link_view: str | None = None  # the link's `view` key: the view that page opens on (its page's views), or None

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
    _require(view_name in PAGES, err, f"view must be one of {', '.join(PAGES)}; got {view_name!r}")
    view = PAGES[view_name]
    _require(item["topic"] in TOPICS, err, f"topic must be one of {', '.join(TOPICS)}; got {item['topic']!r}")
    paragraphs = item["explanation"]
    ok = isinstance(paragraphs, list) and 2 <= len(paragraphs) <= 4
    _require(ok, err, "explanation must be a list of 2 to 4 paragraphs")
    for name, text in [(name, item[name]) for name in _TEXT] + [("explanation", p) for p in paragraphs]:
        _check_text(text, name, err)
    link, tries, claims = item["link"], item["tries"], item["claims"]
    _require(isinstance(link, dict), err, "link must be an object of config keys")
    link = dict(link)
    link_view = link.pop("view", None)
    if link_view is not None:
        _require(view.views, err, f"link: view: the {view_name} page has no views to open")
        _require(link_view in view.views, err, f"link: view must be one of {', '.join(view.views)}; "
                 f"got {quote(link_view)}")
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
    return Lesson(id=item["id"], topic=item["topic"], link=MappingProxyType(link), view=view_name, link_view=link_view,
                  explanation=tuple(paragraphs), tries=tries, claims=claims, **text)  # fmt: skip


def _check_text(value: Any, name: str, err) -> None:
    _require(isinstance(value, str) and value.strip(), err, f"{name} must be non-empty text")
    markup = "\n" in value or any(m in value for m in ("**", "`", "](")) or value.lstrip().startswith("#")
    _require(not markup, err, f"{name} must be plain text, one paragraph, without markup: {value[:40]!r}")


def _check_placeholders(text: str, configs: list, view: LessonPage, err) -> None:
    for m in PLACEHOLDER.finditer(text):
        name, on_try = m.group(1), m.group(2)
        known = view.measures
        _require(name in known, err, f"{m.group(0)}: measure must be one of {', '.join(known)}")
        ok = on_try is None or int(on_try) < len(configs) - 1
        _require(ok, err, f"{m.group(0)}: try must be the index of one of the lesson's {len(configs) - 1} tries")
        cfg, needs = configs[0 if on_try is None else int(on_try) + 1], known[name]
        _require(not needs or needs[0](cfg), err, f"{m.group(0)}: {name} needs {needs and needs[1]}")


def _parse_try(t: Any, link: dict, base, view: LessonPage, err) -> Try:
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


def _parse_claim(c: Any, configs: list, view: LessonPage, err) -> Claim:
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


def lesson_config(lesson: Lesson) -> Any:
    """The lesson's setting, as its page makes it (a :class:`engine.config.space.Config` on the lab page)."""
    return PAGES[lesson.view].make(dict(lesson.link))


def try_config(lesson: Lesson, i: int) -> Any:
    """The lesson's link with try ``i``'s one control moved."""
    t = lesson.tries[i]
    return PAGES[lesson.view].make({**lesson.link, t.key: t.value})


def lesson_query(lesson: Lesson) -> dict[str, str]:
    """The lesson's teaching-link query: the link version, the setting's keys, ``lesson=<id>`` and its ``view``."""
    return _with_page_keys(lesson, lesson_config(lesson).to_query())


def try_query(lesson: Lesson, i: int) -> dict[str, str]:
    """The link of try ``i``: the lesson's with that try's one control moved."""
    return _with_page_keys(lesson, try_config(lesson, i).to_query())


def _with_page_keys(lesson: Lesson, query: dict[str, str]) -> dict[str, str]:
    # The page's keys after the setting's, in engine.config.PAGE_KEYS order, as the page writes its link.
    return {**query, "lesson": lesson.id, **({"view": lesson.link_view} if lesson.link_view else {})}


def lesson_path(lesson: Lesson) -> str:
    """The page a lesson's link opens."""
    return PAGES[lesson.view].path


def check_claim(lesson: Lesson, claim: Claim) -> tuple[bool, str]:
    """Measure ``claim`` on the lesson's link (or its try) with its page's checker: (holds, what was measured).

    Results are memoised per setting: a setting is deterministic, so the same link gives the same numbers.
    """
    cfg = lesson_config(lesson) if claim.on_try is None else try_config(lesson, claim.on_try)
    return PAGES[lesson.view].check(cfg, claim.kind, claim.params)
