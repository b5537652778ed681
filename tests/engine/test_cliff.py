"""The cliff view's numbers: the grid against a direct per-point loop, both paths against a plain PyTorch loop."""

import math
from dataclasses import fields

import pytest
import torch

from engine.config import ConfigError
from engine.lab import CLIFF_FIELDS, CliffConfig, cliff, descend
from engine.lab.cliff import loss_grid


def direct_loss(w: float, b: float, T: int, readout: str) -> float:
    """The paper's recurrence one scalar at a time, in plain Python floats."""
    x = 0.5
    for _ in range(T):
        x = w / (1 + math.exp(-x)) + b
    y = 1 / (1 + math.exp(-x)) if readout == "sigmoid" else x
    return (y - 0.7) ** 2


class OneUnit(torch.nn.Module):
    """The one-unit network as an nn.Module, so the reference loop is an ordinary training loop."""

    def __init__(self, w: float, b: float, readout: str):
        super().__init__()
        self.w = torch.nn.Parameter(torch.tensor(w, dtype=torch.float64))
        self.b = torch.nn.Parameter(torch.tensor(b, dtype=torch.float64))
        self.readout = readout

    def forward(self, T: int) -> torch.Tensor:
        x = torch.tensor(0.5, dtype=torch.float64)
        for _ in range(T):
            x = self.w * torch.sigmoid(x) + self.b
        return torch.sigmoid(x) if self.readout == "sigmoid" else x


def reference_path(cfg: CliffConfig, clip: bool) -> tuple[list[tuple[float, float]], list[float]]:
    """torch.optim.SGD with torch.nn.utils.clip_grad_norm_: the points visited and the norms it returns."""
    model = OneUnit(cfg.w0, cfg.b0, cfg.readout)
    opt = torch.optim.SGD(model.parameters(), lr=cfg.lr)
    points, norms = [(model.w.item(), model.b.item())], []
    for _ in range(cfg.steps):
        opt.zero_grad()
        ((model(cfg.T) - 0.7) ** 2).backward()
        params = list(model.parameters())
        if clip:
            norms.append(float(torch.nn.utils.clip_grad_norm_(params, cfg.clip_at)))
        else:
            norms.append(float(torch.linalg.vector_norm(torch.stack([p.grad for p in params]))))
        opt.step()
        points.append((model.w.item(), model.b.item()))
    return points, norms


@pytest.mark.parametrize("readout", ["sigmoid", "linear"])
@pytest.mark.parametrize("T", [1, 7, 50])
def test_grid_values_equal_a_direct_computation_at_sampled_points(readout, T):
    cfg = CliffConfig(T=T, readout=readout, w_min=-3, w_max=9, b_min=-6, b_max=4, resolution=37)
    g = loss_grid(cfg)
    assert g["loss"].shape == (37, 37) and g["w"][0] == -3 and g["w"][-1] == 9 and g["b"][-1] == 4
    gen = torch.Generator().manual_seed(T)
    for i, j in torch.randint(0, 37, (40, 2), generator=gen).tolist() + [(0, 0), (36, 36), (0, 36)]:
        want = direct_loss(float(g["w"][j]), float(g["b"][i]), T, readout)
        assert g["loss"][i, j] == pytest.approx(want, rel=1e-9, abs=1e-15), (i, j)


@pytest.mark.parametrize("clip", [False, True])
@pytest.mark.parametrize(
    "setting",
    [{}, {"lr": 1.0, "w0": 5.0, "b0": -2.4}, {"readout": "linear", "T": 20, "lr": 0.01, "w0": 3.0, "b0": 0.5},
     {"T": 80, "clip_at": 0.05, "steps": 60}],
)  # fmt: skip
def test_both_paths_equal_a_plain_pytorch_loop(setting, clip):
    cfg = CliffConfig.from_dict({"steps": 25, **setting})
    path = descend(cfg)["clipped" if clip else "plain"]
    points, norms = reference_path(cfg, clip)
    assert path.stopped_at is None and len(path.w) == cfg.steps + 1
    for k, (w, b) in enumerate(points):
        assert (path.w[k], path.b[k]) == pytest.approx((w, b), rel=1e-9, abs=1e-12), k
        assert path.loss[k] == pytest.approx(direct_loss(w, b, cfg.T, cfg.readout), rel=1e-9, abs=1e-15)
    assert path.grad_norm == pytest.approx(norms, rel=1e-9)
    moves = [math.dist(points[k], points[k + 1]) for k in range(cfg.steps)]
    assert path.step == pytest.approx(moves, rel=1e-6, abs=1e-12)
    if clip:
        assert max(path.step) <= cfg.lr * cfg.clip_at * (1 + 1e-9)


def test_the_default_setting_shows_the_cliff():
    # The view's default is the lesson's picture: the plain step off the wall is many clipped steps long.
    out = cliff(CliffConfig())
    plain, clipped = out["paths"]["plain"], out["paths"]["clipped"]
    assert max(plain["step"]) > 20 * max(clipped["step"])
    assert clipped["loss"][-1] < plain["loss"][-1] / 10


def test_a_path_that_leaves_the_finite_numbers_stops_and_says_where():
    # Linear readout, lr 100: every step overshoots further than the last until float64 overflows.
    cfg = CliffConfig(readout="linear", T=100, w0=20, b0=20, lr=100, steps=200)
    paths = descend(cfg)
    plain, clipped = paths["plain"], paths["clipped"]
    assert plain.stopped_at is not None and len(plain.w) == plain.stopped_at + 1 == len(plain.step) + 1
    assert not (math.isfinite(plain.loss[-1]) and math.isfinite(plain.grad_norm[-1]))
    assert all(math.isfinite(v) for v in plain.w + plain.b)
    # The clipped descent beside it is not disturbed: its steps are bounded and it runs to the end.
    assert clipped.stopped_at is None and len(clipped.w) == cfg.steps + 1


def test_the_dataclass_is_the_table():
    assert [f.name for f in fields(CliffConfig)] == [f.name for f in CLIFF_FIELDS]
    assert CliffConfig().to_dict() == {f.name: f.default for f in CLIFF_FIELDS}
    assert CliffConfig().to_query() == {"v": "1"}  # as a lab link: the version, then what differs
    cfg = CliffConfig.from_query({"T": "80", "lr": "0.25", "readout": "linear", "v": "1"})
    assert (cfg.T, cfg.lr, cfg.readout) == (80, 0.25, "linear")
    assert CliffConfig.from_query(cfg.to_query()) == cfg


@pytest.mark.parametrize(
    "data, field, message",
    [({"T": 0}, "T", "T must be an integer from 1 to 100; got 0"),
     ({"resolution": 500}, "resolution", "resolution must be an integer from 2 to 201"),
     ({"lr": 0}, "lr", "lr must be a number greater than 0 to 100"),
     ({"readout": "tanh"}, "readout", "readout must be one of 'sigmoid', 'linear'"),
     ({"w_min": 3, "w_max": 2}, "w_max", "w_max must be greater than w_min (3)"),
     ({"colour": 1}, "colour", "unknown key 'colour'")],
)  # fmt: skip
def test_bad_settings_name_the_field_and_the_allowed_range(data, field, message):
    with pytest.raises(ConfigError) as e:
        CliffConfig.from_dict(data)
    assert e.value.field == field and message in e.value.message
