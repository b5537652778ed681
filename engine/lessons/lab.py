"""Lessons on the lab page (``/``): the claims they make about a trace or a training, and the numbers their prose
quotes, measured with :func:`engine.lab.experiment.trace_config` and :class:`engine.lab.training.Trainer`.

A lab lesson's link and tries are :data:`engine.config.space.FIELDS` keys.  Ratios are ‖∂L/∂h_0‖ / ‖∂L/∂h_{T-1}‖ of
layer 0, forward direction: how much of the gradient at the last step is left at the first.  Training claims
train for the link's own ``steps``, exactly what pressing Train shows, and measure the trained model's trace (the
one the page shows after training).  Lag-map claims read the map the page shows for the link (as many rows as the
server takes, engine.tracing.rows_for): its lag curve, of the top layer's forward direction, and its rows.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from engine.config import FIELD_BY_NAME, VIEWS, Config
from engine.data import copy_length, get_task
from engine.lab import Trace, Trainer, trace_config, trace_trained
from engine.lessons.pages import LessonPage
from engine.models import build_model, parameter_count
from engine.tracing import rows_for

__all__ = ["LAB_PAGE"]

# kind -> (required parameters, optional parameters, what the measured config needs).
_CELLS = FIELD_BY_NAME["cell"].choices
_GATED = (lambda c: c.cell != "rnn", "an LSTM or GRU")
_RNN = ((lambda c: c.cell == "rnn"), "a vanilla RNN")
_COPY = (lambda c: c.task == "copy" and c.arch == "many-to-many" and copy_length(c.seq_len) > 0,
         "the copy task, many-to-many, with symbols to copy")
_SEQ2SEQ = ((lambda c: c.arch == "encoder-decoder"), "an encoder-decoder")
_ATTENTION = ((lambda c: c.arch == "encoder-decoder" and c.attention != "none"), "an encoder-decoder with attention")
CLAIM_KINDS: dict[str, tuple[dict[str, Any], dict[str, Any], tuple | None]] = {
    "loss_enters": ({"at": ("last", "all")}, {}, None),  # exactly the steps where the loss injects gradient
    "vanishes": ({"ratio_below": float}, {}, None),
    "explodes": ({"ratio_above": float}, {"not_finite": bool}, None),  # or not finite; not_finite: must not be
    "survives": ({"ratio_above": float}, {"after_training": bool}, None),  # after_training: the final profile
    "learns": ({"below_baseline_fraction": float, "last": int}, {}, None),  # mean of the last losses
    "plateaus": ({"above_baseline_fraction": float, "last": int}, {}, None),
    "diverges_without_clipping": ({}, {}, (lambda c: c.clip != "none", "a link that clips")),
    "fewer_params_than": ({"cell": _CELLS}, {}, None),
    # each direction's far quarter over its near end
    "both_ends": ({"edge_ratio_above": float}, {}, (lambda c: c.bidirectional, "a bidirectional link")),
    # the top layer's reverse direction gets gradient only at the last step
    "one_end": ({}, {}, (lambda c: c.bidirectional and c.arch == "many-to-one", "a bidirectional many-to-one link")),
    # at the last step: bottom layer / top layer, and rising layer by layer
    "layers": ({"ratio_below": float}, {}, (lambda c: c.num_layers >= 2, "num_layers of 2 or more")),
    # product of the mean forget (LSTM) or update (GRU) gate over t = 1..T-1
    "memory_open": ({"gate_product_above": float}, {}, _GATED),
    "memory_closed": ({"gate_product_below": float}, {}, _GATED),
    # the total curve: max over t of ‖∂L/∂h_t‖ over its min (layer 0, forward)
    "flat_total": ({"spread_below": float}, {}, None),
    # the lag curve at one lag: below (it has fallen that far) or above (it holds)
    "lag_falls": ({"below": float, "by_lag": int}, {}, None),
    "lag_holds": ({"above": float, "at_lag": int}, {}, None),
    # the RNN's lag curve is nowhere above its bound (γ·σ_max)^k
    "under_lag_bound": ({}, {}, _RNN),
    # the copy task's band in the lag map (copy_band): there, or not
    # the encoder's first step's gradient over its last's (layer 0, forward): how much reaches the first source word
    "source_reached": ({"ratio_above": float}, {}, _SEQ2SEQ),
    "source_unreached": ({"ratio_below": float}, {}, _SEQ2SEQ),
    "copy_band": ({"ratio_above": float}, {"after_training": bool}, _COPY),
    # the share of the alignment's weight on its anti-diagonal (decoder step i reads source step T−1−i) or main
    # diagonal (step i reads step i): alignment_share
    "alignment": ({"diagonal": ("anti", "main"), "share_above": float}, {"after_training": bool}, _ATTENTION),
    "no_copy_band": ({"ratio_below": float}, {"after_training": bool}, _COPY),
}
# Claim kinds measured by training (as is any claim with after_training).
TRAINED_KINDS = ("learns", "plateaus", "diverges_without_clipping")

# Measured numbers in the text: {measure} on the link, {measure@i} on the link after try i (see
# engine/lessons/numbers.py).  measure -> what the measured config needs, or None.
MEASURES: dict[str, tuple | None] = {
    "ratio": None,
    "sigma_max": None,
    "spectral_radius": ((lambda c: c.cell == "rnn"), "a vanilla RNN"),
    "gate_product": _GATED,
    "layer_fraction": ((lambda c: c.num_layers >= 2), "num_layers of 2 or more"),
    "edge_forward": ((lambda c: c.bidirectional), "a bidirectional link"),
    "edge_reverse": ((lambda c: c.bidirectional), "a bidirectional link"),
    "rnn_params": None,
    "total_spread": None,
    "lag_reach": None,
    "lag_middle": None,
    "contraction": _RNN,
    "copy_band": _COPY,
    "source_reach": _SEQ2SEQ,
    # alignment_share before and after training, on the anti-diagonal or the main diagonal
    "antidiagonal_share": _ATTENTION,
    "trained_antidiagonal_share": _ATTENTION,
    "trained_diagonal_share": _ATTENTION,
}


def claim_trains(kind: str, params: Mapping[str, Any]) -> bool:
    """Whether measuring a claim needs training (the Trainer) rather than one trace."""
    return kind in TRAINED_KINDS or bool(params.get("after_training"))


@dataclass(frozen=True)
class _Run:
    losses: tuple[float, ...]
    final_profile: np.ndarray  # (L, D, T)
    diverged_at: int | None
    baseline: float
    trained: Trace  # the trained model's trace, with its lag map: what the page shows after training
    model: Any  # the trained model


trace = functools.lru_cache(maxsize=32)(trace_config)  # a config is deterministic: the same link, the same numbers


@functools.lru_cache(maxsize=16)
def lag_trace(cfg: Config) -> Trace:
    """The trace of ``cfg`` with the lag map the page shows for it."""
    return trace_config(cfg, lag_rows=rows_for(cfg.trace_cells))


@functools.lru_cache(maxsize=16)
def _train(cfg: Config) -> _Run:
    trainer, steps = Trainer(cfg), []
    trainer.add_listener(steps.append)
    result = trainer.run()
    trained = trace_trained(trainer.model, cfg, lag_rows=rows_for(cfg.trace_cells))
    return _Run(tuple(s.loss for s in steps), steps[-1].profile, result.diverged_at, trainer.baseline["loss"], trained,
                trainer.model)


def trained_trace(cfg: Config) -> Trace:
    """The trace of ``cfg``'s model after training for its ``steps``, on the batch the page shows (computed once)."""
    return _train(cfg).trained


