"""Where an architecture meets a task's sequence: the steps whose input reaches the network and the steps
where the loss enters (:mod:`engine.data.tasks` generates every step; the architecture picks)."""

from __future__ import annotations

from engine.config import FIELD_BY_NAME

__all__ = ["input_steps", "scored_steps"]

ARCHS: tuple[str, ...] = FIELD_BY_NAME["arch"].choices


def input_steps(arch: str, T: int) -> tuple[int, ...]:
    """Steps whose input reaches the network: one-to-many only t = 0, the others all.

    For the encoder-decoder, t is a source step (the encoder reads all T) and a target step (scored, all T).
    """
    _check_arch(arch, T)
    return (0,) if arch == "one-to-many" else tuple(range(T))


def scored_steps(arch: str, T: int) -> tuple[int, ...]:
    """Steps where the loss enters: many-to-one and one-to-one only t = T-1, the others all."""
    _check_arch(arch, T)
    return (T - 1,) if arch in ("many-to-one", "one-to-one") else tuple(range(T))


def _check_arch(arch: str, T: int) -> None:
    if arch not in ARCHS:
        raise ValueError(f"unknown arch {arch!r}; known archs: {', '.join(ARCHS)}")
    if isinstance(T, bool) or not isinstance(T, int) or T < 1:
        raise ValueError(f"sequence length T must be a positive integer; got {T!r}")
