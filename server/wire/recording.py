"""Wire-ready frames that carry no run number, so one encoding serves every socket.

Every result the server computes (a run's frames, a training run's stream, a ``/api/trace``
document) is a sequence of :class:`Unit`: a JSON text without ``"run"`` and, for forward and
backward frames, the binary frame that must follow it.  A socket labels each text with its own
run number as it sends it (:meth:`Unit.text_for`); the bytes, which hold almost all of a
recording, are shared by every socket and the cache and never copied.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["Recording", "Unit", "recorded_rows"]


@dataclass(frozen=True, slots=True)
class Unit:
    text: str | None  # a JSON object's text without "run" ('{"type":"forward",...}'), or None
    data: bytes | None = None  # the binary frame that follows the text (or a whole document)

    def text_for(self, run: int | None) -> str:
        """The text frame as run ``run`` sends it: ``"run"`` first, then the recorded keys.

        The text must be a JSON object's: the server's encoders write nothing else, and a recording from
        the shared cache is checked to be so before anything uses it (server/sharing/entry.py).
        """
        if not self.text or self.text[0] != "{":
            raise ValueError("a recorded text frame is not a JSON object")
        head = "null" if run is None else str(int(run))
        return '{"run":' + head + ("," + self.text[1:] if self.text != "{}" else "}")

    @property
    def nbytes(self) -> int:
        return (len(self.text) if self.text is not None else 0) + (len(self.data) if self.data is not None else 0)


@dataclass(frozen=True)
class Recording:
    """A finished result: the units in send order, and their size for the cache's byte budget."""

    units: tuple[Unit, ...]
    nbytes: int

    @classmethod
    def of(cls, units: Sequence[Unit]) -> Recording:
        units = tuple(units)
        return cls(units, sum(u.nbytes for u in units))


def recorded_rows(units: Sequence[Unit]) -> list[list[str | None]]:
    """``units`` as JSON rows ``[text, base64 binary | None]``: the form a page replays without a server
    (the static export's recordings, a notebook's display; static/js/frames.js RecordedSource)."""
    return [[u.text, None if u.data is None else base64.b64encode(u.data).decode("ascii")] for u in units]
