"""Where a batch's steps live: a padded (T, N, ·) tensor, or a ``PackedSequence`` of unequal lengths.

The tracer runs each direction of each layer through the fused kernel in that direction's own order
(the reverse direction on every sequence reversed within its length), then analyses (T, N, ·) grids in
that processing order.  A layout owns that bookkeeping: running the kernel, reversing, laying rows out on
the grid, and mapping processing order back to input positions.  In processing order every sequence
starts at step 0 and ends at step ``length - 1``, in both directions; grid positions past a sequence's
length hold zeros.  ``read_inputs`` and ``initial_states`` turn what a module's ``forward(input, hx)``
takes into a layout, its input rows and its initial states, with errors that name the field.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.nn.utils.rnn import PackedSequence


class PaddedLayout:
    """Every sequence is ``T`` long; a sequence of rows is a (T, N, X) tensor."""

    packed = False

    def __init__(self, steps: int, batch: int):
        self.T, self.N = steps, batch
        self.lengths = np.full(batch, steps)
        self.valid = None  # every position is a real step

    def zeros(self, like: torch.Tensor, width: int) -> torch.Tensor:
        return like.new_zeros(self.T, self.N, width)

    def run(self, fused, seq, hx, flat, bias: bool):
        return fused(seq, hx, flat, bias, 1, 0.0, False, False, False)

    def run_windows(self, fused, seq, hx, flat, bias: bool, window: int):
        """:meth:`run` one window of ``window`` steps at a time, each starting from the previous one's
        detached final state: the truncated backward pass of a loop that detaches every ``window`` steps."""
        if not window or window >= self.T:
            return self.run(fused, seq, hx, flat, bias)
        outs = []
        for start in range(0, self.T, window):
            out, *final = self.run(fused, seq[start : start + window], hx, flat, bias)
            outs.append(out)
            hx = tuple(f.detach() for f in final) if len(final) > 1 else final[0].detach()
        return (torch.cat(outs), *final)

    def reverse(self, seq: torch.Tensor) -> torch.Tensor:
        return seq.flip(0)

    def grid(self, seq: torch.Tensor) -> torch.Tensor:
        return seq

    def to_input_order(self, grid: np.ndarray) -> np.ndarray:
        """(T, N, ...) in the reverse direction's processing order -> indexed by input position."""
        return grid[::-1]

    def add_at_last(self, grid, value) -> None:
        """Add ``value`` (N, X) at each sequence's last processed step of a (T, N, X) grid, in place."""
        grid[-1] += value


class PackedLayout:
    """Sequences of unequal lengths, rows as ``PackedSequence.data`` holds them (R, X), longest first."""

    packed = True

    def __init__(self, batch_sizes: torch.Tensor):
        self.batch_sizes = batch_sizes
        T, N = len(batch_sizes), int(batch_sizes[0])
        self.T, self.N = T, N
        steps = torch.arange(T)[:, None]
        lengths = (batch_sizes[:, None] > torch.arange(N)).sum(0)  # (N,) in packed (sorted) order
        valid = steps < lengths  # (T, N)
        rows = (torch.cumsum(batch_sizes, 0) - batch_sizes)[:, None] + torch.arange(N)  # (T, N) row of step t, seq n
        rev_t = torch.where(valid, lengths - 1 - steps, steps)  # input position of processing step t (reverse dir)
        # Row k of the reversed rows is row rows[len-1-t, n] of the original; reversal is its own inverse.
        self._reverse_rows = rows.gather(0, rev_t)[valid]
        self._grid_rows = valid.flatten().nonzero().squeeze(1)
        self._rev_t = rev_t.numpy()
        self._last = (lengths - 1, torch.arange(N))
        self._last_np = ((lengths - 1).numpy(), np.arange(N))
        self.lengths = lengths.numpy()
        self.valid = valid.numpy()

    def zeros(self, like: torch.Tensor, width: int) -> torch.Tensor:
        return like.new_zeros(len(self._reverse_rows), width)

    def run(self, fused, seq, hx, flat, bias: bool):
        return fused(seq, self.batch_sizes, hx, flat, bias, 1, 0.0, False, False)

    def run_windows(self, fused, seq, hx, flat, bias: bool, window: int):
        """As :meth:`PaddedLayout.run_windows`.  A window holds the sequences still running at its first
        step (the first ``batch_sizes[start]`` of the longest-first batch); a sequence's final state comes
        from the window holding its last step."""
        if not window or window >= self.T:
            return self.run(fused, seq, hx, flat, bias)
        offsets = [0, *torch.cumsum(self.batch_sizes, 0).tolist()]
        outs, finals = [], None
        for start in range(0, self.T, window):
            stop = min(start + window, self.T)
            alive = int(self.batch_sizes[start])
            if finals is not None:
                cut = [f[:, :alive].detach() for f in finals]
                hx = tuple(cut) if len(cut) > 1 else cut[0]
            out, *final = fused(seq[offsets[start] : offsets[stop]], self.batch_sizes[start:stop], hx, flat, bias,
                                1, 0.0, False, False)
            outs.append(out)
            # sequences that ended before this window keep the final state an earlier window gave them
            finals = final if finals is None else [torch.cat([f, g[:, alive:]], 1) for f, g in zip(final, finals)]
        return (torch.cat(outs), *finals)

    def reverse(self, seq: torch.Tensor) -> torch.Tensor:
        return seq[self._reverse_rows]

    def grid(self, seq: torch.Tensor) -> torch.Tensor:
        """(R, X) rows -> (T, N, X), zeros past each sequence's length."""
        out = seq.new_zeros(self.T * self.N, seq.shape[-1])
        return out.index_copy_(0, self._grid_rows, seq).view(self.T, self.N, -1)

    def to_input_order(self, grid: np.ndarray) -> np.ndarray:
        return grid[self._rev_t, np.arange(self.N)]

    def add_at_last(self, grid, value) -> None:
        grid[self._last if isinstance(grid, torch.Tensor) else self._last_np] += value


