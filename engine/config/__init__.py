"""The settings tables: what one key is (:class:`Field`), the model's table (:data:`FIELDS`) and the
validated point of the model space (:class:`Config`), read from links by one strict parser."""


import sys

from engine.config.fields import *
from engine.config.space import *
from engine.config.table import *

__all__ = [name for sub in ("fields", "space", "table") for name in sys.modules[f"{__name__}.{sub}"].__all__]
