"""Training over the socket: an engine.lab.training.Trainer's steps become ``train_*`` frames.

The frames carry no run number (see :mod:`server.wire.recording`): one training run's stream is
shared by every socket that asked for it.  A training asked with the lag map follows every profiled step's
``train_step`` with that step's ``lag`` frame, a run's (server/wire/frames.py) plus ``step``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from server.wire.encoding import dumps
from server.wire.frames import lag_unit
from server.wire.recording import Unit

if TYPE_CHECKING:
    from engine.lab import Trainer, TrainResult, TrainStep


def start_frame(trainer: Trainer) -> str:
    cfg = trainer.cfg
    from engine.lab import profile_every

    return dumps({
        "type": "train_start",
        "config": cfg.to_dict(),
        "steps": cfg.steps,
        "profile_every": profile_every(cfg.steps),
        "shapes": {"L": cfg.num_layers, "D": cfg.num_directions, "T": cfg.span},  # a profile's (L, D, span)
        "baseline": trainer.baseline,
        "clip": cfg.clip,
        "clip_at": cfg.clip_at,
        "classification": trainer.classification,
    })  # fmt: skip


def step_frame(report: TrainStep, steps: int) -> str:
    rate = report.step / report.elapsed if report.elapsed > 0 else None
    frame: dict[str, Any] = {
        "type": "train_step",
        "step": report.step,
        "loss": report.loss,
        "grad_norm": report.grad_norm,
        "grad_norm_clipped": report.grad_norm_clipped,
        "clip_coef": report.clip_coef,
        "clipped": report.clipped,
        "metric": report.metric,
        "elapsed_s": report.elapsed,
        "steps_per_s": rate,
        "eta_s": (steps - report.step) / rate if rate else None,
    }
    if report.profile is not None:
        frame["profile"] = report.profile  # (L, D, T) ‖∂L/∂h_t‖
    if report.alignment is not None:
        frame["alignment"] = report.alignment  # (T, T) α of batch sample 0, decoder step × source step
    return dumps(frame)


def step_units(report: TrainStep, steps: int) -> list[Unit]:
    """One optimizer step's units: its ``train_step`` frame, then its ``lag`` frame when it measured the lag map."""
    units = [Unit(step_frame(report, steps))]
    if report.lag is not None:
        units.append(lag_unit(report.lag, step=report.step))
    return units


def done_frame(result: TrainResult) -> str:
    return dumps({
        "type": "train_done",
        "steps_done": result.steps_done,
        "stopped": result.stopped,
        "diverged_at": result.diverged_at,
        "message": result.message,
        "final_loss": result.final_loss,
    })  # fmt: skip
