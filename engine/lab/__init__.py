"""The app's experiment: one config's model, batch, trace, clipping and theory; training; sweeps; the cliff."""


from engine.lab.cliff import (
    CLIFF_FIELD_BY_NAME,
    CLIFF_FIELDS,
    CLIFF_PAGE_KEYS,
    GRID_AXES,
    CliffConfig,
    Path,
    cliff,
    descend,
    describe_fields,
    describe_rules,
    describe_table,
    edges_problem,
)
from engine.lab.experiment import Trace, own_model, prepare, trace_config, trace_own, trace_own_trained, trace_trained
from engine.lab.sweep import Point, Sweep, run_sweep, trace_point, train_point
from engine.lab.theory import gate_products
from engine.lab.training import OPTIMIZERS, Trainer, TrainResult, TrainStep, profile_count, profile_every, profiled

__all__ = [
    "CLIFF_FIELDS", "CLIFF_FIELD_BY_NAME", "CLIFF_PAGE_KEYS", "CliffConfig", "GRID_AXES", "OPTIMIZERS", "Path", "Point",
    "Sweep", "Trace", "TrainResult", "TrainStep", "Trainer", "cliff", "descend", "describe_fields", "describe_rules",
    "describe_table", "edges_problem", "gate_products", "own_model", "prepare", "profile_count", "profile_every",
    "profiled", "run_sweep", "trace_config", "trace_own", "trace_own_trained", "trace_point", "trace_trained",
    "train_point",
]
