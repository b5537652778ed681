"""What protects the people who use the lab: response headers, the Origin and Host rules, and the limits on
what one client address may hold of the connections."""


import sys

from server.guard.connections import *
from server.guard.headers import *

__all__ = [name for sub in ("connections", "headers") for name in sys.modules[f"{__name__}.{sub}"].__all__]
