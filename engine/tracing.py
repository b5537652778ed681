"""Exact per-timestep traces of a fused recurrent module, without a Python loop over time.

PyTorch's fused RNN/LSTM/GRU kernels never expose h_t inside the recurrence, so
``retain_grad`` cannot reach the total derivative ∂L/∂h_t.  We run the same
computation layer by layer through the same fused kernels, with one change:
every step also receives an all-zero extra input e_t whose input weights are a
copy of the recurrent weights.  Since e_t enters exactly where h_{t-1} does,

    ∂L/∂e_t = W_hhᵀ · ∂L/∂(gate pre-activations at t)

which is the part of ∂L/∂h_{t-1} that travels through the recurrence.  Adding
the direct part (what the layer above, or the loss, asks of h_{t-1}) gives the
total derivative:

    ∂L/∂h_{t-1} = ∂L/∂out_{t-1} + ∂L/∂e_t                       (RNN, LSTM)
    ∂L/∂h_{t-1} = ∂L/∂out_{t-1} + ∂L/∂e_t + W_hnᵀ(r_t ⊙ ∂L/∂a_t) + z_t ⊙ ∂L/∂h_t   (GRU)

For the GRU, e_t carries only the r and z blocks of W_hh; a second zero input
with an identity block reads ∂L/∂a_t, the gradient of the n gate's input-side
pre-activation, because W_hn h_{t-1} is scaled by r_t.  The copied weights are
detached and multiply zeros, so parameter gradients are exactly a plain
backward's.  The remaining recurrences (c_t, ∂L/∂c_t, the GRU's z_t term) are
elementwise and cheap.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from engine.cells import GATES, gate_activations

_FUSED = {"RNN_TANH": torch._VF.rnn_tanh, "RNN_RELU": torch._VF.rnn_relu, "LSTM": torch._VF.lstm, "GRU": torch._VF.gru}


@dataclass(frozen=True)
class ModuleTrace:
    """What :func:`trace_module` measured.  Arrays are numpy; L layers, D directions, T steps, N batch, H units.

    Batched input gives per-unit arrays shaped (L, D, T, N, H); unbatched input (L, D, T, H).
    Direction 1 is the reverse direction, indexed by input position t.
    """

    cell: str  # 'rnn' | 'lstm' | 'gru'
    hidden: np.ndarray  # h_t
    cell_state: np.ndarray | None  # c_t (LSTM)
    gates: dict[str, np.ndarray]  # gate name -> activations, shaped like hidden
    grad_h: np.ndarray  # total ∂L/∂h_t, shaped like hidden
    grad_c: np.ndarray | None  # total ∂L/∂c_t (LSTM)
    grad_h_norm: np.ndarray  # (L, D, T) L2 norm over batch and units
    grad_c_norm: np.ndarray | None  # (L, D, T) (LSTM)
    grad_out_norm: np.ndarray  # (L, D, T) norm of the direct part: what the loss or the layer above asks of h_t
    output: torch.Tensor  # the module's output, detached, in the module's layout
    loss: float


def _cell_name(module: nn.Module) -> tuple[str, str]:
    if isinstance(module, nn.LSTM):
        return "lstm", "LSTM"
    if isinstance(module, nn.GRU):
        return "gru", "GRU"
    if isinstance(module, nn.RNN):
        return "rnn", module.mode
    raise TypeError(f"module must be a torch.nn.RNN, LSTM or GRU; got {type(module).__name__}")


def _layer_weights(module: nn.RNNBase, layer: int, direction: int):
    sfx = f"_l{layer}" + ("_reverse" if direction else "")
    w_ih = getattr(module, "weight_ih" + sfx)
    w_hh = getattr(module, "weight_hh" + sfx)
    b_ih = getattr(module, "bias_ih" + sfx) if module.bias else None
    b_hh = getattr(module, "bias_hh" + sfx) if module.bias else None
    return w_ih, w_hh, b_ih, b_hh


def _extra_width(cell: str, hidden: int) -> int:
    return 2 * hidden if cell == "gru" else hidden


def _extra_block(cell: str, w_hh: torch.Tensor, hidden: int) -> torch.Tensor:
    """Input weights for the zero input e_t: (G*H, extra width), detached."""
    w = w_hh.detach()
    if cell != "gru":
        return w
    block = torch.zeros(3 * hidden, 2 * hidden, dtype=w.dtype, device=w.device)
    block[: 2 * hidden, :hidden] = w[: 2 * hidden]  # r and z blocks of W_hh
    block[2 * hidden :, hidden:] = torch.eye(hidden, dtype=w.dtype, device=w.device)  # reads ∂L/∂a_t
    return block


def _scan(a: np.ndarray, m: np.ndarray | None, x0: np.ndarray | None, backward: bool) -> np.ndarray:
    """Solve x_t = a_t + m_t ⊙ x_{t∓1} along axis 0 (x_{-1} = x0, or 0).

    Forward: x_t = a_t + m_t ⊙ x_{t-1}.  Backward: x_t = a_t + m_{t+1} ⊙ x_{t+1}.
    """
    x = np.empty_like(a)
    T = a.shape[0]
    tmp = np.empty_like(a[0])
    if backward:
        x[T - 1] = a[T - 1]
        for t in range(T - 2, -1, -1):
            np.multiply(m[t + 1], x[t + 1], out=tmp)
            np.add(a[t], tmp, out=x[t])
    else:
        x[0] = a[0] if x0 is None else a[0] + m[0] * x0
        for t in range(1, T):
            np.multiply(m[t], x[t - 1], out=tmp)
            np.add(a[t], tmp, out=x[t])
    return x


def _norm(a: np.ndarray) -> np.ndarray:
    """L2 norm over batch and units of (T, N, H), in float64 so squaring cannot overflow float32."""
    return np.sqrt(np.square(a, dtype=np.float64).sum(axis=(1, 2)))


def trace_module(
    module: nn.Module,
    inputs: torch.Tensor,
    loss: Callable[[torch.Tensor], torch.Tensor],
) -> ModuleTrace:
    """Run ``module`` on ``inputs``, backpropagate ``loss(output)`` and report every timestep.

    ``module`` is any ``nn.RNN``, ``nn.LSTM`` or ``nn.GRU`` (layers, bidirectional, ``batch_first``,
    float32 or float64; no ``proj_size``, no dropout while training).  ``inputs`` is shaped as the
    module expects, batched or not; the initial state is zero.  ``loss`` takes the module's output
    tensor and returns a scalar.  Afterwards the module's parameters hold the same ``.grad`` a plain
    ``loss(module(inputs)[0]).backward()`` would leave.
    """
    cell, mode = _cell_name(module)
    if getattr(module, "proj_size", 0):
        raise ValueError("trace_module does not support LSTM proj_size > 0")
    if module.training and module.dropout > 0 and module.num_layers > 1:
        raise ValueError("trace_module needs dropout = 0 or module.eval(): dropout makes the trace random")
    if inputs.dim() not in (2, 3):
        raise ValueError(
            f"inputs must be (T, N, I), (N, T, I) with batch_first, or unbatched (T, I); got {tuple(inputs.shape)}"
        )
    batched = inputs.dim() == 3
    x = inputs if batched else inputs.unsqueeze(0 if module.batch_first else 1)
    if module.batch_first:
        x = x.transpose(0, 1)
    x = x.to(dtype=module.weight_hh_l0.dtype)  # (T, N, I)
    T, N, _ = x.shape
    H, L, D = module.hidden_size, module.num_layers, 2 if module.bidirectional else 1
    E = _extra_width(cell, H)
    fused = _FUSED[mode]
    zeros_h = x.new_zeros(D, N, H)

    layer_in = x
    outs: list[torch.Tensor] = []  # (T, N, D*H) per layer
    extras: list[torch.Tensor] = []  # (T, N, D*E) per layer, the zero inputs
    hx = (zeros_h[:1], zeros_h[:1]) if cell == "lstm" else zeros_h[:1]
    for layer in range(L):
        extra = x.new_zeros(T, N, D * E, requires_grad=True)
        halves = []
        for d in range(D):
            # Each direction runs on its own, the reverse one on the time-flipped sequence, so that the
            # zero input of one direction never costs the other a matrix product.
            w_ih, w_hh, b_ih, b_hh = _layer_weights(module, layer, d)
            flat = [torch.cat([w_ih, _extra_block(cell, w_hh, H)], dim=1), w_hh] + ([b_ih, b_hh] if module.bias else [])
            seq = torch.cat([layer_in, extra[..., d * E : (d + 1) * E]], dim=-1)
            seq = seq.flip(0) if d else seq
            half = fused(seq, hx, flat, module.bias, 1, 0.0, False, False, False)[0]  # (T, N, H)
            halves.append(half.flip(0) if d else half)
        out = torch.cat(halves, dim=-1) if D == 2 else halves[0]
        out.retain_grad()
        outs.append(out)
        extras.append(extra)
        layer_in = out

    output = outs[-1]
    if module.batch_first:
        output = output.transpose(0, 1)
    if not batched:
        output = output.squeeze(0 if module.batch_first else 1)
    value = loss(output)
    value.backward()

    per_unit = {
        k: np.empty((L, D, T, N, H), dtype=np.float64 if x.dtype == torch.float64 else np.float32)
        for k in ("hidden", "grad_h", *GATES[cell], *(("cell_state", "grad_c") if cell == "lstm" else ()))
    }
    grad_out_norm = np.empty((L, D, T))
    with torch.no_grad():
        layer_in = x
        for layer in range(L):
            out, extra = outs[layer], extras[layer]
            g_out = out.grad if out.grad is not None else torch.zeros_like(out)
            g_extra = extra.grad if extra.grad is not None else torch.zeros_like(extra)
            for d in range(D):
                w_ih, w_hh, b_ih, b_hh = _layer_weights(module, layer, d)
                flip = (lambda a: a.flip(0)) if d else (lambda a: a)  # reverse direction: process in its own order
                xs = flip(layer_in)
                h = flip(out[..., d * H : (d + 1) * H])  # (T, N, H)
                h_prev = torch.cat([zeros_h[d : d + 1], h[:-1]])
                gates = gate_activations(cell, xs, h_prev, w_ih, w_hh, b_ih, b_hh)
                direct = flip(g_out[..., d * H : (d + 1) * H])
                rec = flip(g_extra[..., d * E : d * E + H])  # into h_{t-1} from step t
                # a_t: everything ∂L/∂h_t receives except (GRU) z_{t+1} ⊙ ∂L/∂h_{t+1}
                a = direct.clone()
                a[:-1] += rec[1:]
                if cell == "gru":
                    g_new = flip(g_extra[..., d * E + H : (d + 1) * E])  # ∂L/∂a_t
                    a[:-1] += (gates["reset"][1:] * g_new[1:]) @ w_hh[2 * H :]
                    grad_h = _scan(a.numpy(), gates["update"].numpy(), None, backward=True)
                else:
                    grad_h = a.numpy()
                unflip = (lambda arr: arr[::-1]) if d else (lambda arr: arr)
                per_unit["hidden"][layer, d] = unflip(h.numpy())
                per_unit["grad_h"][layer, d] = unflip(grad_h)
                grad_out_norm[layer, d] = unflip(_norm(direct.numpy()))
                for name, act in gates.items():
                    per_unit[name][layer, d] = unflip(act.numpy())
                if cell == "lstm":
                    i, f, g, o = (gates[k].numpy() for k in GATES["lstm"])
                    c = _scan(i * g, f, None, backward=False)
                    tanh_c = np.tanh(c)
                    grad_c = _scan(grad_h * o * (1 - tanh_c * tanh_c), f, None, backward=True)
                    per_unit["cell_state"][layer, d] = unflip(c)
                    per_unit["grad_c"][layer, d] = unflip(grad_c)
            layer_in = out

    def shape(a: np.ndarray) -> np.ndarray:
        return a if batched else a[:, :, :, 0]

    grad_h_norm = np.sqrt(np.square(per_unit["grad_h"], dtype=np.float64).sum(axis=(3, 4)))
    grad_c_norm = np.sqrt(np.square(per_unit["grad_c"], dtype=np.float64).sum(axis=(3, 4))) if cell == "lstm" else None
    return ModuleTrace(
        cell=cell,
        hidden=shape(per_unit["hidden"]),
        cell_state=shape(per_unit["cell_state"]) if cell == "lstm" else None,
        gates={k: shape(per_unit[k]) for k in GATES[cell]},
        grad_h=shape(per_unit["grad_h"]),
        grad_c=shape(per_unit["grad_c"]) if cell == "lstm" else None,
        grad_h_norm=grad_h_norm,
        grad_c_norm=grad_c_norm,
        grad_out_norm=grad_out_norm,
        output=output.detach(),
        loss=float(value.detach()),
    )
