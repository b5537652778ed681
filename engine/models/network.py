"""The configured model: a fused recurrent module plus a linear read-out, and its initialisation."""

from __future__ import annotations

import math

import torch
from torch import nn

from engine.config import Config
from engine.models.attention import DotAttention, annotations, build_attention
from engine.models.cells import NUM_BLOCKS

__all__ = ["DATA_STREAM", "EncoderDecoderModel", "RecurrentModel", "build_model", "data_generator", "parameter_count"]

# Data and weights draw from separate streams so that configurations that differ
# only in the model (compare mode) see identical data.
DATA_STREAM = 2**31


def weight_generator(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def data_generator(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed + DATA_STREAM)


def _recurrent(cfg: Config, input_size: int, bidirectional: bool, dtype: torch.dtype) -> nn.RNNBase:
    kw = dict(num_layers=cfg.num_layers, bidirectional=bidirectional, dtype=dtype)
    if cfg.cell == "lstm":
        return nn.LSTM(input_size, cfg.hidden_size, **kw)
    if cfg.cell == "gru":
        return nn.GRU(input_size, cfg.hidden_size, **kw)
    return nn.RNN(input_size, cfg.hidden_size, nonlinearity=cfg.nonlinearity, **kw)


class RecurrentModel(nn.Module):
    """``rnn``: an ``nn.RNN``/``LSTM``/``GRU`` (sequence-first); ``head``: ``nn.Linear(D*H, O)`` at every step."""

    def __init__(self, cfg: Config, input_size: int, output_size: int, dtype: torch.dtype = torch.float32):
        super().__init__()
        self.rnn: nn.RNNBase = _recurrent(cfg, input_size, cfg.bidirectional, dtype)
        self.head = nn.Linear(cfg.hidden_size * cfg.num_directions, output_size, dtype=dtype)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, _ = self.rnn(x)  # (T, N, D*H)
        return self.head(out)  # (T, N, O)


def teacher_inputs(y: torch.Tensor, output_size: int, dtype: torch.dtype) -> torch.Tensor:
    """The decoder's inputs under teacher forcing: a start symbol (index O), then the target shifted by one.

    ``y`` (T, N) class indices in [0, O) -> (T, N, O + 1) one-hot.
    """
    start = torch.full_like(y[:1], output_size)
    return nn.functional.one_hot(torch.cat([start, y[:-1]]), output_size + 1).to(dtype)  # (T, N, O+1)


def handoff_state(final: torch.Tensor, num_directions: int) -> torch.Tensor:
    """The decoder's initial state from the encoder's final one: (L*D, N, H) -> (L, N, H), the directions summed."""
    return final if num_directions == 1 else final[0::2] + final[1::2]


class EncoderDecoderModel(nn.Module):
    """Sequence to sequence (Sutskever et al. 2014; Cho et al. 2014), the equations in engine/tracing/seq2seq.py,
    with attention (engine/models/attention.py) when ``cfg.attention`` is not 'none'.

    ``rnn``: the encoder, the configured cell, L layers, D directions, reading the source (T, N, I);
    ``decoder``: the same cell, L layers, one direction, H units, reading ``teacher_inputs`` (T, N, O+1) from
    the handoff state (additive attention: each step's input is [y_{i−1}; c_i], O+1+H wide); ``attention``:
    None, :class:`AdditiveAttention` or :class:`DotAttention`; ``head``: ``nn.Linear(H, O)`` at every decoder step.
    """

    def __init__(self, cfg: Config, input_size: int, output_size: int, dtype: torch.dtype = torch.float32):
        super().__init__()
        self.rnn: nn.RNNBase = _recurrent(cfg, input_size, cfg.bidirectional, dtype)
        context = cfg.hidden_size if cfg.attention == "additive" else 0
        self.decoder: nn.RNNBase = _recurrent(cfg, output_size + 1 + context, False, dtype)
        self.head = nn.Linear(cfg.hidden_size, output_size, dtype=dtype)
        self.attention = build_attention(cfg.attention, cfg.hidden_size, dtype)
        self.reverse_source = cfg.reverse_source
        self.num_directions = cfg.num_directions
        self.output_size = output_size

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Source ``x`` (T, N, I), target ``y`` (T, N) -> logits (T, N, O) at every decoder step."""
        return self.translate(x, teacher_inputs(y, self.output_size, x.dtype))[0]

    def translate(self, x: torch.Tensor, inputs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Source ``x`` (T, N, I), the decoder's inputs (T', N, O+1) -> (logits (T', N, O), alignment α (T', N, T)
        or None without attention): α[i, n, j] is how much decoder step i reads encoder step j."""
        src = x.flip(0) if self.reverse_source else x  # reversed: the encoder reads x_{T-1} first
        out, final = self.rnn(src)  # (T, N, D*H)
        if isinstance(final, tuple):  # LSTM: (h_n, c_n), each handed off the same way
            state = tuple(handoff_state(f, self.num_directions) for f in final)
        else:
            state = handoff_state(final, self.num_directions)
        if self.attention is None:
            dec, _ = self.decoder(inputs, state)  # (T', N, H)
            return self.head(dec), None
        h = annotations(out, self.num_directions)  # (T, N, H)
        if isinstance(self.attention, DotAttention):
            dec, _ = self.decoder(inputs, state)  # (T', N, H)
            tilde, alpha = self.attention(dec, h)  # (T', N, H), (T', N, T)
            return self.head(tilde), alpha
        keys = self.attention.key(h)  # U h_j, (T, N, H), once for every decoder step
        outs, alphas = [], []
        for i in range(inputs.shape[0]):
            s_prev = (state[0] if isinstance(state, tuple) else state)[-1]  # the top layer's s_{i-1}, (N, H)
            context, alpha = self.attention(s_prev, h, keys)  # (N, H), (N, T)
            step, state = self.decoder(torch.cat([inputs[i : i + 1], context[None]], dim=-1), state)  # (1, N, H)
            outs.append(step)
            alphas.append(alpha)
        return self.head(torch.cat(outs)), torch.stack(alphas)  # (T', N, O), (T', N, T)


def build_model(
    cfg: Config, input_size: int, output_size: int, dtype: torch.dtype = torch.float32
) -> RecurrentModel | EncoderDecoderModel:
    """Build and initialise the model for ``cfg``; the same config gives bit-identical weights."""
    cls = EncoderDecoderModel if cfg.arch == "encoder-decoder" else RecurrentModel
    model = cls(cfg, input_size, output_size, dtype)
    init_weights(model, cfg, weight_generator(cfg.seed))
    return model


@torch.no_grad()
def init_weights(model: RecurrentModel | EncoderDecoderModel, cfg: Config, gen: torch.Generator) -> None:
    """Draw every weight from ``gen`` by ``cfg.init``, then scale W_hh by ``cfg.gain`` and shift the forget bias.

    - ``pytorch``: PyTorch's default, U(-1/√H, 1/√H) for every recurrent weight and bias.
    - ``orthogonal``: each H×H gate block of W_hh orthogonal; W_ih as PyTorch; biases 0.
    - ``normal``: W_hh ~ N(0, 1/H) (spectral radius near 1), W_ih ~ N(0, 1/I); biases 0.
    - ``identity``: each gate block of W_hh the identity (Le et al., 2015); W_ih as PyTorch; biases 0.

    An encoder-decoder's decoder is drawn the same way, after the encoder and before the head; its attention's
    weights after the head, U(-1/√fan_in, 1/√fan_in) as ``nn.Linear``'s default (so a model without attention
    draws the same weights as before attention existed).
    """
    for module in (model.rnn, getattr(model, "decoder", None)):
        if module is not None:
            _init_recurrent(module, cfg, gen)
    extra = getattr(model, "attention", None)
    for linear in (model.head, *(extra.modules() if extra is not None else ())):
        if isinstance(linear, nn.Linear):
            bound = 1 / math.sqrt(linear.in_features)
            for p in linear.parameters():
                p.uniform_(-bound, bound, generator=gen)


def _init_recurrent(module: nn.RNNBase, cfg: Config, gen: torch.Generator) -> None:
    H = cfg.hidden_size
    k = 1 / math.sqrt(H)
    for name, p in module.named_parameters():
        if cfg.init == "pytorch" or name.startswith("weight_ih") and cfg.init in ("orthogonal", "identity"):
            p.uniform_(-k, k, generator=gen)
        elif name.startswith("bias"):
            p.zero_()
        elif name.startswith("weight_ih"):
            p.normal_(0.0, 1 / math.sqrt(p.shape[1]), generator=gen)
        elif cfg.init == "normal":
            p.normal_(0.0, 1 / math.sqrt(H), generator=gen)
        else:
            for block in p.view(NUM_BLOCKS[cfg.cell], H, H):
                if cfg.init == "orthogonal":
                    nn.init.orthogonal_(block, generator=gen)
                else:
                    block.copy_(torch.eye(H))
        if name.startswith("weight_hh"):
            p.mul_(cfg.gain)
        if cfg.cell == "lstm" and name.startswith("bias_ih"):
            p[H : 2 * H] += cfg.forget_bias  # blocks i, f, g, o: f is the second


def parameter_count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
