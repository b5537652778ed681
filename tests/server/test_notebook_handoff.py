"""show(traces, handoff=(encoder, decoder)): a seq2seq's encoder and its token-by-token decoder on one time axis, the
handoff and its gradient marked; against the user's own loop with retain_grad, in float64."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from engine import trace_submodules
from server.notebook import show
from server.notebook.frames import sections
from tests.engine.loop_reference import twin
from tests.engine.reference import NaiveRecurrent, collect
from tests.server.notebook_helpers import decode

f64 = torch.float64
V, E, H, N, S, T = 6, 3, 4, 2, 5, 3


class Seq2Seq(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(V, E)
        self.encoder = nn.GRU(E, H)
        self.decoder = nn.GRU(E, H, num_layers=2)
        self.out = nn.Linear(H, V)

    def loss(self, src, tgt, keep=None):
        _, h = self.encoder(self.embed(src))  # (1, N, H): the final state, handed to the decoder
        state, total = h.expand(2, -1, -1).contiguous(), 0
        for t in range(T):
            out, state = self.decoder(self.embed(tgt[t : t + 1]), state)
            if keep is not None:
                out.retain_grad()
                keep.append(out)
            total = total + nn.functional.cross_entropy(self.out(out[0]), tgt[t + 1])
        return total


@pytest.fixture(scope="module")
def seq2seq():
    torch.manual_seed(0)
    model = Seq2Seq().to(f64)
    g = torch.Generator().manual_seed(1)
    src, tgt = torch.randint(V, (S, N), generator=g), torch.randint(V, (T + 1, N), generator=g)
    traces = trace_submodules(model, lambda: model.loss(src, tgt))
    naive = twin(model)
    naive.encoder = NaiveRecurrent(model.encoder)  # the encoder's states, one step at a time (tests/engine)
    keep: list = []
    naive.loss(src, tgt, keep).backward()
    (record,) = naive.encoder.calls
    return traces, collect(record), keep


def test_an_encoder_and_its_decoder_are_one_time_axis_with_the_handoff_marked(seq2seq):
    traces, encoder, dec_outs = seq2seq
    assert set(traces) == {"encoder", "decoder"}
    (section,) = sections(traces, handoff=("encoder", "decoder"))
    assert section["key"] == "decoder" and "handoff at step 5" in section["title"]
    run = decode(section["units"])
    assert run["start"]["handoff"] == S and run["start"]["shapes"]["T"] == S + T and run["start"]["shapes"]["L"] == 2
    # the encoder's ‖∂L/∂h_t‖ from the step-by-step reference; the top decoder layer's direct part from the user's own
    # loop (each call's output, with retain_grad: the state handed to the next call is another tensor)
    want_enc = encoder["grad_h"][0, 0].norm(dim=(1, 2)).numpy()
    want_dec = np.array([o.grad.norm().item() for o in dec_outs])  # the decoder's top layer
    norms = run["series"]["grad_h_norm"]  # (2, 1, S + T)
    np.testing.assert_allclose(norms[0, 0, :S], want_enc, rtol=1e-6)
    assert np.isnan(norms[1, 0, :S]).all()  # the encoder has no second layer
    np.testing.assert_allclose(run["series"]["grad_out_norm"][1, 0, S:], want_dec, rtol=1e-6)
    np.testing.assert_allclose(norms[:, :, S:], traces["decoder"].grad_h_norm, rtol=1e-6)
    # the handoff gradient: all that leaves the decoder through the state the encoder handed over
    np.testing.assert_allclose(run["done"]["handoff_grad_norm"],
                               np.linalg.norm(traces["decoder"].grad_h0), rtol=1e-12)
    # the encoder's last state gets exactly that (summed over the decoder layers it started), and what its output
    # at that step asks for directly: nothing here, so the two agree
    np.testing.assert_allclose(traces["decoder"].grad_h0.sum(0)[0], traces["encoder"].grad_h[0, 0, -1], rtol=1e-9)


def test_a_handoff_that_is_not_a_pair_of_the_traces_is_refused_by_name(seq2seq):
    traces = seq2seq[0]
    with pytest.raises(ValueError, match=r"handoff must be \(encoder key, decoder key\).*'encoder', 'decoder'"):
        show(traces, handoff=("encoder", "decoder.gru"))
    lstm = nn.LSTM(E, H)
    other = trace_submodules(lstm, lambda: lstm(torch.randn(2, N, E))[0].sum())[""]
    with pytest.raises(ValueError, match=r"handoff: 'encoder' is a gru and 'lstm' a lstm"):
        sections({"encoder": traces["encoder"], "lstm": other}, handoff=("encoder", "lstm"))
