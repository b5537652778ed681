"""The cliff: the loss surface of a one-unit recurrent network, and gradient descent on it with and without clipping.

Pascanu, Mikolov and Bengio (2013, "On the difficulty of training recurrent neural networks", equation (8) and
figure 6) explain norm clipping with the smallest recurrent network there is, one unit and no input::

    x_0 = 0.5,   x_t = w·σ(x_{t−1}) + b   (t = 1..T),   σ the logistic sigmoid

and the loss of hitting a target at the last step.  The paper scores the squashed state, E_50 = (σ(x_50) − 0.7)²
(``readout="sigmoid"``, the default); ``readout="linear"`` scores the state itself, (x_T − 0.7)², as issue 16
wrote it.  Where (w, b) crosses the line at which the map x ↦ w·σ(x) + b gets a second attractor (w > 4 is
needed, σ′ ≤ 1/4), x_T jumps from one to the other within a sliver of (w, b): the loss surface has a wall, its
gradient is huge there, and one plain gradient step can throw (w, b) far away.  Rescaling the gradient to norm
``clip_at`` when it is longer (``torch.nn.utils.clip_grad_norm_``) keeps that step short.

One table, :data:`CLIFF_FIELDS`, drives validation, the API, the page's controls and the link, with the same
field machinery as the lab's (:class:`engine.config.fields.Field`); :func:`describe_table` is its description.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields
from typing import Any

import torch

from engine.config import LINK_VERSION, NUMBER_SYNTAX, PAGE_KEYS, ConfigError, Field, check_against, read_link

__all__ = [
    "CLIFF_FIELDS", "CLIFF_FIELD_BY_NAME", "CLIFF_PAGE_KEYS", "GRID_AXES", "CliffConfig", "Path", "cliff", "descend",
    "describe_fields", "describe_rules", "describe_table", "edges_problem",
]  # fmt: skip

X0 = 0.5  # the paper's initial state
TARGET = 0.7  # the paper's target at the last step

N, D, G = "network", "descent", "grid"  # the page's groups of controls
CLIFF_FIELDS: tuple[Field, ...] = (
    Field("T", "int", 50, "Number of steps T the unit runs before the loss is measured.", N, low=1, high=100,
          unit="steps", label="Steps T"),
    Field("readout", "choice", "sigmoid", "What the loss scores: σ(x_T) as in the paper, or x_T itself.", N,
          choices=("sigmoid", "linear"), label="Loss scores", self_named=True,
          choice_labels=(("sigmoid", "σ(x_T)"), ("linear", "x_T"))),
    Field("w0", "float", 4.5, "Starting recurrent weight w of both descents.", D, low=-20, high=20, label="Start w"),
    Field("b0", "float", -2.0, "Starting bias b of both descents.", D, low=-20, high=20, label="Start b"),
    Field("lr", "float", 0.5, "Learning rate of gradient descent: each step moves by lr × gradient.", D,
          low=0, high=100, low_open=True, label="Learning rate"),
    Field("clip_at", "float", 0.5, "The clipped descent rescales a gradient longer than this to this norm.", D,
          low=0, high=100, low_open=True, label="Clip threshold"),
    Field("steps", "int", 30, "Gradient descent steps in each path.", D, low=1, high=200, unit="steps",
          label="Descent steps"),
    Field("w_min", "float", 1.0, "Left edge of the drawn grid (recurrent weight w).", G, low=-20, high=20,
          label="w from"),
    Field("w_max", "float", 10.0, "Right edge of the drawn grid (recurrent weight w).", G, low=-20, high=20,
          label="w to"),
    Field("b_min", "float", -5.0, "Bottom edge of the drawn grid (bias b).", G, low=-20, high=20, label="b from"),
    Field("b_max", "float", 8.0, "Top edge of the drawn grid (bias b).", G, low=-20, high=20, label="b to"),
    Field("resolution", "int", 121, "Grid points along each axis.", G, low=2, high=201, unit="points",
          label="Grid points"),
)  # fmt: skip
CLIFF_FIELD_BY_NAME = {f.name: f for f in CLIFF_FIELDS}
GRID_AXES = ("w", "b")  # the rule that ties keys together: each axis's edges in order, {axis}_min < {axis}_max
CLIFF_PAGE_KEYS = ("v", "lesson")  # the page's own link keys (engine.config.space.PAGE_KEYS says how each is written)


def edges_problem(axis: str, low: float, high: float) -> ConfigError | None:
    """The error for one axis's edges out of order (``high`` not above ``low``), naming ``{axis}_max``; else None."""
    if low < high:
        return None
    return ConfigError(f"{axis}_max", f"{axis}_max must be greater than {axis}_min ({low:g}); got {high:g}")

