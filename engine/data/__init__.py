"""Tasks and data: the lab's tasks (numbers and sentences), a user's series as a forecasting task, and
a user's own model's weights read into the app's models."""


import sys

from engine.data.checkpoint import *
from engine.data.layout import *
from engine.data.series import *
from engine.data.tasks import *
from engine.data.word_tasks import *

_MODULES = ("checkpoint", "layout", "series", "tasks", "word_tasks")  # whose __all__ this package re-exports
__all__ = [name for sub in _MODULES for name in sys.modules[f"{__name__}.{sub}"].__all__]
