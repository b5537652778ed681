"""Client -> server websocket messages: parsing and validation.

Every way a message can be wrong ends in one :class:`ProtocolError` carrying a
readable message and, where one key is to blame, its name (``field``).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

from engine import Config, ConfigError
from engine.config import RepeatedKey, quote
from engine.lab import Sweep
from server.wire.encoding import loads_strict, nesting_too_deep

__all__ = ["Message", "ProtocolError", "parse_message"]

MESSAGE_TYPES = ("run", "train", "sweep", "stop", "model", "clear_model", "series", "clear_series", "prefetch")
# The requests: each takes the socket's next run number, and an error in one answers that run.
REQUESTS = ("run", "train", "sweep")
# Keys each message type may carry besides "type".
ALLOWED_KEYS = {"run": {"config", "lag"}, "train": {"config", "lag"}, "sweep": {"sweep"}, "stop": set(),
                "model": {"bytes", "nonlinearity", "token"}, "clear_model": set(),
                "series": {"bytes", "column", "token"}, "clear_series": set(), "prefetch": {"configs", "lag"}}
# Settings one prefetch message may name: a slider's nearest neighbours, not a sweep of its range.
MAX_PREFETCH = 4
# A token of server/uploads/store.py: secrets.token_urlsafe(16) is 22 characters; anything longer is not one.
MAX_TOKEN_CHARS = 64


class ProtocolError(ValueError):
    """A client message that is not allowed; ``field`` names the key to blame, or is None.

    ``request`` is 'run', 'train' or 'sweep' when the message was recognisably one of those (its
    "type" said so): such a request still takes a run number, and the error answers it.
    """

    def __init__(self, message: str, field: str | None = None, request: str | None = None):
        super().__init__(message)
        self.message = message
        self.field = field
        self.request = request


@dataclass(frozen=True)
class Message:
    type: str  # 'run' | 'train' | 'sweep' | 'stop' | 'model' | 'clear_model'
    config: Config | None = None  # for run and train
    size: int | None = None  # model: bytes of the binary frame that follows
    nonlinearity: str | None = None  # model: a vanilla RNN's, which the file cannot tell
    column: str | int | None = None  # series: the CSV column, a header name or a 0-based index
    token: str | None = None  # model/series: resume the upload kept under this token instead of a file
    lag: bool = False  # run, train: add the lag map (engine/tracing/lagmap.py) to the trace, to each profiled step
    configs: tuple[Config, ...] = ()  # prefetch: the settings to compute into the cache, nearest first
    sweep: Sweep | None = None  # sweep: its points (engine/lab/sweep.py)


def _size(text: str) -> int:
    return len(text.encode("utf-8"))


# A room's followers send the same text at once (each page asks for the presenter's setting as its link would), as
# do the students of a lesson: the checked Message of a recent text is kept (it is immutable), so the check runs once
# for the room.  Bounded: RECENT_TEXTS texts of at most RECENT_TEXT_CHARS characters; a refused text is never kept.
RECENT_TEXTS = 256
RECENT_TEXT_CHARS = 4096


def parse_message(text: str, max_bytes: int, max_depth: int) -> Message:
    """Validate one text frame; raise :class:`ProtocolError` for anything not allowed."""
    if len(text) <= RECENT_TEXT_CHARS:
        return _checked_recently(text, max_bytes, max_depth)
    return _check(text, max_bytes, max_depth)


@functools.lru_cache(maxsize=RECENT_TEXTS)
def _checked_recently(text: str, max_bytes: int, max_depth: int) -> Message:
    return _check(text, max_bytes, max_depth)


def _check(text: str, max_bytes: int, max_depth: int) -> Message:
    if len(text) > max_bytes or _size(text) > max_bytes:
        raise ProtocolError(f"message is {_size(text)} bytes; at most {max_bytes} are accepted")
    try:
        data = loads_strict(text)
    except RecursionError:
        raise ProtocolError(
            f"message is nested too deeply; at most {max_depth} levels of arrays and objects are accepted"
        ) from None
    except RepeatedKey as e:
        raise ProtocolError(f"message {e.message}", e.field) from None
    except ValueError as e:
        raise ProtocolError(f"message is not valid JSON: {e}") from None
    deep = nesting_too_deep(data, max_depth)
    if deep is not None:
        # Blame the config key when the deep value sits under "config", else the top-level key.
        field = deep[1] if len(deep) > 1 and deep[0] == "config" else (deep[0] if deep else None)
        where = ".".join(deep[:2]) if field is not None and deep[0] == "config" else (field or "message")
        request = data.get("type") if isinstance(data, dict) and data.get("type") in REQUESTS else None
        raise ProtocolError(
            f"{where} is nested too deeply; at most {max_depth} levels of arrays and objects are accepted",
            field,
            request,
        )
    return validate_message(data)


def validate_message(data: Any) -> Message:
    if not isinstance(data, dict):
        raise ProtocolError(
            f'message must be a JSON object such as {{"type": "run", "config": {{...}}}}; got a JSON {_json_kind(data)}'
        )
    if "type" not in data:
        raise ProtocolError('message has no "type"; expected one of ' + ", ".join(MESSAGE_TYPES), "type")
    kind = data["type"]
    if not isinstance(kind, str) or kind not in MESSAGE_TYPES:
        raise ProtocolError(f"unknown message type {quote(kind)}; expected one of {', '.join(MESSAGE_TYPES)}", "type")
    request = kind if kind in REQUESTS else None
    unknown = sorted(str(k) for k in data if k != "type" and k not in ALLOWED_KEYS[kind])
    if unknown:
        allowed = ", ".join(sorted(ALLOWED_KEYS[kind])) or "nothing"
        raise ProtocolError(
            f"unknown key {quote(unknown[0])} in a {kind!r} message; it may carry {allowed}", unknown[0], request
        )
    if kind in ("stop", "clear_model", "clear_series"):
        return Message(kind)
    if kind in ("model", "series"):
        return _upload_message(kind, data)
    if kind == "prefetch":
        return _prefetch_message(data)
    if kind == "sweep":
        try:
            return Message(kind, sweep=Sweep.from_dict(data.get("sweep")))
        except ConfigError as e:
            raise ProtocolError(e.message, e.field, request) from None
    raw = data.get("config", {})
    if not isinstance(raw, dict):
        raise ProtocolError(
            f"config must be an object of key: value pairs; got a JSON {_json_kind(raw)}", "config", request
        )
    try:
        config = Config.from_dict(raw)
    except ConfigError as e:
        raise ProtocolError(e.message, e.field, request) from None
    return Message(kind, config, lag=_lag(data, request))


def _lag(data: dict, request: str | None) -> bool:
    lag = data.get("lag", False)
    if not isinstance(lag, bool):
        raise ProtocolError(f"lag must be true or false (whether to add the lag map); got {quote(lag)}", "lag", request)
    return lag


def _prefetch_message(data: dict) -> Message:
    raw = data.get("configs")
    if not isinstance(raw, list) or not 1 <= len(raw) <= MAX_PREFETCH:
        got = f"{len(raw)} of them" if isinstance(raw, list) else f"a JSON {_json_kind(raw)}"
        raise ProtocolError(f"configs must be an array of 1 to {MAX_PREFETCH} config objects; got {got}", "configs")
    configs = []
    for i, c in enumerate(raw):
        if not isinstance(c, dict):
            raise ProtocolError(f"configs[{i}] must be an object of key: value pairs; got a JSON {_json_kind(c)}",
                                "configs")  # fmt: skip
        try:
            configs.append(Config.from_dict(c))
        except ConfigError as e:
            raise ProtocolError(f"configs[{i}]: {e.message}", e.field) from None
    return Message("prefetch", configs=tuple(configs), lag=_lag(data, None))


def _upload_message(kind: str, data: dict) -> Message:
    if "token" in data:
        token = data["token"]
        if "bytes" in data:
            raise ProtocolError(f"a {kind!r} message carries either bytes (a file follows) or token, not both", "token")
        if not isinstance(token, str) or not 0 < len(token) <= MAX_TOKEN_CHARS:
            raise ProtocolError(f"token must be the string a {kind}_loaded frame gave, at most {MAX_TOKEN_CHARS} "
                                f"characters; got {quote(token, 80)}", "token")
        return Message(kind, token=token)
    size = data.get("bytes")
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise ProtocolError(f"bytes must be the {kind} file's size, a positive integer; got {quote(size)}", "bytes")
    if kind == "series":
        column = data.get("column")
        if column is not None and (isinstance(column, bool) or not isinstance(column, (str, int))):
            raise ProtocolError(f"column must be a header name or a 0-based index; got {quote(column)}", "column")
        return Message("series", size=size, column=column)
    nonlinearity = data.get("nonlinearity")
    if nonlinearity is not None and nonlinearity not in ("tanh", "relu"):
        raise ProtocolError(f"nonlinearity must be 'tanh' or 'relu'; got {quote(nonlinearity)}", "nonlinearity")
    return Message("model", size=size, nonlinearity=nonlinearity)


def _json_kind(value: Any) -> str:
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    if isinstance(value, str):
        return "string"
    if isinstance(value, bool):
        return "boolean"
    if value is None:
        return "null"
    return "number"
