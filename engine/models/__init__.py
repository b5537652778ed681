"""The recurrent networks: the cells' equations (:mod:`engine.models.cells`) and the app's models built
and initialised from a config (:mod:`engine.models.network`)."""


import sys

from engine.models.cells import *
from engine.models.network import *

__all__ = [name for sub in ("cells", "network") for name in sys.modules[f"{__name__}.{sub}"].__all__]
