"""Where a batch's steps live: a padded (T, N, ·) tensor, or a ``PackedSequence`` of unequal lengths.

The tracer runs each direction of each layer through the fused kernel in that direction's own order
(the reverse direction on every sequence reversed within its length), then analyses (T, N, ·) grids in
that processing order.  A layout owns that bookkeeping: running the kernel, reversing, laying rows out on
the grid, and mapping processing order back to input positions.  In processing order every sequence
starts at step 0 and ends at step ``length - 1``, in both directions; grid positions past a sequence's
length hold zeros.
"""

from __future__ import annotations

import numpy as np
import torch


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
