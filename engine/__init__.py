"""Gradient Flow Lab's compute core: pure torch, numpy and the standard library."""

from engine.config import FIELDS, LINK_VERSION, Config, ConfigError, parse_query
from engine.lab import Trace, trace_config
from engine.tracing import (
    ModuleTrace,
    TraceFileError,
    TraceFileLimits,
    load_traces,
    mark_state,
    save_traces,
    trace_module,
    trace_submodules,
)

__all__ = [
    "FIELDS",
    "LINK_VERSION",
    "Config",
    "ConfigError",
    "ModuleTrace",
    "Trace",
    "TraceFileError",
    "TraceFileLimits",
    "mark_state",
    "load_traces",
    "parse_query",
    "save_traces",
    "trace_config",
    "trace_module",
    "trace_submodules",
]
