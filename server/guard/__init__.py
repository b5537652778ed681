"""What protects the people who use the lab: response headers, the Origin and Host rules, and the limits on
what one client address may hold of the connections."""


from server.guard.connections import GuardedHttp, GuardedWebSocket
from server.guard.headers import SecurityHeaders, TrustedHosts, normalise_origin, origin_allowed

__all__ = [
    "GuardedHttp", "GuardedWebSocket", "SecurityHeaders", "TrustedHosts", "normalise_origin", "origin_allowed",
]