def ratio(grad_h_norm: np.ndarray) -> float:
    """‖∂L/∂h_0‖ / ‖∂L/∂h_{T-1}‖ of layer 0, forward direction."""
    g = grad_h_norm[0, 0].astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        return float(g[0] / g[-1])


def source_reach(tr: Trace) -> float:
    """An encoder-decoder's ‖∂L/∂h_0‖ / ‖∂L/∂h_{T-1}‖ over the encoder's steps (layer 0, forward): the gradient at the
    first source step it reads over that at its last, next to the handoff."""
    g = tr.grad_h_norm[0, 0, : tr.handoff].astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        return float(g[0] / g[-1])


def alignment_share(tr: Trace, diagonal: str) -> float:
    """The mean over decoder steps i of α_ij on one diagonal of the alignment the page shows (batch sample 0): j = T−1−i
    ('anti', where reversing puts each target word's source) or j = i ('main'); rows sum to 1, so this is the share
    of all the weight that lies there (1/T for a uniform alignment)."""
    a = np.asarray(tr.alignment, dtype=np.float64)  # (T, T) decoder step × source step
    on = np.fliplr(a) if diagonal == "anti" else a
    return float(np.trace(on) / a.shape[0])


def spread(grad_h_norm: np.ndarray) -> float:
    """max over t of ‖∂L/∂h_t‖ over its min, layer 0, forward direction: 1 for a perfectly flat curve."""
    g = grad_h_norm[0, 0].astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        return float(g.max() / g.min())


