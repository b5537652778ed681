"""A socket's upload messages: ``model`` / ``series`` (a file or a token), ``clear_*``, and the file's binary frame.

One :class:`SocketUploads` per websocket session holds that socket's parsed model and series and
their tokens (docs/protocol.md, "Your own model").  A file is announced by a text message and sent
as the very next frame; it is parsed off the event loop (:meth:`server.uploads.Uploads.parse`) while
this socket waits for the answer, which is a ``*_loaded`` frame or one error frame with ``kind``.  When
the socket closes, :meth:`close` lets go of both uploads at once: the bytes leave the budget and, unless
the reconnect store still keeps them, the memory is freed then, not at the next garbage collection.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from engine import ConfigError
from engine.data import CheckpointError, Series, SeriesError
from server.uploads.limits import KINDS, UploadRefused, max_upload_bytes
from server.uploads.runs import shape_own
from server.uploads.service import Uploads

__all__ = ["UPLOAD_MESSAGES", "SocketUploads", "loaded_frame"]

UPLOAD_MESSAGES = ("model", "clear_model", "series", "clear_series")


def loaded_frame(fields: dict, value, **extra) -> dict:
    """The ``model_loaded`` / ``series_loaded`` frame: ``fields``, a series' raw values to plot, and ``extra``."""
    if isinstance(value, Series):
        fields = {**fields, "values": value.values.tolist()}
    return {**fields, "run": None, **extra}


class SocketUploads:
    """The uploads of one socket; ``send`` queues a frame (a dict) to it."""

    def __init__(self, uploads: Uploads, client: str, frame_cap: int, send: Callable[[dict], Awaitable[None]]):
        self.uploads, self.client, self.send = uploads, client, send
        self.frame_cap = frame_cap  # the largest binary frame the transport reads
        self.values: dict[str, object] = {kind: None for kind in KINDS}  # OwnModel / Series in use
        self.tokens: dict[str, str | None] = {kind: None for kind in KINDS}
        self.announced = None  # a model or series message whose binary frame is the next frame
        uploads.warm_soon()

    @property
    def model(self):
        return self.values["model"]

    @property
    def series(self):
        return self.values["series"]

    def cap(self, kind: str) -> int:
        return min(max_upload_bytes(self.uploads.settings, kind), self.frame_cap)

    async def refuse(self, error: UploadRefused) -> None:
        await self.send(error.frame())

    # -- frames ------------------------------------------------------------------------------------------------

    async def binary(self, data: bytes) -> None:
        """A binary frame: the announced file, or an error when none was announced."""
        announced, self.announced = self.announced, None
        if announced is None:
            await self.send({"type": "error", "run": None, "field": None,
                             "message": "binary frames are not accepted; send JSON text"})
        elif announced.size <= self.cap(announced.type):  # one over the cap was refused when announced
            await self.take_file(announced, data)

    async def text(self) -> None:
        """A text frame arrived: a file announced just before it did not come."""
        announced, self.announced = self.announced, None
        if announced is not None and announced.size <= self.cap(announced.type):
            await self.refuse(UploadRefused(announced.type, f"expected the {announced.type} file as a binary frame "
                                                            f"after the {announced.type} message", announced.type))

    async def message(self, msg) -> None:
        """A ``model``/``series`` (file announced or token) or ``clear_*`` message."""
        if msg.type.startswith("clear_"):
            kind = msg.type.removeprefix("clear_")
            self.keep(kind, None, None)
            await self.send({"type": f"{kind}_cleared", "run": None})
            return
        if msg.token is not None:
            await self.resume(msg.type, msg.token)
            return
        self.announced = msg  # the next frame is its file; one over the cap is read and dropped
        if msg.size > self.cap(msg.type):
            await self.refuse(UploadRefused(msg.type, f"the {msg.type} file is {msg.size:,} bytes; at most "
                                                      f"{self.cap(msg.type):,} are allowed over the socket",
                                            "bytes", status=413))

    async def take_file(self, announced, data: bytes) -> None:
        kind = announced.type
        if len(data) != announced.size:
            await self.refuse(UploadRefused(kind, f"the binary frame has {len(data):,} bytes; the {kind} message "
                                                  f"announced {announced.size:,}", "bytes"))
            return
        try:
            value, fields, size = await self.uploads.parse(
                kind, data, self.client, column=announced.column, nonlinearity=announced.nonlinearity,
                max_bytes=self.cap(kind))
        except UploadRefused as e:
            await self.refuse(e)
            return
        token = self.uploads.store.put(kind, value, fields, size, self.client)
        self.keep(kind, value, token, held=True)
        await self.send(loaded_frame(fields, value, token=token, resumed=False))

    async def resume(self, kind: str, token: str) -> None:
        """A reconnecting page names its upload by token: the kept one, or ``upload_expired`` (send the file)."""
        kept = self.uploads.store.take(token, kind)
        if kept is None:
            await self.send({"type": "upload_expired", "kind": kind, "run": None})
            return
        self.keep(kind, kept.value, token)
        await self.send(loaded_frame(kept.fields, kept.value, token=token, resumed=True))

    def keep(self, kind: str, value, token: str | None, held: bool = False) -> None:
        """This socket's upload of ``kind`` is now ``value`` under ``token``; the previous one is let go.

        ``held``: ``value`` is already counted for this socket (a fresh parse); else this socket holds it now.
        """
        if self.tokens[kind] != token:
            self.uploads.store.revoke(self.tokens[kind])
        if value is not None and not held:
            kept = self.uploads.store.entries.get(token) if token else None
            self.uploads.budget.hold(value, kept.size if kept else 0, self.client)
        self.uploads.release(self.values[kind])
        self.tokens[kind], self.values[kind] = token, value

    def for_run(self, config):
        """(config shaped by the uploads, (checkpoint, series) or None) for a run; raises UploadRefused.

        A run uses the uploads' tokens, so they are not idle in the store.
        """
        if self.model is None and self.series is None:
            return config, None
        try:
            config, ckpt = shape_own(config, self.model, self.series)
        except ConfigError as e:
            raise UploadRefused("model" if self.model is not None else "series", e.message, e.field) from None
        except SeriesError as e:
            raise UploadRefused("series", e.message, "seq_len" if e.column == "seq_len" else "series") from None
        except CheckpointError as e:
            raise UploadRefused("model", e.message, "model") from None
        for token in self.tokens.values():
            self.uploads.store.touch(token)
        return config, (ckpt, self.series)

    def close(self) -> None:
        """The socket is gone: let go of its uploads (their tokens stay in the store for a reconnect), and of ``send``,
        the session's own method, so the two no longer hold each other."""
        self.announced = self.send = None
        for kind in KINDS:
            self.uploads.release(self.values[kind])
            self.values[kind] = None