_D = {f.name: f.default for f in CLIFF_FIELDS}  # the dataclass's defaults are the table's


@dataclass(frozen=True)
class CliffConfig:
    """A validated setting of the cliff view; every field is a key of :data:`CLIFF_FIELDS` (same order)."""

    T: int = _D["T"]  # steps the unit runs before the loss
    readout: str = _D["readout"]  # 'sigmoid' (σ(x_T), the paper's) | 'linear' (x_T)
    w0: float = _D["w0"]  # where both descents start: recurrent weight w ...
    b0: float = _D["b0"]  # ... and bias b
    lr: float = _D["lr"]  # learning rate of both descents
    clip_at: float = _D["clip_at"]  # the clipped descent's largest step norm
    steps: int = _D["steps"]  # descent steps in each path
    w_min: float = _D["w_min"]  # the grid drawn: w from ...
    w_max: float = _D["w_max"]  # ... to
    b_min: float = _D["b_min"]  # b from ...
    b_max: float = _D["b_max"]  # ... to
    resolution: int = _D["resolution"]  # grid points along each axis

    def __post_init__(self) -> None:
        for f in CLIFF_FIELDS:
            object.__setattr__(self, f.name, f.check(getattr(self, f.name)))
        for axis in GRID_AXES:
            problem = edges_problem(axis, getattr(self, f"{axis}_min"), getattr(self, f"{axis}_max"))
            if problem is not None:
                raise problem

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> CliffConfig:
        """Missing keys take their defaults; an unknown key raises :class:`ConfigError` naming it."""
        data = dict(data or {})
        unknown = sorted(set(data) - set(CLIFF_FIELD_BY_NAME))
        if unknown:
            raise ConfigError(unknown[0], f"unknown key {unknown[0]!r}; known keys: {', '.join(CLIFF_FIELD_BY_NAME)}")
        return cls(**data)

    @classmethod
    def from_query(cls, params: Iterable[tuple[str, str]] | Mapping[str, str]) -> CliffConfig:
        """Read link text (``T=80&lr=0.5``: a mapping, or ``(key, text)`` pairs with repeats) as every link is read
        (:func:`engine.config.read_link`); the first unknown or repeated key or bad value raises :class:`ConfigError`
        naming the key (:class:`engine.config.fields.RepeatedKey` for a repeated one)."""
        values, problems = read_link(params, CLIFF_FIELD_BY_NAME, ("v",))
        if problems and problems[0].field not in CLIFF_FIELD_BY_NAME:
            unknown = problems[0]
            raise ConfigError(unknown.field, f"{unknown.message}; known keys: {', '.join(CLIFF_FIELD_BY_NAME)}")
        if problems:
            raise problems[0]
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    def to_query(self) -> dict[str, str]:
        """The link's query, as :meth:`engine.config.space.Config.to_query` writes one: the link version, then the keys
        that differ from the defaults, as link text."""
        changed = {f.name: f.format(getattr(self, f.name)) for f in CLIFF_FIELDS if getattr(self, f.name) != f.default}
        return {"v": str(LINK_VERSION), **changed}


check_against(CliffConfig, CLIFF_FIELDS)


def final_state(w: torch.Tensor, b: torch.Tensor, T: int) -> torch.Tensor:
    """x_T of x_t = w·σ(x_{t−1}) + b from x_0 = 0.5, elementwise over broadcast ``w`` and ``b``."""
    x = torch.full_like(w + b, X0, dtype=w.dtype)  # broadcast by the sum: torch.broadcast_shapes imports sympy
    for _ in range(T):
        x = w * torch.sigmoid(x) + b
    return x


def loss(w: torch.Tensor, b: torch.Tensor, T: int, readout: str) -> torch.Tensor:
    """(σ(x_T) − 0.7)² (``readout="sigmoid"``) or (x_T − 0.7)² (``"linear"``), elementwise."""
    x = final_state(w, b, T)
    y = torch.sigmoid(x) if readout == "sigmoid" else x
    return (y - TARGET) ** 2


def loss_grid(cfg: CliffConfig) -> dict[str, Any]:
    """The loss at every (w, b) of the grid, computed at once: ``loss`` is (resolution_b, resolution_w), rows b."""
    w = torch.linspace(cfg.w_min, cfg.w_max, cfg.resolution, dtype=torch.float64)  # (R,)
    b = torch.linspace(cfg.b_min, cfg.b_max, cfg.resolution, dtype=torch.float64)  # (R,)
    values = loss(w[None, :], b[:, None], cfg.T, cfg.readout)  # (R_b, R_w)
    return {"w": w.numpy(), "b": b.numpy(), "loss": values.numpy()}


