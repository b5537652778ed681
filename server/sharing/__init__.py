"""Each distinct request computed once: what names a result (keys), the single flight that
computes it, the in-process and Redis caches that keep it, and the entry format read back from Redis."""


import sys

from server.sharing.flights import *
from server.sharing.keys import *

__all__ = [name for sub in ("flights", "keys") for name in sys.modules[f"{__name__}.{sub}"].__all__]
