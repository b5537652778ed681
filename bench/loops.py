"""Cost of tracing the loops students write: trace_submodules time / plain forward+backward time, one thread.

Three models, each timed against its own plain ``compute_loss().backward()`` in the same run, interleaved:
an LSTMCell stepped in a loop (T=100, batch 32, H=64), the classic char-RNN built from nn.Linear and
called once per character (a 12-character name, H=128, batch 1, as the tutorial trains it), and the seq2seq
tutorial's GRU decoder stepped one token at a time after its encoder (20 tokens, batch 32, H=64).  Each is
traced without and with a lag map of 16 rows.  Target: every ratio without the lag map ≤ 2.  Times are the
process's CPU time (one thread), so that other work on a shared machine does not count.
Run: .venv/bin/python bench/loops.py [--repeats N]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402
from torch import nn  # noqa: E402
from torch.nn import functional as F  # noqa: E402

from engine import trace_submodules  # noqa: E402
from tests.engine.test_loops_custom import CharRNN  # noqa: E402


def cell_loop():
    model = nn.ModuleDict({"cell": nn.LSTMCell(8, 64), "head": nn.Linear(64, 1)})
    x, y = torch.randn(100, 32, 8), torch.randn(100, 32, 1)

    def compute_loss():
        state, loss = None, 0
        for t in range(100):
            state = model["cell"](x[t], state)
            loss = loss + F.mse_loss(model["head"](state[0]), y[t])
        return loss

    return model, compute_loss


def char_rnn():
    model = CharRNN(57, 128, 18)  # the tutorial's model (tests/engine/test_loops_custom.py), at the tutorial's size
    line = F.one_hot(torch.randint(57, (12,)), 57).float()[:, None]

    def compute_loss():
        hidden = torch.zeros(1, model.hidden_size)
        for i in range(line.size(0)):
            output, hidden = model(line[i], hidden)
        return nn.NLLLoss()(output, torch.tensor([3]))

    return model, compute_loss


class Seq2Seq(nn.Module):
    def __init__(self, vocab=40, hidden=64):
        super().__init__()
        self.src_embed, self.encoder = nn.Embedding(vocab, hidden), nn.GRU(hidden, hidden)
        self.tgt_embed, self.decoder = nn.Embedding(vocab, hidden), nn.GRU(hidden, hidden)
        self.out = nn.Linear(hidden, vocab)


def decoder_loop():
    model = Seq2Seq()
    src, tgt = torch.randint(40, (20, 32)), torch.randint(40, (21, 32))

    def compute_loss():
        _, hidden = model.encoder(model.src_embed(src))
        loss = 0
        for t in range(20):  # teacher forcing, one token per call
            output, hidden = model.decoder(F.relu(model.tgt_embed(tgt[t : t + 1])), hidden)
            loss = loss + F.cross_entropy(model.out(output[0]), tgt[t + 1])
        return loss

    return model, compute_loss


def ratio(build, repeats: int, lag_rows: int) -> float:
    torch.manual_seed(0)
    model, compute_loss = build()

    def plain():
        model.zero_grad()
        compute_loss().backward()

    def traced():
        model.zero_grad()
        trace_submodules(model, compute_loss, lag_rows=lag_rows)

    plain(), traced()  # warm-up
    p, t = [], []
    for _ in range(repeats):  # interleaved, so both share whatever else the machine is doing
        t0 = time.process_time()
        plain()
        p.append(time.process_time() - t0)
        t0 = time.process_time()
        traced()
        t.append(time.process_time() - t0)
    return statistics.median(t) / statistics.median(p)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args()
    torch.set_num_threads(1)
    print("trace_submodules / plain forward+backward (median, same run; target ≤ 2 without the lag map)")
    for label, build in (("LSTMCell loop, T=100, N=32, H=64", cell_loop),
                         ("char-RNN of nn.Linear, 12 calls, H=128", char_rnn),
                         ("GRU decoder stepped 20 tokens after its encoder, N=32, H=64", decoder_loop)):
        print(f"  {label:62s} {ratio(build, args.repeats, 0):5.2f}×   with 16 lag rows "
              f"{ratio(build, args.repeats, 16):5.2f}×")


if __name__ == "__main__":
    main()
