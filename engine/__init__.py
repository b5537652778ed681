"""Gradient Flow Lab's compute core: pure torch, numpy and the standard library."""

from engine.config import FIELDS, LINK_VERSION, Config, ConfigError, parse_query
from engine.experiment import Trace, trace_config
from engine.modules import trace_submodules
from engine.recurrence import mark_state
from engine.trace_file import TraceFileError, TraceFileLimits, load_traces, save_traces
from engine.tracing import ModuleTrace, trace_module

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
