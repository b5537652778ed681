"""The pages a lesson can open, each described the same way.

A lesson names its page with ``view`` (:mod:`engine.lessons`): ``"lab"``, the main page, whose link is made of
:data:`engine.config.space.FIELDS` keys (:mod:`engine.lessons.lab`), or ``"cliff"``, the cliff page, whose link is made
of :data:`engine.lab.cliff.CLIFF_FIELDS` keys (:mod:`engine.lessons.cliff`).  What differs between the pages is
data in a :class:`LessonPage`, so the loader, the claim checker and the server never ask which page a lesson is on.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from engine.config import Field

__all__ = ["LessonPage"]


@dataclass(frozen=True)
class LessonPage:
    """What a lesson's link, tries, claims and placeholders are made of on the page it opens."""

    name: str  # the lesson's ``view``
    path: str  # the page's address: '/' or '/cliff'
    make: Callable[[Mapping[str, Any]], Any]  # link keys (JSON values) -> a validated setting; raises ConfigError
    fields: Mapping[str, Field]  # the page's table, by key
    # kind -> (required parameters, optional parameters, what the measured setting needs or None).  A parameter's
    # spec is a type or a tuple of the allowed strings.  Every claim also has "says" and may have "try".
    claim_kinds: Mapping[str, tuple[dict[str, Any], dict[str, Any], tuple | None]]
    measures: Mapping[str, tuple | None]  # placeholder -> what the measured setting needs, or None
    check: Callable[[Any, str, Mapping[str, Any]], tuple[bool, str]]  # (setting, kind, params) -> (holds, said)
    views: tuple[str, ...] = ()  # what a link's ``view`` may open on this page (the lab's: engine.config.VIEWS)
