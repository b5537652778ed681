"""What a trace of one recurrent module holds: :class:`ModuleTrace`."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch.nn.utils.rnn import PackedSequence

__all__ = ["ModuleTrace"]


@dataclass(frozen=True)
class ModuleTrace:
    """What :func:`trace_module` measured.  Arrays are numpy; L layers, D directions, T steps, N batch, H units.

    Batched input gives per-unit arrays shaped (L, D, T, N, H); unbatched input (L, D, T, H).  ``hidden``
    and ``grad_h`` are P wide for an LSTM with ``proj_size`` P > 0, the other per-unit arrays H wide.
    Direction 1 is the reverse direction, indexed by input position t.  A ``PackedSequence``'s batch is in
    the caller's order (as ``pad_packed_sequence`` returns it); positions at or past a sequence's length
    hold NaN in the per-unit arrays and count for nothing in the norms.
    """

    cell: str  # 'rnn' | 'lstm' | 'gru'
    hidden: np.ndarray  # h_t
    cell_state: np.ndarray | None  # c_t (LSTM)
    gates: dict[str, np.ndarray]  # gate name -> activations, (L, D, T, N, H)
    grad_h: np.ndarray  # total ∂L/∂h_t, shaped like hidden
    grad_c: np.ndarray | None  # total ∂L/∂c_t (LSTM)
    grad_h_norm: np.ndarray  # (L, D, T) L2 norm over batch and units
    grad_c_norm: np.ndarray | None  # (L, D, T) (LSTM)
    grad_out_norm: np.ndarray  # (L, D, T) norm of the direct part: what the loss or the layer above asks of h_t
    output: torch.Tensor | PackedSequence  # the module's output, detached, in the module's layout
    loss: float
    grad_h0: np.ndarray  # (L, D, N, H) ∂L/∂h_0 of the initial state (given or zero); unbatched (L, D, H)
    grad_c0: np.ndarray | None  # (L, D, N, H) ∂L/∂c_0 (LSTM)
    lengths: np.ndarray  # (N,) each sequence's length, T for every sequence of a padded tensor
    # The lag map (engine/tracing/lagmap.py), when asked for with lag_rows > 0: the output steps s it itemises,
    # ascending, ‖(∂out_s/∂h_t)ᵀ ∂L/∂out_s‖ (L, D, S, T) and ‖(∂out_s/∂x_t)ᵀ ∂L/∂out_s‖ (S, T).  None otherwise.
    output_steps: np.ndarray | None = None
    grad_h_by_output: np.ndarray | None = None
    grad_x_by_output: np.ndarray | None = None
    kind: str = "module"  # 'module' (stock nn.RNN/LSTM/GRU), 'cell', 'custom' or 'marked' (engine/tracing/joined.py)
