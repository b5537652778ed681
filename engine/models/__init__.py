"""The recurrent networks: the cells' equations (:mod:`engine.models.cells`) and the app's models built
and initialised from a config (:mod:`engine.models.network`)."""


from engine.models.cells import DERIVATIVE_BOUND, GATES, NUM_BLOCKS, gate_activations
from engine.models.network import (
    DATA_STREAM,
    EncoderDecoderModel,
    RecurrentModel,
    build_model,
    data_generator,
    parameter_count,
)

__all__ = [
    "DATA_STREAM", "DERIVATIVE_BOUND", "EncoderDecoderModel", "GATES", "NUM_BLOCKS", "RecurrentModel",
    "build_model", "data_generator", "gate_activations", "parameter_count",
]
