"""An uploaded state_dict traces exactly as trace_module traces the module it came from; bad shapes are named.

Reading the file itself (torch.save, .safetensors) is the server's: tests/server/test_upload_files.py.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from engine import Config
from engine.data import CheckpointError, configure, find_recurrent, get_task, task_loss
from engine.lab.experiment import trace_uploaded, uploaded_batch
from engine.models import build_model
from engine.tracing import trace_module


def recurrent(cell: str, input_size: int, hidden: int, layers: int, bidirectional: bool, nonlinearity="tanh"):
    kw = dict(num_layers=layers, bidirectional=bidirectional)
    if cell == "lstm":
        return nn.LSTM(input_size, hidden, **kw)
    if cell == "gru":
        return nn.GRU(input_size, hidden, **kw)
    return nn.RNN(input_size, hidden, nonlinearity=nonlinearity, **kw)


class Forecaster(nn.Module):
    """A user's model: the recurrent module nested two levels down, a Linear read-out beside it."""

    def __init__(self, rnn: nn.Module, out: int):
        super().__init__()
        self.encoder = nn.Module()
        self.encoder.rnn = rnn
        self.fc = nn.Linear(rnn.hidden_size * (2 if rnn.bidirectional else 1), out)


CASES = [
    # cell, task, hidden, layers, bidirectional, nonlinearity, nested with read-out
    ("rnn", "sine", 5, 1, False, "tanh", False),
    ("rnn", "adding", 7, 2, True, "relu", True),
    ("lstm", "sine", 6, 1, False, None, True),
    ("lstm", "sentiment", 4, 3, True, None, False),
    ("gru", "copy", 8, 2, False, None, True),
    ("gru", "random", 3, 1, True, None, False),
]


@pytest.mark.parametrize("cell,task,hidden,layers,bidir,nonlin,nested", CASES)
def test_uploaded_state_dict_traces_as_trace_module_does(cell, task, hidden, layers, bidir, nonlin, nested):
    torch.manual_seed(hidden * 10 + layers)
    spec = get_task(task)
    rnn = recurrent(cell, spec.input_size, hidden, layers, bidir, nonlin or "tanh")
    user = Forecaster(rnn, spec.output_size) if nested else rnn
    ckpt = find_recurrent(user.state_dict(), spec.output_size)
    assert ckpt.prefix == ("encoder.rnn." if nested else "")
    cfg, notes = configure(Config(task=task, seq_len=12, batch_size=3, seed=4, cell="gru", hidden_size=99), ckpt,
                           nonlin)
    assert (cfg.cell, cfg.hidden_size, cfg.num_layers, cfg.bidirectional) == (cell, hidden, layers, bidir)
    if cell == "rnn":
        assert cfg.nonlinearity == nonlin

    got = trace_uploaded(cfg, ckpt)

    batch = uploaded_batch(cfg, spec.input_size)
    assert batch.x.shape == (12, 3, spec.input_size)
    # Without a read-out in the file the head is initialised as the config says: the fresh model's head.
    head = user.fc if nested else build_model(cfg, spec.input_size, spec.output_size).head
    assert ("read-out is the file's fc" in " ".join(notes)) == nested
    preds = []

    def loss(out):
        preds.append(head(out))
        return task_loss(preds[-1], batch)

    want = trace_module(rnn, batch.x, loss)
    np.testing.assert_array_equal(got.grad_h_norm, want.grad_h_norm)
    np.testing.assert_array_equal(got.hidden, want.hidden[:, :, :, 0])
    np.testing.assert_array_equal(got.grad_h, want.grad_h[:, :, :, 0])
    np.testing.assert_array_equal(got.outputs, preds[-1][:, 0].detach().numpy())
    assert got.loss == want.loss
    for name, p in rnn.named_parameters():
        assert got.param_grad_norms[name] == pytest.approx(p.grad.norm().item(), rel=1e-6)


