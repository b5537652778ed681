"""What crosses the socket and HTTP: strict JSON, a trace's frames and document (recorded once, labelled
per socket), a training's frames, the client's messages, and error answers."""


from server.wire.encoding import document_bytes, dumps, dumps_bytes, loads_strict, nesting_too_deep, script_json
from server.wire.frames import (
    json_value_count,
    lag_unit,
    overflow_step,
    run_units,
    trace_document,
    trace_units,
    underflow_step,
)
from server.wire.messages import Message, ProtocolError, parse_message
from server.wire.recording import Recording, Unit, recorded_rows
from server.wire.responses import StrictJSONResponse, busy_response, error_response

__all__ = [
    "Message", "ProtocolError", "Recording", "StrictJSONResponse", "Unit", "busy_response", "document_bytes", "dumps",
    "dumps_bytes",
    "error_response", "json_value_count", "lag_unit", "loads_strict", "nesting_too_deep", "overflow_step",
    "parse_message", "recorded_rows", "run_units", "script_json", "trace_document", "trace_units", "underflow_step",
]