@dataclass(frozen=True)
class Path:
    """One gradient descent from (w0, b0): ``steps + 1`` points, or fewer if it left the finite numbers."""

    w: list[float]  # w at each point
    b: list[float]
    loss: list[float]  # the loss at each point
    grad_norm: list[float]  # ‖∇L‖ at each point but the last, before clipping (what clip_grad_norm_ returns)
    step: list[float]  # length of the move from each point to the next, ‖Δ(w, b)‖
    stopped_at: int | None  # the step at which the loss or gradient stopped being finite, if it did

    def to_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


def descend(cfg: CliffConfig) -> dict[str, Path]:
    """Gradient descent ``θ ← θ − lr·g`` on θ = (w, b) from (w0, b0), g by autograd: ``plain`` and ``clipped``.

    ``clipped`` rescales g as ``clip_grad_norm_`` does, ``g ← g · min(1, clip_at / (‖g‖ + 1e-6))``, so its step
    is at most lr·clip_at long.  Both descents run side by side in one autograd graph (the losses are summed,
    and each path's loss depends on its own θ only, so each gets its own gradient).  A path stops at the first
    point whose loss or gradient is not finite; that point is kept and its gradient norm recorded.
    """
    names = ("plain", "clipped")
    theta = torch.tensor([[cfg.w0, cfg.b0]] * 2, dtype=torch.float64)  # (path, [w, b])
    rec = {n: {"w": [], "b": [], "loss": [], "grad_norm": [], "step": [], "stopped_at": None} for n in names}
    running = [True, True]
    for k in range(cfg.steps + 1):
        p = theta.clone().requires_grad_(True)
        values = loss(p[:, 0], p[:, 1], cfg.T, cfg.readout)  # (path,)
        (g,) = torch.autograd.grad(values.sum(), p)  # (path, 2)
        norms = torch.linalg.vector_norm(g, dim=1)  # (path,)
        scale = torch.ones(2, dtype=torch.float64)
        scale[1] = torch.clamp(cfg.clip_at / (norms[1] + 1e-6), max=1.0)
        move = cfg.lr * g * scale[:, None]  # (path, 2)
        rows = zip(
            theta.tolist(), values.detach().tolist(), norms.tolist(), torch.linalg.vector_norm(move, dim=1).tolist()
        )
        for i, ((w, b), value, norm, step) in enumerate(rows):
            if not running[i]:
                continue
            r = rec[names[i]]
            r["w"].append(w)
            r["b"].append(b)
            r["loss"].append(value)
            if k == cfg.steps:
                continue
            r["grad_norm"].append(norm)
            if not (math.isfinite(norm) and math.isfinite(value)):
                r["stopped_at"], running[i] = k, False
                continue
            r["step"].append(step)
        if k < cfg.steps:
            # A stopped path's θ stays where it stopped: its non-finite move is never applied.
            theta = theta - torch.where(torch.tensor(running)[:, None], move, torch.zeros_like(move))
        if not any(running):
            break
    return {n: Path(**rec[n]) for n in names}


def cliff(cfg: CliffConfig) -> dict[str, Any]:
    """Everything the view draws: the grid, both paths and the setting (see docs/protocol.md, "The cliff")."""
    paths = {name: path.to_dict() for name, path in descend(cfg).items()}
    return {"config": cfg.to_dict(), "grid": loss_grid(cfg), "paths": paths}


def describe_fields() -> list[dict[str, Any]]:
    """The table as wire data, for the API and the page's controls."""
    return [f.describe() for f in CLIFF_FIELDS]


def describe_rules() -> list[dict[str, Any]]:
    """The rules that tie keys together, as :class:`CliffConfig` checks them: each axis's edges in order."""
    return [{"kind": "greater", "field": f"{axis}_max", "than": f"{axis}_min",
             "description": f"{axis}_max must be greater than {axis}_min: the grid's edges in order"}
            for axis in GRID_AXES]  # fmt: skip


def describe_table() -> dict[str, Any]:
    """Everything the page and a client need to read and write a cliff link, as ``GET /api/config`` says it for
    the lab: every key, the rules between keys, the link version, how a link writes a number and the page's own
    link keys."""
    page_keys = {key: PAGE_KEYS[key] for key in CLIFF_PAGE_KEYS}
    return {"fields": describe_fields(), "rules": describe_rules(), "link_version": LINK_VERSION,
            "link_number_syntax": NUMBER_SYNTAX, "page_keys": page_keys}  # fmt: skip
