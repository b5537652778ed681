"""trace_submodules on a small encoder–decoder, against the naive reference swapped in for every recurrent module."""

import copy

import numpy as np
import pytest
import torch
from torch import nn
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence

from engine import ModuleTrace, trace_submodules
from tests.engine.reference import NaiveRecurrent, collect

CELLS = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}
VOCAB, EMBED, HIDDEN, LAYERS = 7, 4, 5, 2
SRC_LENGTHS = [6, 3, 5, 1]  # unsorted, packed
TGT_LEN = 4


class Encoder(nn.Module):
    def __init__(self, cls):
        super().__init__()
        self.rnn = cls(EMBED, HIDDEN, num_layers=LAYERS, bidirectional=True, dtype=torch.float64)


class Decoder(nn.Module):
    def __init__(self, cls):
        super().__init__()
        self.rnn = cls(EMBED, HIDDEN, num_layers=LAYERS, batch_first=True, dtype=torch.float64)
        self.head = nn.Linear(HIDDEN, VOCAB, dtype=torch.float64)


class Seq2Seq(nn.Module):
    """A bidirectional packed encoder; a bridge maps its final states to the decoder's initial state."""

    def __init__(self, cell: str):
        super().__init__()
        cls = CELLS[cell]
        self.lstm = cell == "lstm"
        self.embed = nn.Embedding(VOCAB, EMBED, dtype=torch.float64)
        self.encoder, self.decoder = Encoder(cls), Decoder(cls)
        self.bridge = nn.Linear(2 * HIDDEN, HIDDEN, dtype=torch.float64)
        self.other = cls(EMBED, HIDDEN, dtype=torch.float64)  # never called: left out of the traces

    def _join(self, final):  # (L*2, N, H) -> (L, N, H): both directions of each layer through the bridge
        return torch.tanh(self.bridge(torch.cat([final[0::2], final[1::2]], dim=-1)))

    def forward(self, src, src_lengths, tgt, stepwise: bool):
        packed = pack_padded_sequence(self.embed(src), src_lengths, enforce_sorted=False)  # src (T, N)
        _, final = self.encoder.rnn(packed)
        state = tuple(self._join(f) for f in final) if self.lstm else self._join(final)
        emb = self.embed(tgt)  # (N, T', E), the decoder is batch_first
        if stepwise:  # one token at a time, as at inference
            outs = []
            for t in range(emb.shape[1]):
                out, state = self.decoder.rnn(emb[:, t : t + 1], state)
                outs.append(out)
            out = torch.cat(outs, dim=1)
        else:
            out, _ = self.decoder.rnn(emb, state)
        return self.decoder.head(out)  # (N, T', VOCAB)


def _data():
    g = torch.Generator().manual_seed(5)
    src = torch.randint(VOCAB, (max(SRC_LENGTHS), len(SRC_LENGTHS)), generator=g)
    tgt = torch.randint(VOCAB, (len(SRC_LENGTHS), TGT_LEN + 1), generator=g)
    return src, torch.tensor(SRC_LENGTHS), tgt


def _loss(model, stepwise):
    src, lengths, tgt = _data()
    logits = model(src, lengths, tgt[:, :-1], stepwise)
    return nn.functional.cross_entropy(logits.reshape(-1, VOCAB), tgt[:, 1:].reshape(-1))


