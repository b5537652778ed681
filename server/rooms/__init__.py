"""Rooms: a presenter's page drives, followers' pages mirror it (docs/protocol.md, "Rooms")."""

from server.rooms.messages import RoomError, check_state, parse_room_message
from server.rooms.registry import Follower, Rooms
from server.rooms.socket import router


def make_rooms(settings):
    """The rooms of this process: in Redis, spanning every replica, when ``cache_url`` names one."""
    rooms = Rooms(settings)
    if settings.cache_url:
        from server.rooms.relay import RedisRelay

        rooms.relay = RedisRelay(settings.cache_url, settings, rooms.deliver)
    return rooms


__all__ = ["Follower", "RoomError", "Rooms", "check_state", "make_rooms", "parse_room_message", "router"]
