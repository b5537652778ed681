"""The byte budget of every upload this process holds: by sockets, by parses in flight, by the reconnect store.

Memory a client can make the server hold is bounded by settings, not by luck: a file is counted from
the moment its bytes arrive (a *reservation* while it is parsed) until nothing holds what was parsed
from it.  A parsed upload is often held twice (the socket that uses it and the store that keeps it for
a reconnect); it is counted once, for as long as either holds it.  Two caps: ``max_bytes`` for the
whole process and ``client_bytes`` for one client (its peer address), so one address cannot take the
room of a class.  A file that does not fit is refused at once (503, "try again") before it is parsed.
"""

from __future__ import annotations

from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from server.uploads.limits import UploadRefused

__all__ = ["UploadBudget"]


@dataclass
class _Held:
    value: Any
    size: int
    client: str
    holders: int


class UploadBudget:
    """Bytes reserved and held, in total and per client; see the module docstring."""

    def __init__(self, max_bytes: int, client_bytes: int):
        self.max_bytes, self.client_bytes = max_bytes, client_bytes
        self.used = 0
        self.by_client: Counter[str] = Counter()
        self.held: dict[int, _Held] = {}  # id(value) -> what holding it costs
        self.refused = 0  # files refused for room, for /healthz and tests

    def check_room(self, kind: str, client: str, size: int) -> None:
        """Raise :class:`UploadRefused` (503) when ``size`` more bytes would not fit."""
        if size <= 0:
            return
        mine = self.by_client[client]
        if self.used + size > self.max_bytes or mine + size > self.client_bytes:
            self.refused += 1
            whose = (f"your uploads already hold {mine:,} of the {self.client_bytes:,} bytes one client may "
                     "(GFL_UPLOAD_CLIENT_BYTES): clear one, or close another tab"
                     if mine + size > self.client_bytes else
                     f"uploads already hold {self.used:,} of the {self.max_bytes:,} bytes this server keeps for "
                     "them (GFL_UPLOAD_BUDGET_BYTES): try again in a few minutes")
            raise UploadRefused(kind, f"the {kind} file ({size:,} bytes) was not read: {whose}", "bytes", status=503)

    def _add(self, client: str, size: int) -> None:
        self.used += size
        self.by_client[client] += size

    def _remove(self, client: str, size: int) -> None:
        self.used -= size
        self.by_client[client] -= size
        if self.by_client[client] <= 0:
            del self.by_client[client]

    @contextmanager
    def reserving(self, kind: str, client: str, size: int):
        """Count ``size`` bytes (a file being parsed) for the duration of the block, or refuse it up front."""
        self.check_room(kind, client, size)
        self._add(client, size)
        try:
            yield
        finally:
            self._remove(client, size)

    def hold(self, value: Any, size: int, client: str) -> None:
        """One more holder of ``value``; its ``size`` bytes are counted while it has any."""
        held = self.held.get(id(value))
        if held is not None and held.value is value:
            held.holders += 1
            return
        self.held[id(value)] = _Held(value, size, client, 1)
        self._add(client, size)

    def drop(self, value: Any) -> None:
        """One holder fewer; the bytes are released with the last one (and the value with them)."""
        held = self.held.get(id(value))
        if held is None or held.value is not value:
            return
        held.holders -= 1
        if held.holders <= 0:
            del self.held[id(value)]
            self._remove(held.client, held.size)

    def report(self) -> dict:
        return {"bytes": self.used, "max_bytes": self.max_bytes, "uploads": len(self.held),
                "clients": len(self.by_client), "refused": self.refused}