def _check_against(trace: ModuleTrace, ref: dict, lstm: bool):
    np.testing.assert_allclose(trace.hidden, ref["hidden"].numpy(), rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(trace.grad_h, ref["grad_h"].numpy(), rtol=1e-9, atol=1e-13)
    np.testing.assert_allclose(trace.grad_h0, ref["grad_h0"].numpy(), rtol=1e-9, atol=1e-13)
    if lstm:
        np.testing.assert_allclose(trace.grad_c, ref["grad_c"].numpy(), rtol=1e-9, atol=1e-13)
        np.testing.assert_allclose(trace.grad_c0, ref["grad_c0"].numpy(), rtol=1e-9, atol=1e-13)


@pytest.mark.parametrize("cell", list(CELLS))
@pytest.mark.parametrize("stepwise", [False, True])
def test_encoder_decoder_matches_reference(cell, stepwise):
    torch.manual_seed(0)
    model = Seq2Seq(cell)
    plain = copy.deepcopy(model)
    _loss(plain, stepwise).backward()

    traces = trace_submodules(model, lambda: _loss(model, stepwise))

    naive = copy.deepcopy(model)
    naive.encoder.rnn = NaiveRecurrent(model.encoder.rnn)
    naive.decoder.rnn = NaiveRecurrent(model.decoder.rnn)
    value = _loss(naive, stepwise)
    value.backward()

    assert set(traces) == {"encoder.rnn", "decoder.rnn"}
    for name, p in model.named_parameters():  # a plain backward's .grad, every parameter of the model
        want = dict(plain.named_parameters())[name].grad
        if want is None:
            assert p.grad is None, name
        else:
            torch.testing.assert_close(p.grad, want, rtol=1e-10, atol=1e-13, msg=name)
    encoder = traces["encoder.rnn"]
    assert isinstance(encoder, ModuleTrace) and encoder.loss == pytest.approx(float(value.detach()), rel=1e-12)
    np.testing.assert_array_equal(encoder.lengths, SRC_LENGTHS)
    _check_against(encoder, collect(naive.encoder.rnn.calls[0]), cell == "lstm")
    decoder = traces["decoder.rnn"]
    calls = naive.decoder.rnn.calls
    if stepwise:  # each call's hx is the h_n the call before returned: one trace along time
        assert isinstance(decoder, ModuleTrace) and len(calls) == TGT_LEN
        assert decoder.hidden.shape == (LAYERS, 1, TGT_LEN, len(SRC_LENGTHS), HIDDEN)
        refs = [collect(record) for record in calls]
        ref = {k: torch.cat([r[k] for r in refs], dim=2) if not k.endswith("0") else refs[0][k] for k in refs[0]}
        _check_against(decoder, ref, cell == "lstm")
    else:
        assert isinstance(decoder, ModuleTrace) and len(calls) == 1
        _check_against(decoder, collect(calls[0]), cell == "lstm")
    # what the encoder receives from its decoder reaches its final steps: the reverse direction's at input
    # position 0, the forward direction's at each sequence's last step
    assert np.all(np.abs(decoder.grad_h0) > 0)
    last = np.array(SRC_LENGTHS) - 1
    assert np.all(encoder.grad_h[:, 0, last, np.arange(len(SRC_LENGTHS))] != 0)


def test_forward_is_restored_even_after_an_error():
    model = Seq2Seq("gru")

    def boom():
        model.encoder.rnn(torch.zeros(3, 1, EMBED, dtype=torch.float64))
        raise RuntimeError("user code failed")

    with pytest.raises(RuntimeError, match="user code failed"):
        trace_submodules(model, boom)
    assert all("forward" not in m.__dict__ for m in model.modules())
    assert type(model.encoder.rnn) is nn.GRU  # its own class again, and no hook left on any module
    assert all(not m._forward_hooks and not m._forward_pre_hooks for m in model.modules())
    out, _ = model.encoder.rnn(torch.zeros(3, 1, EMBED, dtype=torch.float64))  # the stock forward again
    assert out.shape == (3, 1, 2 * HIDDEN)


def test_errors_name_the_module():
    model = Seq2Seq("lstm")
    model.decoder.rnn = nn.LSTM(EMBED, HIDDEN, num_layers=LAYERS, dropout=0.2, batch_first=True, dtype=torch.float64)
    with pytest.raises(ValueError, match=r"^decoder\.rnn: dropout=0\.2 between its layers while training"):
        trace_submodules(model, lambda: _loss(model, False))
    model.eval()
    assert isinstance(trace_submodules(model, lambda: _loss(model, False))["decoder.rnn"], ModuleTrace)

    def frozen_encoder():
        with torch.no_grad():
            model.encoder.rnn(torch.zeros(3, 1, EMBED, dtype=torch.float64))
        return _loss(model, False)

    with pytest.raises(ValueError, match=r"^encoder\.rnn: ran with gradients disabled"):
        trace_submodules(model, frozen_encoder)

    class ByHand(nn.GRU):  # its own forward never reaches the stock computation, and nothing feeds back
        def forward(self, x, hx=None):
            return torch.tanh(x @ self.weight_ih_l0[:HIDDEN].T), None

    model.encoder.rnn = ByHand(EMBED, HIDDEN, dtype=torch.float64)
    with pytest.raises(ValueError, match=r"^encoder\.rnn: ByHand has its own forward, which never reached the stock "
                                         r"nn\.GRU computation"):
        trace_submodules(model, lambda: model.encoder.rnn(torch.zeros(2, 1, EMBED, dtype=torch.float64))[0].sum())
    linear = nn.Linear(2, 2)
    with pytest.raises(ValueError, match=r"nothing recurrent ran in the model.*H = mark_state\(H, \"H\"\)"):
        trace_submodules(linear, lambda: linear(torch.ones(2)).sum())
    with pytest.raises(ValueError, match=r"compute_loss must return a scalar tensor .* got shape \(3,\)"):
        trace_submodules(Seq2Seq("rnn"), lambda: torch.zeros(3))


def _readme_blocks(title: str) -> list[dict]:
    """Each ```python block of the README's section ``title`` run as printed, in its own namespace."""
    import re
    from pathlib import Path

    text = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    start = text.index(f"## {title}\n")
    section = text[start : text.index("\n## ", start)]
    scopes = []
    for block in re.findall(r"```python\n(.*?)```", section, re.S):
        scope: dict = {}
        exec(block, scope)
        scopes.append(scope)
    return scopes


def test_readme_examples_run():
    """The README's "Trace your own model" code runs as printed and gives the shapes its comments promise."""
    scopes = _readme_blocks("Trace your own model")
    assert len(scopes) == 2
    traces = scopes[-1]["traces"]
    assert set(traces) == {"encoder", "decoder"}
    assert traces["encoder"].grad_h_norm.shape == (2, 1, 12)
    assert traces["decoder"].grad_h0.shape == (2, 1, 4, 32)
    assert np.all(np.isnan(traces["encoder"].hidden[:, :, 3:, 3]))  # the 3-token sentence ends at step 3


def test_readme_loops_run():
    """The README's "Trace the model you wrote" code runs as printed and gives what its comments promise."""
    torch.manual_seed(0)
    cells, char_rnn, marked = _readme_blocks("Trace the model you wrote")
    traces = cells["traces"]
    assert set(traces) == {"lstm1", "lstm2"} and traces["lstm2"].kind == "cell"
    assert traces["lstm2"].grad_h_norm.shape == traces["lstm2"].grad_out_norm.shape == (1, 1, 119)
    assert traces["lstm1"].gates["forget"].shape == (1, 1, 119, 8, 51)
    trace = char_rnn["trace"]
    assert (trace.kind, trace.grad_h_norm.shape) == ("custom", (1, 1, 9))
    assert set(trace_submodules(char_rnn["rnn"], char_rnn["train_step"])) == {""}
    traces = marked["traces"]
    assert list(traces) == ["H"] and traces["H"].grad_h_norm.shape == (1, 1, 30)
    np.testing.assert_array_equal(traces["H"].output_steps, [29])


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru", "lstm_proj"])
def test_traced_call_returns_what_the_module_returns(cell):
    """Inside trace_submodules a module returns what its stock forward does, for every kind of input it takes."""
    torch.manual_seed(1)
    kw = dict(num_layers=2, bidirectional=True, dtype=torch.float64)
    if cell == "lstm_proj":
        module = nn.LSTM(3, 5, proj_size=2, **kw)
    else:
        module = CELLS[cell](3, 5, **kw)
    P = 2 if cell == "lstm_proj" else 5
    lstm = isinstance(module, nn.LSTM)

    def state(*batch):
        h = torch.randn(4, *batch, P, dtype=torch.float64)
        return (h, torch.randn(4, *batch, 5, dtype=torch.float64)) if lstm else h

    x = torch.randn(6, 3, 3, dtype=torch.float64)
    calls = [
        (x, None),
        (x, state(3)),
        (x[:, 0], state()),  # unbatched
        (pack_padded_sequence(x, torch.tensor([4, 6, 2]), enforce_sorted=False), state(3)),
    ]
    for inputs, hx in calls:
        want_out, want_h = module(inputs, hx)
        got: list = []

        def compute_loss(inputs=inputs, hx=hx, got=got):
            got.extend(module(inputs, hx))
            out = got[0].data if isinstance(got[0], PackedSequence) else got[0]
            return out.sum()

        trace_submodules(module, compute_loss)
        out, h = got
        if isinstance(want_out, PackedSequence):
            assert isinstance(out, PackedSequence) and torch.equal(out.batch_sizes, want_out.batch_sizes)
            torch.testing.assert_close(out.data, want_out.data, rtol=1e-12, atol=1e-13)
        else:
            torch.testing.assert_close(out, want_out, rtol=1e-12, atol=1e-13)
        for g, w in zip(h if lstm else [h], want_h if lstm else [want_h]):
            torch.testing.assert_close(g, w, rtol=1e-12, atol=1e-13)
