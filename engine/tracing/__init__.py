"""Exact traces: per-timestep gradients of fused modules (:mod:`~engine.tracing.fused`), of every recurrence
in a whole model (:mod:`~engine.tracing.submodules`, :mod:`~engine.tracing.recurrence`), the
encoder-decoder across its handoff, the lag map, and the saved trace file."""


from engine.tracing._subnormal import denormals_flushed
from engine.tracing.fused import start_trace
from engine.tracing.lagmap import MAX_ROWS, lag_curve, rows_for
from engine.tracing.module import trace_module
from engine.tracing.recurrence import mark_state
from engine.tracing.seq2seq import encoder_decoder_loss, trace_encoder_decoder
from engine.tracing.submodules import trace_submodules
from engine.tracing.trace import ModuleTrace
from engine.tracing.trace_file import TraceFileError, TraceFileLimits, load_traces, save_traces

__all__ = [
    "MAX_ROWS", "ModuleTrace", "TraceFileError", "TraceFileLimits", "denormals_flushed", "encoder_decoder_loss",
    "lag_curve", "load_traces", "mark_state", "rows_for", "save_traces", "start_trace", "trace_encoder_decoder",
    "trace_module", "trace_submodules",
]
