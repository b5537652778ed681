"""Exact traces: per-timestep gradients of fused modules (:mod:`~engine.tracing.fused`), of every recurrence
in a whole model (:mod:`~engine.tracing.submodules`, :mod:`~engine.tracing.recurrence`), the
encoder-decoder across its handoff, the lag map, and the saved trace file."""


import sys

from engine.tracing._subnormal import *
from engine.tracing.fused import *
from engine.tracing.lagmap import *
from engine.tracing.module import *
from engine.tracing.recurrence import *
from engine.tracing.seq2seq import *
from engine.tracing.submodules import *
from engine.tracing.trace import *
from engine.tracing.trace_file import *

_MODULES = (  # whose __all__ this package re-exports
    "_subnormal", "fused", "lagmap", "module", "recurrence", "seq2seq", "submodules", "trace", "trace_file",
)
__all__ = [name for sub in _MODULES for name in sys.modules[f"{__name__}.{sub}"].__all__]