def _same_dtype(t: torch.Tensor, dtype: torch.dtype, what: str, name: str) -> torch.Tensor:
    """``t`` if it has the module's dtype; the module itself would refuse any other, and so does the trace."""
    if t.dtype != dtype:
        raise ValueError(f"{name}: the dtype of {what} is {t.dtype} but the module's weights are {dtype}; convert one "
                         f"(.to({dtype}) or module.to({t.dtype})): a trace is computed in the dtype it is given")
    return t


def read_inputs(module, inputs, dtype: torch.dtype, name: str):
    """A module's ``inputs`` as the tracer runs them: ``(layout, x, batched, sorted_indices, unsorted_indices)``.

    ``x`` is (T, N, I) time-major for a tensor (batch_first and unbatched undone), the rows (R, I) of a
    ``PackedSequence``; the indices are the packed batch's (``None`` for a tensor or an already sorted batch).
    """
    sorted_indices = unsort = None
    if isinstance(inputs, PackedSequence):
        if inputs.data.dim() != 2:
            raise ValueError(f"{name}: a PackedSequence's data must be (rows, I); got {tuple(inputs.data.shape)}")
        layout = PackedLayout(inputs.batch_sizes)
        sorted_indices, unsort = inputs.sorted_indices, inputs.unsorted_indices
        batched = True
        x = _same_dtype(inputs.data, dtype, "inputs", name)  # (R, I)
    else:
        if not isinstance(inputs, torch.Tensor) or inputs.dim() not in (2, 3):
            got = tuple(inputs.shape) if isinstance(inputs, torch.Tensor) else type(inputs).__name__
            raise ValueError(
                f"{name}: inputs must be (T, N, I), (N, T, I) with batch_first, unbatched (T, I), or a PackedSequence;"
                f" got {got}"
            )
        batched = inputs.dim() == 3
        x = inputs if batched else inputs.unsqueeze(0 if module.batch_first else 1)
        if module.batch_first:
            x = x.transpose(0, 1)
        x = _same_dtype(x, dtype, "inputs", name)  # (T, N, I)
        layout = PaddedLayout(x.shape[0], x.shape[1])
    if x.shape[-1] != module.input_size:
        raise ValueError(f"{name}: inputs have {x.shape[-1]} features per step; the module's input_size is "
                         f"{module.input_size}")
    return layout, x, batched, sorted_indices, unsort


def initial_states(module, hx, batched: bool, N: int, dtype: torch.dtype, name: str, sorted_indices):
    """``hx`` as the module takes it -> [h_0] or [h_0, c_0], each (L*D, N, ·) in the packed batch order; None if None.

    Checks the shapes, naming the field: h_0 is (L*D, N, P) with P = proj_size or H, c_0 (L*D, N, H).
    """
    if hx is None:
        return None
    L, D, H = module.num_layers, 2 if module.bidirectional else 1, module.hidden_size
    state = getattr(module, "proj_size", 0) or H
    if isinstance(module, nn.LSTM):
        if not (isinstance(hx, tuple | list) and len(hx) == 2):
            raise ValueError(f"{name}: hx for an LSTM must be a tuple (h_0, c_0)")
        parts = [("h_0", hx[0], state), ("c_0", hx[1], H)]
    else:
        if not isinstance(hx, torch.Tensor):
            raise ValueError(f"{name}: hx must be a tensor h_0; got {type(hx).__name__}")
        parts = [("h_0", hx, state)]
    states = []
    for label, s, width in parts:
        want = (L * D, N, width) if batched else (L * D, width)
        if not isinstance(s, torch.Tensor) or tuple(s.shape) != want:
            got = tuple(s.shape) if isinstance(s, torch.Tensor) else type(s).__name__
            raise ValueError(f"{name}: hx's {label} must be shaped (num_layers*directions, N, H) = {want}; got {got}")
        s = _same_dtype(s, dtype, f"hx's {label}", name)
        s = s if batched else s.unsqueeze(1)
        states.append(s if sorted_indices is None else s.index_select(1, sorted_indices))
    return states