def lag_at(tr: Trace, k: int) -> float:
    """The lag curve of the top layer's forward direction at lag k: the median share of an output's gradient left
    k steps before it (NaN where no row reaches k, or past the sequence)."""
    curve = tr.lag_curve[-1, 0]
    return float(curve[k]) if 0 <= k < len(curve) else math.nan


def reach(tr: Trace) -> int | None:
    """The first lag at which the lag curve (top layer, forward) falls below 10⁻³, None if it never does."""
    below = np.flatnonzero(tr.lag_curve[-1, 0] < 1e-3)
    return int(below[0]) if below.size else None


def copy_band(tr: Trace, cfg: Config) -> float:
    """The copy task's band in the lag map (top layer, forward): how much of a recall step's gradient is left at the
    copy's lag.

    The last K = copy_length(T) steps replay the K symbols shown at steps 0..K-1, so recall step s copies the input
    of step s − D, D = T − K steps before it.  For each recall row, ‖δh_{s−D}‖ / ‖δh_s‖; the median over those rows.
    """
    T, K = cfg.seq_len, copy_length(cfg.seq_len)
    rows = [(i, s) for i, s in enumerate(tr.output_steps) if s >= T - K]
    top = tr.grad_h_by_output[-1, 0]  # (S, T)
    with np.errstate(divide="ignore", invalid="ignore"):
        shares = [top[i, s - (T - K)] / top[i, s] for i, s in rows]
    return float(np.median(shares)) if shares else math.nan


