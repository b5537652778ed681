"""The configured model: a fused recurrent module plus a linear read-out, and its initialisation."""

from __future__ import annotations

import math

import torch
from torch import nn

from engine.cells import NUM_BLOCKS
from engine.config import Config

# Data and weights draw from separate streams so that configurations that differ
# only in the model (compare mode) see identical data.
DATA_STREAM = 2**31


def weight_generator(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def data_generator(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed + DATA_STREAM)


class RecurrentModel(nn.Module):
    """``rnn``: an ``nn.RNN``/``LSTM``/``GRU`` (sequence-first); ``head``: ``nn.Linear(D*H, O)`` at every step."""

    def __init__(self, cfg: Config, input_size: int, output_size: int, dtype: torch.dtype = torch.float32):
        super().__init__()
        kw = dict(num_layers=cfg.num_layers, bidirectional=cfg.bidirectional, dtype=dtype)
        if cfg.cell == "lstm":
            self.rnn: nn.RNNBase = nn.LSTM(input_size, cfg.hidden_size, **kw)
        elif cfg.cell == "gru":
            self.rnn = nn.GRU(input_size, cfg.hidden_size, **kw)
        else:
            self.rnn = nn.RNN(input_size, cfg.hidden_size, nonlinearity=cfg.nonlinearity, **kw)
        self.head = nn.Linear(cfg.hidden_size * cfg.num_directions, output_size, dtype=dtype)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, _ = self.rnn(x)  # (T, N, D*H)
        return self.head(out)  # (T, N, O)


def build_model(cfg: Config, input_size: int, output_size: int, dtype: torch.dtype = torch.float32) -> RecurrentModel:
    """Build and initialise the model for ``cfg``; the same config gives bit-identical weights."""
    model = RecurrentModel(cfg, input_size, output_size, dtype)
    init_weights(model, cfg, weight_generator(cfg.seed))
    return model


@torch.no_grad()
def init_weights(model: RecurrentModel, cfg: Config, gen: torch.Generator) -> None:
    """Draw every weight from ``gen`` by ``cfg.init``, then scale W_hh by ``cfg.gain`` and shift the forget bias.

    - ``pytorch``: PyTorch's default, U(-1/√H, 1/√H) for every recurrent weight and bias.
    - ``orthogonal``: each H×H gate block of W_hh orthogonal; W_ih as PyTorch; biases 0.
    - ``normal``: W_hh ~ N(0, 1/H) (spectral radius near 1), W_ih ~ N(0, 1/I); biases 0.
    - ``identity``: each gate block of W_hh the identity (Le et al., 2015); W_ih as PyTorch; biases 0.
    """
    H = cfg.hidden_size
    k = 1 / math.sqrt(H)
    for name, p in model.rnn.named_parameters():
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
    bound = 1 / math.sqrt(model.head.in_features)
    model.head.weight.uniform_(-bound, bound, generator=gen)
    model.head.bias.uniform_(-bound, bound, generator=gen)


def parameter_count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
