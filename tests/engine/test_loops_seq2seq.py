"""trace_submodules on encoder–decoders and stacks as tutorials write them, against independent references.

Stock modules are checked against the naive step-by-step reference swapped in for them
(tests/engine/reference.py); torch cells against the user's own loop with retain_grad
(tests/engine/loop_reference.py).  Everything in float64.
"""

import numpy as np
import pytest
import torch
from torch import nn
from torch.nn import functional as F

from engine import ModuleTrace, trace_module, trace_submodules
from tests.engine.loop_reference import check_plain_grads, check_steps, direct_by_cut, twin
from tests.engine.reference import NaiveRecurrent, collect

V, E, H, N, S_LEN, T_LEN = 7, 4, 5, 3, 6, 4
f64 = torch.float64


def _data(seed):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(V, (S_LEN, N), generator=g), torch.randint(V, (T_LEN + 1, N), generator=g)


def _check_module(trace: ModuleTrace, ref: dict, lstm: bool = False):
    np.testing.assert_allclose(trace.hidden, ref["hidden"].numpy(), rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(trace.grad_h, ref["grad_h"].numpy(), rtol=1e-9, atol=1e-13)
    np.testing.assert_allclose(trace.grad_h0, ref["grad_h0"].numpy(), rtol=1e-9, atol=1e-13)
    if lstm:
        np.testing.assert_allclose(trace.grad_c, ref["grad_c"].numpy(), rtol=1e-9, atol=1e-13)


def _joined(records) -> dict:
    """The naive reference's calls on one time axis; the initial state's gradient is the first call's."""
    refs = [collect(r) for r in records]
    return {k: torch.cat([r[k] for r in refs], dim=2) if not k.endswith("0") else refs[0][k] for k in refs[0]}


# -- the seq2seq tutorial: an encoder over the sentence, a decoder stepped one token at a time ----------------


class EncoderRNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.embedding = nn.Embedding(V, E)
        self.gru = nn.GRU(E, H)

    def forward(self, src):
        return self.gru(self.embedding(src))


class DecoderRNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.embedding = nn.Embedding(V, E)
        self.gru = nn.GRU(E, H, num_layers=2)
        self.out = nn.Linear(H, V)
        self.softmax = nn.LogSoftmax(dim=1)

    def forward(self, input, hidden, trail=None):
        output = F.relu(self.embedding(input).view(1, input.shape[0], -1))
        output, hidden = self.gru(output, hidden)
        if trail is not None:
            output.retain_grad()
            trail.append(output)
        return self.softmax(self.out(output[0])), hidden


class Seq2Seq(nn.Module):
    def __init__(self):
        super().__init__()
        self.encoder, self.decoder = EncoderRNN(), DecoderRNN()


def _seq2seq_loss(model, src, tgt, trail=None, cut=None):
    """Teacher forcing, a NLL loss per target token; ``cut`` = (t, layer) detaches that layer's state entering
    decoder step t+1 (a fresh leaf in its place)."""
    _, encoder_hidden = model.encoder(src)
    decoder_hidden = encoder_hidden.expand(2, -1, -1).contiguous()  # both decoder layers start from it
    loss = 0
    for t in range(T_LEN):
        if cut is not None and cut[0] == t - 1:
            layers = list(decoder_hidden)
            layers[cut[1]] = layers[cut[1]].detach().requires_grad_()
            decoder_hidden = torch.stack(layers)
        output, decoder_hidden = model.decoder(tgt[t], decoder_hidden, trail)
        loss = loss + nn.NLLLoss()(output, tgt[t + 1])
    return loss


@pytest.fixture(scope="module")
def seq2seq():
    torch.manual_seed(0)
    model = Seq2Seq().to(f64)
    src, tgt = _data(1)
    plain = twin(model)
    _seq2seq_loss(plain, src, tgt).backward()
    traces = trace_submodules(model, lambda: _seq2seq_loss(model, src, tgt), lag_rows=T_LEN)
    return model, plain, traces, src, tgt


def _naive(model, src, tgt, outputs=None):
    naive = twin(model)
    naive.encoder.gru, naive.decoder.gru = NaiveRecurrent(model.encoder.gru), NaiveRecurrent(model.decoder.gru)
    _seq2seq_loss(naive, src, tgt, outputs).backward(retain_graph=outputs is not None)
    return naive


def test_a_decoder_stepped_token_by_token_is_one_trace_into_its_encoder(seq2seq):
    model, plain, traces, src, tgt = seq2seq
    naive = _naive(model, src, tgt)
    assert set(traces) == {"encoder.gru", "decoder.gru"}  # the wrappers' state is their GRU's: not traced again
    encoder, decoder = traces["encoder.gru"], traces["decoder.gru"]
    assert isinstance(decoder, ModuleTrace) and (decoder.kind, decoder.cell) == ("module", "gru")
    assert decoder.hidden.shape == (2, 1, T_LEN, N, H) and decoder.grad_h_norm.shape == (2, 1, T_LEN)
    (enc_record,), dec_records = naive.encoder.gru.calls, naive.decoder.gru.calls
    _check_module(encoder, collect(enc_record))
    _check_module(decoder, _joined(dec_records))
    # what the decoder's first call sends back is what the encoder's final state receives
    np.testing.assert_allclose(decoder.grad_h0.sum(0)[0], encoder.grad_h[0, 0, -1], rtol=1e-9, atol=1e-13)
    check_plain_grads(model, plain)


def test_a_token_by_token_decoders_direct_part_leaves_out_the_next_tokens_state(seq2seq):
    model, _, traces, src, tgt = seq2seq
    want = np.zeros((2, T_LEN))
    for cut in range(T_LEN):
        for layer in range(2):  # h_{t+1} of this layer held fixed, as in one call over the whole sentence
            again = twin(model)
            again.decoder.gru = NaiveRecurrent(model.decoder.gru)
            _seq2seq_loss(again, src, tgt, cut=(cut, layer)).backward()
            ref = collect(again.decoder.gru.calls[cut])["grad_h"][layer, 0, 0]  # (N, H) at that token
            want[layer, cut] = float(torch.linalg.vector_norm(ref))
    np.testing.assert_allclose(traces["decoder.gru"].grad_out_norm[:, 0], want, rtol=1e-9, atol=1e-13)


def test_a_joined_decoders_lag_rows_cross_its_calls(seq2seq):
    model, _, traces, src, tgt = seq2seq
    outputs: list = []
    records = _naive(model, src, tgt, outputs).decoder.gru.calls
    seeds = [o.grad.clone() for o in outputs]  # autograd.grad below adds to the .grad of what it passes
    decoder = traces["decoder.gru"]
    np.testing.assert_array_equal(decoder.output_steps, np.arange(T_LEN))
    for row, s in enumerate(decoder.output_steps):
        for t in range(s + 1):
            for layer in range(2):
                hs = records[t]["hs"][layer][0]  # per sequence, one step each
                got = torch.autograd.grad(outputs[s], [h[0] for h in hs], seeds[s], retain_graph=True)
                want = float(torch.linalg.vector_norm(torch.cat(got)))
                assert decoder.grad_h_by_output[layer, 0, row, t] == pytest.approx(want, rel=1e-9, abs=1e-13)
        assert np.all(decoder.grad_h_by_output[:, 0, row, s + 1 :] == 0)  # nothing reaches a step after its row
    np.testing.assert_allclose(decoder.grad_h_by_output.sum(2)[:, 0, -1], decoder.grad_h_norm[:, 0, -1], rtol=1e-9)


def test_a_float32_decoders_lag_rows_are_the_float64_ones_to_float32_rounding(seq2seq):
    model, _, traces, src, tgt = seq2seq
    single = twin(model).float()
    rows = trace_submodules(single, lambda: _seq2seq_loss(single, src, tgt), lag_rows=T_LEN)["decoder.gru"]
    np.testing.assert_allclose(rows.grad_h_by_output, traces["decoder.gru"].grad_h_by_output, rtol=1e-4, atol=1e-9)


def test_a_stock_module_stepped_token_by_token_traces_as_one_call_over_the_sentence():
    torch.manual_seed(6)
    lstm = nn.LSTM(3, H, num_layers=2, dtype=f64)
    x, h0 = torch.randn(S_LEN, N, 3, dtype=f64), tuple(torch.randn(2, N, H, dtype=f64) for _ in range(2))
    weights = torch.randn(S_LEN, N, H, dtype=f64)

    def stepped():
        state, outs = h0, []
        for t in range(S_LEN):
            out, state = lstm(x[t : t + 1], state)
            outs.append(out)
        return (torch.cat(outs) * weights).sum() + state[1].square().sum()

    def whole():
        out, (_, c_n) = lstm(x, h0)
        return (out * weights).sum() + c_n.square().sum()

    joined = trace_submodules(lstm, stepped, lag_rows=4)[""]
    once = trace_submodules(lstm, whole, lag_rows=4)[""]
    for name in ("hidden", "cell_state", "grad_h", "grad_c", "grad_h_norm", "grad_c_norm", "grad_out_norm", "grad_h0",
                 "grad_c0", "output_steps", "grad_h_by_output", "grad_x_by_output", "lengths"):
        np.testing.assert_allclose(getattr(joined, name), getattr(once, name), rtol=1e-10, atol=1e-14, err_msg=name)
    for gate in once.gates:
        np.testing.assert_allclose(joined.gates[gate], once.gates[gate], rtol=1e-12, err_msg=gate)


# -- an additive-attention GRUCell decoder over a bidirectional encoder --------------------------------------


class Attention(nn.Module):
    """Bahdanau's score vᵀ tanh(W_enc e_j + W_dec h) over the encoder's outputs."""

    def __init__(self):
        super().__init__()
        self.W_enc, self.W_dec, self.v = nn.Linear(2 * H, 6, bias=False), nn.Linear(H, 6), nn.Linear(6, 1, bias=False)

    def forward(self, hidden, enc_out):  # (N, H), (S, N, 2H)
        weights = torch.softmax(self.v(torch.tanh(self.W_enc(enc_out) + self.W_dec(hidden))), dim=0)  # (S, N, 1)
        return (weights * enc_out).sum(0), weights


class AttnDecoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.embedding = nn.Embedding(V, E)
        self.attention = Attention()
        self.cell = nn.GRUCell(E + 2 * H, H)
        self.out = nn.Linear(H, V)

    def forward(self, token, hidden, enc_out, trail=None, cut=False):
        context, weights = self.attention(hidden, enc_out)
        x = torch.cat([self.embedding(token), context], -1)
        hidden = self.cell(x, hidden.detach() if cut else hidden)
        if trail is not None:
            hidden.retain_grad()
            trail.append((x, hidden))
        return self.out(hidden), hidden, weights


class AttnSeq2Seq(nn.Module):
    def __init__(self):
        super().__init__()
        self.embedding = nn.Embedding(V, E)
        self.encoder = nn.GRU(E, H, bidirectional=True)
        self.bridge = nn.Linear(2 * H, H)
        self.decoder = AttnDecoder()

    def forward(self, src, tgt, trail=None, cut=None):
        enc_out, final = self.encoder(self.embedding(src))
        hidden = torch.tanh(self.bridge(torch.cat([final[0], final[1]], -1)))
        if trail is not None:
            hidden.retain_grad()
            trail.append((None, hidden))
        logits = []
        for t in range(tgt.shape[0]):
            out, hidden, _ = self.decoder(tgt[t], hidden, enc_out, trail, cut == t - 1)
            logits.append(out)
        return torch.stack(logits)


def test_an_attention_gru_cell_decoder_over_a_bidirectional_encoder():
    torch.manual_seed(2)
    model = AttnSeq2Seq().to(f64)
    src, tgt = _data(3)

    def loss(m, trail=None, cut=None):
        return F.cross_entropy(m(src, tgt[:-1], trail, cut).flatten(0, 1), tgt[1:].flatten())

    plain, trail = twin(model), []
    loss(plain, trail).backward()
    traces = trace_submodules(model, lambda: loss(model))
    assert set(traces) == {"encoder", "decoder.cell"}  # neither the attention nor the decoder around the cell
    cell = traces["decoder.cell"]
    assert (cell.kind, cell.cell, cell.hidden.shape) == ("cell", "gru", (1, 1, T_LEN, N, H))
    h0, steps = trail[0][1], [(h,) for _, h in trail[1:]]

    def run(cut):
        again = []
        loss(twin(model), again, cut).backward()
        return [(h,) for _, h in again[1:]]

    check_steps(cell, steps, direct_by_cut(run, T_LEN))
    # what leaves through the cell's first state input, toward the bridge and the encoder
    x0 = trail[1][0].detach()
    _, want = torch.autograd.functional.vjp(lambda h: plain.decoder.cell(x0, h), h0.detach(), steps[0][0].grad)
    np.testing.assert_allclose(cell.grad_h0[0, 0], want.numpy(), rtol=1e-9, atol=1e-13)
    with torch.no_grad():
        c = plain.decoder.cell
        x = torch.stack([x for x, _ in trail[1:]])
        h_prev = torch.stack([h for _, h in trail[:-1]])
        i_r, i_z, i_n = (x @ c.weight_ih.T + c.bias_ih).chunk(3, -1)
        h_r, h_z, h_n = (h_prev @ c.weight_hh.T + c.bias_hh).chunk(3, -1)
        r = torch.sigmoid(i_r + h_r)
        np.testing.assert_allclose(cell.gates["reset"][0, 0], r.numpy(), rtol=1e-12)
        np.testing.assert_allclose(cell.gates["update"][0, 0], torch.sigmoid(i_z + h_z).numpy(), rtol=1e-12)
        np.testing.assert_allclose(cell.gates["new"][0, 0], torch.tanh(i_n + r * h_n).numpy(), rtol=1e-12)
    naive = twin(model)
    naive.encoder = NaiveRecurrent(model.encoder)
    loss(naive).backward()
    _check_module(traces["encoder"], collect(naive.encoder.calls[0]))  # attention's gradient into every step
    check_plain_grads(model, plain)


# -- three stacked nn.LSTMs of different sizes ---------------------------------------------------------------------


class ThreeLSTMs(nn.Module):
    def __init__(self):
        super().__init__()
        self.lstm1, self.lstm2, self.lstm3 = nn.LSTM(3, 8), nn.LSTM(8, 6, batch_first=True), nn.LSTM(6, 4)
        self.head = nn.Linear(4, 1)

    def forward(self, x):  # (T, N, 3)
        o1, _ = self.lstm1(x)
        o2, _ = self.lstm2(o1.transpose(0, 1))
        o3, (h3, _) = self.lstm3(o2.transpose(0, 1))
        return self.head(o3).squeeze(-1), h3


def test_three_stacked_lstms_of_different_sizes():
    torch.manual_seed(4)
    model = ThreeLSTMs().to(f64)
    x, y = torch.randn(S_LEN, N, 3, dtype=f64), torch.randn(S_LEN, N, dtype=f64)

    def loss(m):
        out, h3 = m(x)
        return F.mse_loss(out, y) + h3.square().mean()

    plain = twin(model)
    loss(plain).backward()
    traces = trace_submodules(model, lambda: loss(model))
    naive = twin(model)
    for name in ("lstm1", "lstm2", "lstm3"):
        setattr(naive, name, NaiveRecurrent(getattr(model, name)))
    loss(naive).backward()
    assert set(traces) == {"lstm1", "lstm2", "lstm3"}
    for name, width in (("lstm1", 8), ("lstm2", 6), ("lstm3", 4)):
        trace = traces[name]
        assert isinstance(trace, ModuleTrace) and trace.hidden.shape == (1, 1, S_LEN, N, width)
        _check_module(trace, collect(getattr(naive, name).calls[0]), lstm=True)
    check_plain_grads(model, plain)


# -- an nn.LSTM subclass with its own forward ---------------------------------------------------------------------


class ScaledLSTM(nn.LSTM):
    """Scales its input by a learned factor and squashes its output: the stock recurrence in between."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.scale = nn.Parameter(torch.tensor(0.7, dtype=kwargs.get("dtype")))

    def forward(self, x, hx=None):
        out, (h, c) = super().forward(x * self.scale, hx)
        return torch.tanh(out), (h, c)


def test_an_lstm_subclass_is_traced_through_its_own_forward():
    torch.manual_seed(5)
    module = ScaledLSTM(3, H, num_layers=2, dtype=f64)
    x = torch.randn(S_LEN, N, 3, dtype=f64)
    plain = twin(module)
    want_loss = plain(x)[0].square().sum()
    want_loss.backward()
    traces = trace_submodules(module, lambda: module(x)[0].square().sum())
    trace = traces[""]
    assert trace.loss == pytest.approx(float(want_loss.detach()), rel=1e-12)  # its own forward ran: scale and tanh
    naive = NaiveRecurrent(module)
    out, _ = naive(x * module.scale.detach(), None)
    torch.tanh(out).square().sum().backward()
    _check_module(trace, collect(naive.calls[0]), lstm=True)
    check_plain_grads(module, plain)
    with pytest.raises(ValueError, match=r"^module: ScaledLSTM has its own forward, which trace_module would not "
                                         r"run; engine\.trace_submodules"):
        trace_module(module, x, lambda o: o.sum())

    def stepped():  # a token at a time, the state fed back: one trace along time
        state, loss = None, 0
        for t in range(S_LEN):
            out, state = module(x[t : t + 1], state)
            loss = loss + out.square().sum()
        return loss

    joined = trace_submodules(module, stepped)[""]
    naive = NaiveRecurrent(module)
    state, total = None, 0
    for t in range(S_LEN):
        o, state = naive(x[t : t + 1] * module.scale.detach(), state)
        total = total + torch.tanh(o).square().sum()
    total.backward()
    assert joined.hidden.shape == (2, 1, S_LEN, N, H)
    _check_module(joined, _joined(naive.calls), lstm=True)


def test_what_trace_module_takes_is_refused_by_name_and_dtype():
    class RNN(nn.Module):  # a user's class that happens to share the stock name
        def forward(self, x):
            return x

    with pytest.raises(TypeError, match=r"got .*RNN, which is not one \(a model of your own is traced by "
                                        r"engine\.trace_submodules\)"):
        trace_module(RNN(), torch.zeros(3, 1, 2), lambda o: o.sum())
    with pytest.raises(ValueError, match=r"the dtype of inputs is torch\.float64 but the module's weights are "
                                         r"torch\.float32"):
        trace_module(nn.GRU(2, 3), torch.zeros(3, 1, 2, dtype=f64), lambda o: o.sum())
    with pytest.raises(ValueError, match=r"the dtype of hx's h_0 is torch\.float32"):
        trace_module(nn.GRU(2, 3, dtype=f64), torch.zeros(3, 1, 2, dtype=f64), lambda o: o.sum(),
                     hx=torch.zeros(1, 1, 3))
