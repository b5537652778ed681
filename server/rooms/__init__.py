"""Rooms: a presenter's page drives, followers' pages mirror it (docs/protocol.md, "Rooms")."""

from server.rooms.messages import RoomError, check_state, parse_room_message
from server.rooms.registry import Follower, Rooms
from server.rooms.socket import router
from server.rooms.warm import trace_warmer


def make_rooms(settings, sharing=None):
    """The rooms of this process: in Redis, spanning every replica, when ``cache_url`` names one.  With
    ``sharing`` (the hub's single flight and cache), each follow frame starts tracing its setting (warm.py)."""
    rooms = Rooms(settings, warm=trace_warmer(sharing, settings.max_trace_seconds) if sharing is not None else None)
    if settings.cache_url:
        from server.rooms.relay import RedisRelay

        rooms.relay = RedisRelay(settings.cache_url, settings, rooms.deliver)
    return rooms


__all__ = ["Follower", "RoomError", "Rooms", "check_state", "make_rooms", "parse_room_message", "router"]
