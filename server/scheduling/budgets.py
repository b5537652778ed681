"""What one request may cost: a training's and a trace's estimated seconds against the server's budgets.

Both are refused up front, from the config alone (server/scheduling/cost.py), with the field to lower and the
largest value of it that fits: a room's clients should learn what the server does, not wait to find out.
"""

from __future__ import annotations

from dataclasses import replace

from engine import Config
from server.scheduling import cost


def training_too_long(config: Config, budget_s: float, lag: bool = False) -> str | None:
    """Why training ``config`` (``lag``: with the lag map) is refused up front (its estimated time is over
    ``budget_s``), or None.  The field to blame is ``steps``."""
    estimate = cost.train_seconds(config, lag)
    if estimate <= budget_s:
        return None
    most = cost.max_train_steps(config, budget_s, lag)
    per_step = estimate / config.steps
    head = (f"training this setting for {config.steps} steps would take about {_duration(estimate)} here "
            f"(~{per_step:.2g} s a step); the server allows {_duration(budget_s)} of training")  # fmt: skip
    if most >= 1:
        return f"{head}: steps must be at most {most} for this setting (or lower seq_len, hidden_size or batch_size)"
    return f"{head}: even one step is over it; lower seq_len, hidden_size, num_layers or batch_size"


def max_trace_seq_len(config: Config, budget_s: float, lag: bool = False) -> int:
    """The longest ``seq_len`` (at most ``config.seq_len``) whose trace fits in ``budget_s`` estimated seconds, 0 if
    none does.  The estimate grows with seq_len, so a bisection finds it."""
    low, high = 0, config.seq_len  # fits(low) holds (0: nothing), the answer is in [low, high]
    while low < high:
        mid = (low + high + 1) // 2
        if cost.trace_seconds(replace(config, seq_len=mid), lag) <= budget_s:
            low = mid
        else:
            high = mid - 1
    return low


def trace_too_long(config: Config, budget_s: float, lag: bool = False) -> tuple[str, str] | None:
    """``(message, field)`` refusing a trace of ``config`` (``lag``: with its lag map) whose estimated time is over
    ``budget_s``, or None: ``seq_len`` and the longest that fits, else ``hidden_size`` when even one step is over."""
    estimate = cost.trace_seconds(config, lag)
    if estimate <= budget_s:
        return None
    head = (f"tracing this setting would take about {estimate:.1f} s here; the server traces at most "
            f"{budget_s:g} s of work a request")  # fmt: skip
    most = max_trace_seq_len(config, budget_s, lag)
    if most >= 1:
        return f"{head}: seq_len must be at most {most} for this setting (or lower hidden_size, num_layers or " \
               "batch_size)", "seq_len"
    return f"{head}: even one step is over it; lower hidden_size, num_layers or batch_size", "hidden_size"


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"
