"""The lessons: the catalogue (lessons.json), the pages a lesson can open on, and every stated number
measured."""


import sys

from engine.lessons.catalogue import *
from engine.lessons.cliff import *
from engine.lessons.lab import *
from engine.lessons.numbers import *
from engine.lessons.pages import *
from engine.lessons.sweep import *

_MODULES = ("catalogue", "cliff", "lab", "numbers", "pages", "sweep")  # whose __all__ this package re-exports
__all__ = [name for sub in _MODULES for name in sys.modules[f"{__name__}.{sub}"].__all__]
