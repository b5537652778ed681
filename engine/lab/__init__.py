"""The app's experiment: one config's model, batch, trace, clipping and theory; training; sweeps; the cliff."""


import sys

from engine.lab.cliff import *
from engine.lab.experiment import *
from engine.lab.sweep import *
from engine.lab.theory import *
from engine.lab.training import *

_MODULES = ("cliff", "experiment", "sweep", "theory", "training")  # whose __all__ this package re-exports
__all__ = [name for sub in _MODULES for name in sys.modules[f"{__name__}.{sub}"].__all__]
