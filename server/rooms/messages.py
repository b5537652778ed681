"""Room messages (docs/protocol.md, "Rooms"): what a room socket's client may send, checked before it is used.

A follow frame carries the presenter's *settings* (the link's query, the playback step, the lesson step, the
enlarged view), never computed data: each follower asks for its trace as a link would.  Every message, from a
client or from Redis, is checked here: its size before it is parsed, then its shape, then each value.
"""

from __future__ import annotations

import re
from typing import Any

from engine.config import RepeatedKey, quote
from server.wire.encoding import loads_strict

# Ids and secrets are secrets.token_urlsafe(16) / (32): 22 / 43 characters of the URL-safe alphabet.
TOKEN = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
# A link's query: "?" then the printable ASCII a URL's query carries (no spaces, no quotes that could break out of
# markup, no "#": the follow link's fragment is the follower page's own).
QUERY = re.compile(r"^(\?[A-Za-z0-9._~:/?@!$&()*+,;=%-]*)?$")
VIEW_ID = re.compile(r"^[a-z][a-z0-9-]{0,39}$")
MAX_QUERY_CHARS = 2048
MAX_STEP = 1_000_000  # the player's cursor runs over 0..2T; T is far below this
MAX_LESSON_STEP = 16

# Each field of a follow frame's state: what it must be, as the error says it.
STATE_FIELDS = ("query", "step", "playing", "lesson_step", "enlarged")
MESSAGE_KEYS = {"join": {"room", "secret"}, "set": {"state"}}


class RoomError(ValueError):
    """A room message or request that is not allowed; ``field`` names the key to blame, or is None."""

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.message = message
        self.field = field

    def frame(self) -> dict[str, Any]:
        return {"type": "error", "field": self.field, "message": self.message}


def parse_json_object(text: str | bytes, max_bytes: int, what: str = "message") -> dict:
    """``text`` as a JSON object, its size checked before it is parsed (4 KB of JSON nests only so deep)."""
    if len(text) > max_bytes:
        raise RoomError(f"{what} is {len(text)} bytes; at most {max_bytes} are accepted")
    try:
        data = loads_strict(text)
    except RecursionError:
        raise RoomError(f"{what} is nested too deeply") from None
    except RepeatedKey as e:
        raise RoomError(f"{what} {e.message}", e.field) from None
    except ValueError as e:
        raise RoomError(f"{what} is not valid JSON: {e}") from None
    if not isinstance(data, dict):
        raise RoomError(f'{what} must be a JSON object such as {{"type": "join", "room": "..."}}')
    return data


def parse_room_message(text: str | bytes, max_bytes: int) -> dict:
    """One client message: ``{"type": "join", "room", "secret"?}`` or ``{"type": "set", "state": {...}}``."""
    data = parse_json_object(text, max_bytes)
    kind = data.get("type")
    if kind not in MESSAGE_KEYS:
        raise RoomError(f"unknown message type {quote(kind)}; expected join or set", "type")
    unknown = sorted(str(k) for k in data if k != "type" and k not in MESSAGE_KEYS[kind])
    if unknown:
        raise RoomError(f"unknown key {quote(unknown[0])} in a {kind!r} message; it may carry "
                        f"{', '.join(sorted(MESSAGE_KEYS[kind]))}", unknown[0])
    if kind == "join":
        return {"type": "join", "room": token(data.get("room"), "room"),
                "secret": None if data.get("secret") is None else token(data["secret"], "secret")}
    return {"type": "set", "state": check_state(data.get("state"))}


def token(value: Any, field: str) -> str:
    if not isinstance(value, str) or not TOKEN.match(value):
        raise RoomError(f"{field} must be the room's {field} (16 to 64 letters, digits, - or _); got "
                        f"{quote(value)}", field)
    return value


def check_state(state: Any) -> dict[str, Any]:
    """A presenter's state, every field present and in range (the error names ``state.<field>``)."""
    if not isinstance(state, dict):
        raise RoomError(f"state must be an object with {', '.join(STATE_FIELDS)}", "state")
    for key in state:
        if key not in STATE_FIELDS:
            name = f"state.{str(key)[:40]}"
            raise RoomError(f"{name} is not a key of a follow state: it carries settings only "
                            f"({', '.join(STATE_FIELDS)})", name)
    for key in STATE_FIELDS:
        if key not in state:
            raise RoomError(f"state.{key} is missing", f"state.{key}")
    query = state["query"]
    if not isinstance(query, str) or len(query) > MAX_QUERY_CHARS or not QUERY.match(query):
        raise RoomError(f"state.query must be a link's query ('?' then at most {MAX_QUERY_CHARS} URL characters); "
                        f"got {quote(query)}", "state.query")
    _integer(state, "step", MAX_STEP)
    _integer(state, "lesson_step", MAX_LESSON_STEP)
    if not isinstance(state["playing"], bool):
        raise RoomError(f"state.playing must be true or false; got {quote(state['playing'])}", "state.playing")
    enlarged = state["enlarged"]
    if enlarged is not None and (not isinstance(enlarged, str) or not VIEW_ID.match(enlarged)):
        raise RoomError("state.enlarged must be null or a view's id (a-z, 0-9, -; at most 40 characters); got "
                        f"{quote(enlarged)}", "state.enlarged")
    return {key: state[key] for key in STATE_FIELDS}


def _integer(state: dict, key: str, high: int) -> None:
    value = state[key]
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= high:
        raise RoomError(f"state.{key} must be an integer in [0, {high}]; got {quote(value)}", f"state.{key}")
