"""A user's own model: the state_dict of an nn.RNN/LSTM/GRU, or of a model holding one.

Reading the uploaded file (``torch.save`` or ``.safetensors`` bytes) into a dict of tensors is the
server's, at its edge (server/uploads/); this module starts from that dict.  The
recurrent module's parameters are found by PyTorch's names (``weight_ih_l0``, ``weight_hh_l0``,
``bias_ih_l0``, ``bias_hh_l0``, suffix ``_reverse``) under any common prefix (``encoder.rnn.``); its
cell, hidden size, layers, directions and input size come from the shapes::

    weight_ih_l0 (G*H, I)   weight_hh_l0 (G*H, H)   G = 1 (vanilla RNN), 3 (GRU), 4 (LSTM)

A vanilla RNN's tanh or relu is not in the file, so the caller says which.  An ``nn.Linear`` stored
beside the recurrent module (``<name>.weight`` (O, D*H) and ``<name>.bias`` (O,)) becomes the read-out
when O is the task's output size.  Every problem raises :class:`CheckpointError` naming the key.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

import torch

from engine.config import FIELD_BY_NAME, Config, quote
from engine.data.tasks import Batch, input_steps
from engine.models import RecurrentModel, build_model

__all__ = [
    "Checkpoint", "CheckpointError", "build_uploaded", "configure", "file_values", "find_recurrent", "fit_inputs",
]  # fmt: skip

# A recurrent module's parameter name: (prefix)(kind)_l(layer)(_reverse).
_PARAM = re.compile(r"^(?P<prefix>(?:.*\.)?)(?P<kind>weight_ih|weight_hh|bias_ih|bias_hh|weight_hr)"
                    r"_l(?P<layer>\d+)(?P<reverse>_reverse)?$")
_CELLS = {1: "rnn", 3: "gru", 4: "lstm"}
_FLOATS = (torch.float16, torch.bfloat16, torch.float32, torch.float64)
MAX_INPUT_SIZE = 1024  # input features of an uploaded model (W_ih's columns)


class CheckpointError(ValueError):
    """The file is not a usable state_dict; ``key`` names the offending entry (None for the file itself)."""

    def __init__(self, key: str | None, message: str):
        super().__init__(message)
        self.key = key
        self.message = message


@dataclass(frozen=True)
class Checkpoint:
    """What a state_dict file holds, as the app reads it."""

    prefix: str  # '' or e.g. 'encoder.rnn.'
    cell: str  # 'rnn' | 'lstm' | 'gru'
    hidden_size: int  # H
    num_layers: int  # L
    bidirectional: bool
    input_size: int  # I
    rnn: dict[str, torch.Tensor]  # the recurrent module's parameters, PyTorch names without the prefix, float32
    head: tuple[str, torch.Tensor, torch.Tensor] | None  # (name, weight (O, D*H), bias (O,)) of a read-out, if any
    heads_seen: tuple[str, ...]  # every Linear-shaped pair whose input fits D*H, fitting or not
    ignored: tuple[str, ...] = ()  # the file's other modules, by name (an embedding, a bridge Linear): not used


def several_modules(prefixes: list[str]) -> str:
    """Why a file with more than one recurrent module is refused, and what to do instead.

    The page traces one module; the notebook API traces every module of a model through its own loss.  The
    prefixes are the client's key names: each is quoted short, and at most three are named.
    """
    names = ", ".join(quote(p.rstrip(".") or "(top level)", 60) for p in prefixes[:3])
    names += ", ..." if len(prefixes) > 3 else ""
    first = prefixes[0]
    keep = (f"keep only the keys under {quote(first, 60)} with that prefix cut off" if first
            else "keep only the top-level keys")
    return (f"the file holds {len(prefixes)} recurrent modules ({names}); this page traces one. To trace one of "
            f"them here, upload a state_dict holding only its keys ({keep}). To trace every module of your model "
            "through its own loss, run it in Python with `from engine import trace_submodules` and "
            "`trace_submodules(model, compute_loss)` (see the README, or the notebook in docs/)")


def find_recurrent(state: dict[str, torch.Tensor], output_size: int) -> Checkpoint:
    """Find the one recurrent module in ``state`` and read its shape; see the module docstring."""
    groups: dict[str, dict[str, torch.Tensor]] = {}
    for key, value in state.items():
        m = _PARAM.match(key)
        if m:
            groups.setdefault(m["prefix"], {})[key[len(m["prefix"]):]] = value
    found = [p for p, g in groups.items() if "weight_hh_l0" in g or "weight_ih_l0" in g]
    if not found:
        raise CheckpointError(None, "no recurrent module found: expected keys such as 'weight_ih_l0' and "
                                    "'weight_hh_l0' (optionally under a prefix, e.g. 'rnn.weight_ih_l0')")
    if len(found) > 1:
        raise CheckpointError(found[1] + "weight_hh_l0", several_modules(found))
    prefix = found[0]
    params = groups[prefix]
    for name, value in params.items():
        if value.dtype not in _FLOATS:
            raise CheckpointError(prefix + name, f"{prefix + name} must be a floating-point tensor (float16, bfloat16, "
                                                 f"float32 or float64); got {value.dtype}")
    if "weight_hr_l0" in params:
        raise CheckpointError(prefix + "weight_hr_l0", f"{prefix}weight_hr_l0: LSTMs with proj_size are not supported")
    cell, H, L, D, I = _shape(prefix, params)
    head, seen = _find_head(state, prefix, D * H, output_size)
    return Checkpoint(prefix, cell, H, L, D == 2, I, {k: v.float() for k, v in params.items()}, head, seen,
                      _ignored(state, prefix, head))


def _ignored(state, prefix: str, head) -> tuple[str, ...]:
    """The file's modules besides the recurrent one and the read-out, by name (a key's part before its last dot)."""
    names = set()
    for key in state:
        if key.startswith(prefix) and _PARAM.match(key[len(prefix):]):
            continue
        name = key.rpartition(".")[0] or key
        if head is None or name != head[0]:
            names.add(name[:80])  # a name quoted in a note stays short
    return tuple(sorted(names))


def _require(prefix: str, params: dict[str, torch.Tensor], name: str, shape: tuple[int, ...]) -> torch.Tensor:
    if name not in params:
        raise CheckpointError(prefix + name, f"missing key {prefix + name}: expected a tensor of shape {shape}")
    value = params[name]
    if tuple(value.shape) != shape:
        raise CheckpointError(prefix + name, f"{prefix + name} has shape {tuple(value.shape)}; expected {shape}")
    return value


def _shape(prefix: str, params: dict[str, torch.Tensor]) -> tuple[str, int, int, int, int]:
    """(cell, H, L, D, I) from the shapes, checking that every layer and direction is complete and agrees."""
    hh = params.get("weight_hh_l0")
    if hh is None or hh.dim() != 2:
        what = "missing key" if hh is None else f"{prefix}weight_hh_l0 has shape {tuple(hh.shape)};"
        raise CheckpointError(prefix + "weight_hh_l0", f"{what} {prefix}weight_hh_l0: expected (G*H, H), "
                                                       "G = 1 (RNN), 3 (GRU) or 4 (LSTM)")
    H = hh.shape[1]
    G, rest = divmod(hh.shape[0], H) if H else (0, 1)
    if rest or G not in _CELLS:
        raise CheckpointError(prefix + "weight_hh_l0", f"{prefix}weight_hh_l0 has shape {tuple(hh.shape)}; expected "
                                                       f"(G*H, H) = ({H}, {H}), ({3 * H}, {H}) or ({4 * H}, {H})")
    cell = _CELLS[G]
    f = FIELD_BY_NAME["hidden_size"]
    if not f.low <= H <= f.high:
        raise CheckpointError(prefix + "weight_hh_l0", f"the model's hidden size is {H}; the app traces "
                                                       f"{f.low:g} to {f.high:g} units")
    ih = params.get("weight_ih_l0")
    if ih is None or ih.dim() != 2 or ih.shape[0] != G * H:
        what = "missing key" if ih is None else f"{prefix}weight_ih_l0 has shape {tuple(ih.shape)};"
        raise CheckpointError(prefix + "weight_ih_l0", f"{what} {prefix}weight_ih_l0: expected ({G * H}, I), "
                                                       "I the input size")
    I = ih.shape[1]
    if not 1 <= I <= MAX_INPUT_SIZE:
        raise CheckpointError(prefix + "weight_ih_l0", f"the model's input size is {I}; at most {MAX_INPUT_SIZE}")
    layers = sorted({int(_PARAM.match("x." + k)["layer"]) for k in params})
    L = layers[-1] + 1
    max_layers = FIELD_BY_NAME["num_layers"].high
    if L > max_layers:
        raise CheckpointError(f"{prefix}weight_hh_l{L - 1}", f"the model has {L} layers; the app traces at most "
                                                             f"{max_layers:g}")
    D = 2 if any(k.endswith("_reverse") for k in params) else 1
    bias = "bias_ih_l0" in params or "bias_hh_l0" in params
    expected = set()
    for layer in range(L):
        width = I if layer == 0 else D * H
        for sfx in ("", "_reverse")[:D]:
            shapes = {"weight_ih": (G * H, width), "weight_hh": (G * H, H)}
            if bias:
                shapes.update(bias_ih=(G * H,), bias_hh=(G * H,))
            for kind, shape in shapes.items():
                _require(prefix, params, f"{kind}_l{layer}{sfx}", shape)
                expected.add(f"{kind}_l{layer}{sfx}")
    extra = sorted(set(params) - expected)
    if extra:
        raise CheckpointError(prefix + extra[0], f"unexpected key {prefix + extra[0]} for a {L}-layer "
                                                 f"{'bidirectional ' if D == 2 else ''}{cell.upper()} "
                                                 f"{'with' if bias else 'without'} biases")
    return cell, H, L, D, I


def _find_head(state, prefix: str, width: int, output_size: int):
    """The first ``<name>.weight`` (O, width) with ``<name>.bias`` (O,) outside the recurrent module."""
    head, seen = None, []
    for key, w in state.items():
        if key.startswith(prefix) and _PARAM.match(key) or not key.endswith(".weight") and key != "weight":
            continue
        name = key[: -len("weight")]
        b = state.get(name + "bias")
        if w.dim() != 2 or w.shape[1] != width or b is None or tuple(b.shape) != (w.shape[0],):
            continue
        if w.dtype not in _FLOATS or b.dtype not in _FLOATS:
            raise CheckpointError(key, f"{key} must be a floating-point tensor; got {w.dtype}")
        seen.append(name.rstrip("."))
        if head is None and w.shape[0] == output_size:
            head = (name.rstrip("."), w.float(), b.float())
    return head, tuple(seen)


def file_values(ckpt: Checkpoint, nonlinearity: str | None) -> dict:
    """The config keys an uploaded model fixes, with their values: its cell and shape, and a vanilla RNN's
    ``nonlinearity`` ('tanh' or 'relu', required: the file cannot tell)."""
    values = {"cell": ckpt.cell, "hidden_size": ckpt.hidden_size, "num_layers": ckpt.num_layers,
              "bidirectional": ckpt.bidirectional}
    if ckpt.cell == "rnn":
        if nonlinearity not in ("tanh", "relu"):
            raise CheckpointError(None, "the file cannot tell a vanilla RNN's nonlinearity: say 'tanh' or 'relu' "
                                        f"(got {quote(nonlinearity)})")
        values["nonlinearity"] = nonlinearity
    return values


def configure(cfg: Config, ckpt: Checkpoint, nonlinearity: str | None) -> tuple[Config, list[str]]:
    """``cfg`` with the file's cell and shape, and notes saying what came from the file.

    ``nonlinearity`` ('tanh' or 'relu') is required for a vanilla RNN: the file cannot tell.
    """
    where = f"the file's {ckpt.prefix.rstrip('.')}" if ckpt.prefix else "the file's recurrent module"
    notes = [f"cell, hidden_size, num_layers and bidirectional come from {where} "
             f"({ckpt.cell}, H = {ckpt.hidden_size}, {ckpt.num_layers} layer(s), "
             f"{'bidirectional' if ckpt.bidirectional else 'one direction'}, input size {ckpt.input_size})"]
    if ckpt.ignored:
        names = ", ".join(ckpt.ignored[:6]) + (f" and {len(ckpt.ignored) - 6} more" if len(ckpt.ignored) > 6 else "")
        notes.append(f"not used: the file's {names} (only the recurrent module and its read-out are traced; the "
                     "inputs are the task's, not what an embedding would give)")
    values = file_values(ckpt, nonlinearity)
    if ckpt.head is not None:
        notes.append(f"the read-out is the file's {ckpt.head[0] or 'Linear'}")
    elif ckpt.heads_seen:
        notes.append(f"the file's read-out {ckpt.heads_seen[0]} does not fit this task's output size; "
                     "the read-out is initialised as the config says")
    else:
        notes.append("the file has no read-out; it is initialised as the config says")
    if "bias_ih_l0" not in ckpt.rnn:
        notes.append("the file has no recurrent biases; they are initialised as the config says")
    return replace(cfg, **values).normalised(), notes


@torch.no_grad()
def load_into(model, ckpt: Checkpoint) -> None:
    """Copy the file's parameters into ``model`` (an engine.models.RecurrentModel built for ``configure``'s config)."""
    own = dict(model.rnn.named_parameters())
    for name, value in ckpt.rnn.items():
        own[name].copy_(value)
    if ckpt.head is not None:
        model.head.weight.copy_(ckpt.head[1])
        model.head.bias.copy_(ckpt.head[2])


def build_uploaded(cfg: Config, ckpt: Checkpoint, output_size: int) -> RecurrentModel:
    """The app's model for ``cfg`` (from :func:`configure`): initialised as ``cfg`` says, then the file's weights."""
    model = build_model(cfg, ckpt.input_size, output_size)
    load_into(model, ckpt)
    return model


def fit_inputs(batch: Batch, input_size: int, arch: str, generator: torch.Generator) -> Batch:
    """``batch`` as is when its inputs are ``input_size`` wide, else with N(0, 1) inputs of that width.

    Targets and scored steps stay the task's; inputs the arch withholds stay zero.
    """
    T, N, width = batch.x.shape
    if width == input_size:
        return batch
    x = torch.randn(T, N, input_size, generator=generator, dtype=batch.x.dtype)  # (T, N, I)
    fed = torch.zeros(T, dtype=torch.bool)
    fed[list(input_steps(arch, T))] = True
    return Batch(x=x.masked_fill(~fed[:, None, None], 0), y=batch.y, scored=batch.scored)