def test_other_input_size_traces_on_random_inputs_of_that_width():
    torch.manual_seed(0)
    rnn = nn.GRU(3, 5)
    ckpt = find_recurrent(rnn.state_dict(), 1)
    cfg, _ = configure(Config(task="sine", seq_len=9, batch_size=2), ckpt, None)
    batch = uploaded_batch(cfg, 3)
    task_batch = uploaded_batch(cfg, 1)  # the task's own batch
    assert batch.x.shape == (9, 2, 3)
    assert torch.equal(batch.y, task_batch.y)
    head = build_model(cfg, 3, 1).head
    want = trace_module(rnn, batch.x, lambda out: task_loss(head(out), batch))
    got = trace_uploaded(cfg, ckpt)
    np.testing.assert_array_equal(got.grad_h_norm, want.grad_h_norm)


def test_wrong_dtype_names_the_key():
    state = nn.RNN(2, 3).state_dict()
    state["weight_hh_l0"] = state["weight_hh_l0"].to(torch.int64)
    with pytest.raises(CheckpointError, match="weight_hh_l0 must be a floating-point tensor.*got torch.int64") as e:
        find_recurrent(state, 1)
    assert e.value.key == "weight_hh_l0"


def test_missing_key_names_it_and_the_shape_expected():
    model = Forecaster(nn.LSTM(2, 3, num_layers=2), 1)
    state = model.state_dict()
    del state["encoder.rnn.weight_ih_l1"]
    with pytest.raises(CheckpointError, match=r"missing key encoder\.rnn\.weight_ih_l1: expected .*\(12, 3\)") as e:
        find_recurrent(state, 1)
    assert e.value.key == "encoder.rnn.weight_ih_l1"


def test_missing_reverse_direction_key():
    state = nn.GRU(2, 3, bidirectional=True).state_dict()
    del state["bias_hh_l0_reverse"]
    with pytest.raises(CheckpointError, match=r"missing key bias_hh_l0_reverse: expected .*\(9,\)"):
        find_recurrent(state, 1)


def test_mismatched_shape_names_the_key_and_both_shapes():
    state = nn.RNN(2, 3, num_layers=2).state_dict()
    state["weight_hh_l1"] = torch.zeros(3, 4)
    with pytest.raises(CheckpointError, match=r"weight_hh_l1 has shape \(3, 4\); expected \(3, 3\)") as e:
        find_recurrent(state, 1)
    assert e.value.key == "weight_hh_l1"


def test_shape_that_is_no_cell():
    state = {"weight_ih_l0": torch.zeros(6, 2), "weight_hh_l0": torch.zeros(6, 3)}  # G = 2
    with pytest.raises(CheckpointError, match=r"weight_hh_l0 has shape \(6, 3\); expected"):
        find_recurrent(state, 1)


def test_no_recurrent_module_and_two_of_them():
    with pytest.raises(CheckpointError, match="no recurrent module found"):
        find_recurrent(nn.Linear(3, 2).state_dict(), 1)
    two = nn.Module()
    two.a, two.b = nn.RNN(2, 3), nn.GRU(2, 3)
    with pytest.raises(CheckpointError, match="holds 2 recurrent modules") as refused:
        find_recurrent(two.state_dict(), 1)
    # The refusal says what to do instead: one module's keys here, or every module with the notebook API.
    assert "only the keys under 'a.'" in refused.value.message
    assert "from engine import trace_submodules" in refused.value.message


def test_several_modules_quotes_a_long_prefix_short():
    long_name = "m" * 5000
    state = {f"{long_name}.weight_hh_l0": torch.zeros(3, 3), f"{long_name}.weight_ih_l0": torch.zeros(3, 2),
             "b.weight_hh_l0": torch.zeros(3, 3), "b.weight_ih_l0": torch.zeros(3, 2)}
    with pytest.raises(CheckpointError, match="holds 2 recurrent modules") as refused:
        find_recurrent(state, 1)
    assert long_name not in refused.value.message
    assert "(5,000 characters)" in refused.value.message and len(refused.value.message) < 1000


