"""A user's own data: a numeric series from a CSV file, as a forecasting task like ``sine``.

The series s_0..s_{n-1} is normalised once, z = (s - mean) / std, so the loss reads in units of
the series' own spread.  A batch is N windows of the series at random starts p:

    x_t = z_{p+t},   y_t = z_{p+t+1},   t = 0..T-1        (T, N, 1) each

and the architecture withholds inputs and scores steps as for any task (engine/data/tasks.py).  The
trivial baseline is persistence, as for ``sine``: answer the last value seen, averaged exactly
over every window of the series.  Reading a CSV file is the server's (server/uploads/series_file.py):
this module starts from the values.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from engine.config import Config, ConfigError
from engine.data.tasks import Batch, input_steps, scored_steps

__all__ = [
    "NOT_FOR_SERIES", "Series", "SeriesError", "check_fits", "make_series", "series_baseline", "series_batch",
    "window_starts", "windows_batch",
]  # fmt: skip

MIN_VALUES = 3  # a window of one step and its next value, and a spread


class SeriesError(ValueError):
    """The values are not a usable series; ``row`` (1-based, as in a file) and ``column`` locate the problem."""

    def __init__(self, message: str, row: int | None = None, column: str | None = None):
        super().__init__(message)
        self.message, self.row, self.column = message, row, column


@dataclass(frozen=True)
class Series:
    name: str  # the column's header, or 'column 1'
    values: np.ndarray  # (n,) float64 as read
    mean: float
    std: float

    @property
    def normalised(self) -> np.ndarray:
        return (self.values - self.mean) / self.std  # (n,)


def make_series(name: str, values: np.ndarray) -> Series:
    """The series of finite ``values`` (n,) named ``name``, with the mean and spread it is normalised by.

    Raises :class:`SeriesError` (naming ``name``) when there are fewer than MIN_VALUES values, when they
    are constant, or when normalising them overflows (values near float64's limit, or a spread so small
    that z = (s - mean) / std is not a finite float32): such a series is refused, never silently zeroed.
    """
    values = np.asarray(values, dtype=np.float64)
    if len(values) < MIN_VALUES:
        raise SeriesError(f"the series has {len(values)} value(s); at least {MIN_VALUES} are needed", None, name)
    if not np.isfinite(values).all():
        raise SeriesError(f"column {name!r} holds a value that is not a finite number", None, name)
    with np.errstate(over="ignore", invalid="ignore"):
        mean, std = float(values.mean()), float(values.std())
        z = (values - mean) / std if std else np.zeros_like(values)
    if not (math.isfinite(mean) and math.isfinite(std)):
        biggest = float(np.abs(values).max())
        raise SeriesError(f"column {name!r} cannot be normalised: with values up to {biggest:.3g} its mean or "
                          "spread overflows a float64; rescale the column", None, name)
    if std == 0:
        raise SeriesError(f"column {name!r} is constant: there is nothing to forecast", None, name)
    if not (np.isfinite(z) & (np.abs(z) <= np.finfo(np.float32).max)).all():
        raise SeriesError(f"column {name!r} cannot be normalised: its spread ({std:.3g}) is too small for "
                          "(value - mean) / spread to be a finite number; rescale the column", None, name)
    return Series(name, values, mean, std)


def check_length(series: Series, T: int) -> None:
    """A window of T steps needs T + 1 values; raises ValueError naming seq_len."""
    if T + 1 > len(series.values):
        raise SeriesError(f"seq_len must be at most {len(series.values) - 1} for this series of "
                          f"{len(series.values)} values; got {T}", None, "seq_len")


# The archs that cannot read a series: the encoder-decoder's decoder reads class indices (words), not values.
NOT_FOR_SERIES = ("encoder-decoder",)


def check_fits(series: Series, cfg: Config) -> None:
    """Whether ``cfg`` can read ``series``: an arch that reads values (else a ConfigError naming arch), and T + 1
    values for a window (else a SeriesError naming seq_len)."""
    if cfg.arch in NOT_FOR_SERIES:
        raise ConfigError("arch", f"an uploaded series is read by every arch but {', '.join(map(repr, NOT_FOR_SERIES))}"
                                  ", which reads and writes sentences: choose another arch")
    check_length(series, cfg.seq_len)


def window_starts(series: Series, T: int, N: int, generator: torch.Generator) -> torch.Tensor:
    """The N random window starts p of a batch, each in [0, n - T - 1] so that p + T is a value: (N,) int64."""
    check_length(series, T)
    return torch.randint(0, len(series.values) - T, (N,), generator=generator)


def windows_batch(series: Series, arch: str, T: int, starts: torch.Tensor,
                  dtype: torch.dtype = torch.float32) -> Batch:
    """The batch of the windows starting at ``starts`` (N,): x_t = z_{p+t}, y_t = z_{p+t+1}."""
    check_length(series, T)
    z = torch.from_numpy(series.normalised).to(dtype)  # (n,)
    idx = starts[None, :] + torch.arange(T)[:, None]  # (T, N)
    x, y = z[idx].unsqueeze(-1), z[idx + 1].unsqueeze(-1)  # (T, N, 1) each
    fed = torch.zeros(T, dtype=torch.bool)
    fed[list(input_steps(arch, T))] = True
    scored = torch.zeros(T, dtype=torch.bool)
    scored[list(scored_steps(arch, T))] = True
    return Batch(x=x.masked_fill(~fed[:, None, None], 0), y=y, scored=scored)


def series_batch(series: Series, arch: str, T: int, N: int, generator: torch.Generator,
                 dtype: torch.dtype = torch.float32) -> Batch:
    """N windows of T steps at random starts (see the module docstring)."""
    return windows_batch(series, arch, T, window_starts(series, T, N, generator), dtype)


def series_baseline(series: Series, arch: str, T: int) -> dict:
    """Persistence's exact mean loss over every window and scored step, as engine.data.tasks.baseline reports it."""
    check_length(series, T)
    z = series.normalised
    fed = np.zeros(T, dtype=bool)
    fed[list(input_steps(arch, T))] = True
    last = np.maximum.accumulate(np.where(fed, np.arange(T), 0))  # the last input seen by step t
    windows = len(z) - T  # starts 0..n-T-1, as series_batch draws them
    losses = [np.mean((z[t + 1 : t + 1 + windows] - z[last[t] : last[t] + windows]) ** 2)
              for t in scored_steps(arch, T)]
    return {"loss": float(np.mean(losses)), "metric": None, "name": "repeat the last value seen",
            "description": "The persistence forecast: the next value is the last one seen."}