def check_lab_claim(cfg: Config, kind: str, p: Mapping[str, Any]) -> tuple[bool, str]:
    """Measure a claim of ``kind`` with parameters ``p`` on ``cfg``: (holds, what was measured)."""
    if kind == "fewer_params_than":
        task = get_task(cfg.task)
        mine, other = (parameter_count(build_model(replace(cfg, cell=c), task.input_size, task.output_size))
                       for c in (cfg.cell, p["cell"]))  # fmt: skip
        return mine < other, f"{cfg.cell}: {mine} parameters, {p['cell']}: {other}"
    if kind == "diverges_without_clipping":
        at = _train(replace(cfg, clip="none")).diverged_at
        return at is not None, f"without clipping, training diverged at step {at}" if at else "it did not diverge"
    if claim_trains(kind, p):
        run = _train(cfg)
        if run.diverged_at is not None:
            return False, f"training diverged at step {run.diverged_at}"
        if kind in ("copy_band", "no_copy_band"):
            return _check_band(copy_band(run.trained, cfg), kind, p, "after training")
        if kind == "alignment":
            return _check_alignment(run.trained, p, "after training")
        if kind == "survives":
            r = ratio(run.final_profile)
            return r > p["ratio_above"], f"after training, ‖∂L/∂h_0‖ / ‖∂L/∂h_T-1‖ = {r:.3g}"
        mean = float(np.mean(run.losses[-p["last"] :]))
        frac = mean / run.baseline
        ok = frac < p["below_baseline_fraction"] if kind == "learns" else frac > p["above_baseline_fraction"]
        return ok, f"mean of the last {p['last']} losses {mean:.4g} = {frac:.3g} × baseline {run.baseline:.4g}"
    if kind in ("lag_falls", "lag_holds", "under_lag_bound", "copy_band", "no_copy_band"):
        return _check_lag_claim(lag_trace(cfg), cfg, kind, p)
    tr = trace(cfg)
    if kind == "alignment":
        return _check_alignment(tr, p, "untrained")
    g, r = tr.grad_h_norm, ratio(tr.grad_h_norm)
    finite = math.isfinite(tr.loss) and bool(np.isfinite(g).all())
    said = f"‖∂L/∂h_0‖ / ‖∂L/∂h_T-1‖ = {r:.3g}" + ("" if finite else "; the loss or a gradient is not finite")
    if kind == "explodes":
        return (not finite if p.get("not_finite") else not finite or r > p["ratio_above"]), said
    if kind == "vanishes":
        return finite and r < p["ratio_below"], said
    if kind == "survives":
        return finite and r > p["ratio_above"], said
    if kind == "loss_enters":
        want = (cfg.seq_len - 1,) if p["at"] == "last" else tuple(range(cfg.seq_len))
        seen = tuple(int(t) for t in np.nonzero(tr.grad_out_norm[-1, 0] > 0)[0])
        return tr.scored_steps == want and seen == want, f"scored {tr.scored_steps}, gradient enters at {seen}"
    if kind == "both_ends":
        q = max(1, cfg.seq_len // 4)
        fwd, rev = g[0, 0, :q].mean() / g[0, 0, -1], g[0, 1, -q:].mean() / g[0, 1, 0]
        ok = bool(min(fwd, rev) > p["edge_ratio_above"])
        return ok, f"forward: first quarter / last step {fwd:.3g}; reverse: last quarter / first step {rev:.3g}"
    if kind == "one_end":
        rev = g[-1, 1]
        ok = bool((rev[:-1] == 0).all() and rev[-1] > 0)
        return ok, f"the reverse direction's gradient is non-zero at steps {np.nonzero(rev)[0].tolist()}"
    if kind == "layers":
        last = g[:, 0, -1]
        ok = bool(last[0] / last[-1] < p["ratio_below"] and (np.diff(last) > 0).all())
        return ok, "at the last step, from the bottom layer up: " + ", ".join(f"{v:.3g}" for v in last)
    if kind in ("memory_open", "memory_closed"):
        product = float(tr.theory["gate_product"][0, 0, 0])
        ok = product > p["gate_product_above"] if kind == "memory_open" else product < p["gate_product_below"]
        return ok, f"gate product from step 1 to {cfg.seq_len - 1}: {product:.3g}"
    if kind in ("source_reached", "source_unreached"):
        r = source_reach(tr)
        ok = r > p["ratio_above"] if kind == "source_reached" else r < p["ratio_below"]
        return finite and ok, f"the encoder's ‖∂L/∂h_0‖ / ‖∂L/∂h_T-1‖ = {r:.3g}"
    if kind == "flat_total":
        s = spread(g)
        return finite and s < p["spread_below"], f"max / min of ‖∂L/∂h_t‖ over t = {s:.3g}"
    raise ValueError(f"unknown claim kind {kind!r}")


def _check_lag_claim(tr: Trace, cfg: Config, kind: str, p: Mapping[str, Any]) -> tuple[bool, str]:
    if kind in ("copy_band", "no_copy_band"):
        return _check_band(copy_band(tr, cfg), kind, p, "untrained")
    if kind == "under_lag_bound":
        curve, bound = tr.lag_curve[-1, 0], tr.theory["lag_bound"][0]
        seen = np.isfinite(curve)
        worst = float(np.max(curve[seen] / bound[seen]))
        return bool(seen.any() and worst <= 1 + 1e-9), f"the lag curve over its bound is at most {worst:.3g}"
    k = p["by_lag"] if kind == "lag_falls" else p["at_lag"]
    value = lag_at(tr, k)
    ok = value < p["below"] if kind == "lag_falls" else value > p["above"]
    return bool(ok), f"the lag curve at lag {k}: {value:.3g}"


def _check_alignment(tr: Trace, p: Mapping[str, Any], when: str) -> tuple[bool, str]:
    share = alignment_share(tr, p["diagonal"])
    return share > p["share_above"], f"{when}, {share:.3g} of the alignment's weight is on its {p['diagonal']} diagonal"


def _check_band(band: float, kind: str, p: Mapping[str, Any], when: str) -> tuple[bool, str]:
    ok = band > p["ratio_above"] if kind == "copy_band" else band < p["ratio_below"]
    return bool(ok), f"{when}, the map keeps {band:.3g} of a recall step's gradient at the copy's lag"


LAB_PAGE = LessonPage("lab", "/", Config.from_dict, FIELD_BY_NAME, CLAIM_KINDS, MEASURES, check_lab_claim, VIEWS)