def test_hidden_size_beyond_the_app_is_refused():
    with pytest.raises(CheckpointError, match="hidden size is 300"):
        find_recurrent(nn.RNN(1, 300).state_dict(), 1)


def test_vanilla_rnn_needs_its_nonlinearity():
    ckpt = find_recurrent(nn.RNN(1, 3).state_dict(), 1)
    with pytest.raises(CheckpointError, match="nonlinearity"):
        configure(Config(task="sine"), ckpt, None)


def test_read_out_that_does_not_fit_the_task_is_left_out():
    model = Forecaster(nn.LSTM(1, 4), 5)  # 5 outputs; sine has 1
    ckpt = find_recurrent(model.state_dict(), 1)
    assert ckpt.head is None and ckpt.heads_seen == ("fc",)
    _, notes = configure(Config(task="sine"), ckpt, None)
    assert any("does not fit" in n for n in notes)


def test_module_without_biases_keeps_the_configs_biases():
    torch.manual_seed(1)
    rnn = nn.GRU(1, 4, bias=False)
    ckpt = find_recurrent(rnn.state_dict(), 1)
    cfg, notes = configure(Config(task="sine", seq_len=5, batch_size=2, init="orthogonal"), ckpt, None)
    assert any("no recurrent biases" in n for n in notes)
    model = build_model(cfg, 1, 1)
    from engine.data import build_uploaded

    up = build_uploaded(cfg, ckpt, 1)
    assert torch.equal(up.rnn.weight_hh_l0, rnn.weight_hh_l0)
    assert torch.equal(up.rnn.bias_ih_l0, model.rnn.bias_ih_l0)  # orthogonal init: zero biases


def test_training_starts_from_the_uploaded_weights():
    """Step 1's loss is the uploaded model's loss on that batch; a plain Trainer's is not."""
    from engine.lab import Trainer

    torch.manual_seed(2)
    rnn = nn.LSTM(1, 6)
    ckpt = find_recurrent(rnn.state_dict(), 1)
    cfg, _ = configure(Config(task="sine", seq_len=10, batch_size=4, steps=3), ckpt, None)
    from engine.data import build_uploaded, make_batch
    from engine.models import data_generator

    trainer = Trainer(cfg, build_uploaded(cfg, ckpt, 1))
    head = build_model(cfg, 1, 1).head  # the file has no read-out: the config's
    batch = make_batch("sine", cfg.arch, 10, 4, data_generator(cfg.seed))
    with torch.no_grad():
        want = task_loss(head(rnn(batch.x)[0]), batch).item()
    first = next(trainer.steps())
    assert first.loss == pytest.approx(want, rel=1e-6)
    assert next(Trainer(cfg).steps()).loss != pytest.approx(want, rel=1e-3)


def test_the_notes_name_the_traced_module_and_what_the_file_holds_besides():
    class Tagger(nn.Module):
        def __init__(self):
            super().__init__()
            self.embedding = nn.Embedding(10, 2)
            self.encoder = nn.GRU(2, 3)
            self.bridge = nn.Linear(3, 3)
            self.out = nn.Linear(3, 1)

    ckpt = find_recurrent(Tagger().state_dict(), 1)
    assert ckpt.prefix == "encoder." and ckpt.head[0] == "out" and ckpt.ignored == ("bridge", "embedding")
    _, notes = configure(Config(), ckpt, None)
    assert notes[0].startswith("cell, hidden_size, num_layers and bidirectional come from the file's encoder (gru,")
    assert notes[1].startswith("not used: the file's bridge, embedding (only the recurrent module and its read-out")
    # a bare module holds nothing else
    assert find_recurrent(nn.LSTM(2, 3).state_dict(), 1).ignored == ()
