"""Who computes next: the scheduler's slots and queue, and the cost each request is priced at before it runs."""


import sys

from server.scheduling.scheduler import *

__all__ = [name for sub in ("scheduler",) for name in sys.modules[f"{__name__}.{sub}"].__all__]
