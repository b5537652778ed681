"""Cost of an exact trace: trace_module time / plain module forward+backward time, one thread.

Prints the median ratio for RNN, LSTM and GRU at the issue's sizes (target: every ratio ≤ 3); the same
for packed batches of unequal lengths, and for a whole encoder–decoder model traced by trace_submodules
against its plain forward+backward (decoder run as one call and stepped token by token; target ≤ 3);
then truncated BPTT, trace_module(tbptt=k) against the plain module's forward+backward (target ≤ 3);
then the largest config the app allows (T=2000, H=256, 4 layers, bidirectional LSTM, batch 1): time and
peak memory (targets: under 2 s and 2 GB).  Run: .venv/bin/python bench/engine.py [--repeats N]
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402
from torch import nn  # noqa: E402
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence  # noqa: E402

from engine import trace_module, trace_submodules  # noqa: E402

SIZES = [(256, 64, 2, 1), (256, 64, 2, 32), (1000, 32, 1, 1)]  # (T, H, layers, batch)
INPUT = 8
PACKED = [(256, 64, 2, False, 32), (256, 64, 1, True, 32)]  # (longest T, H, layers, bidirectional, batch)
TBPTT = [(256, 64, 2, False, 32, 16), (256, 64, 2, True, 32, 64), (1000, 32, 1, False, 1, 50)]  # (..., batch, k)


def timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def medians(plain, traced, repeats: int) -> tuple[float, float]:
    plain(), traced()  # warm-up
    # interleaved, so both share whatever else the machine is doing
    p, t = [], []
    for _ in range(repeats):
        p.append(timed(plain))
        t.append(timed(traced))
    return statistics.median(p), statistics.median(t)


def packed_ratios(repeats: int) -> list[tuple[str, tuple, float, float]]:
    """Lengths drawn uniformly from [T/4, T]: the padded positions a packed batch saves are a real share."""
    rows = []
    for cls in (nn.RNN, nn.LSTM, nn.GRU):
        for T, H, L, bidirectional, N in PACKED:
            torch.manual_seed(0)
            module = cls(INPUT, H, num_layers=L, bidirectional=bidirectional)
            lengths = torch.randint(T // 4, T + 1, (N,))
            lengths[0] = T
            x = pack_padded_sequence(torch.randn(T, N, INPUT), lengths, enforce_sorted=False)

            def loss(out):
                return pad_packed_sequence(out)[0].square().mean()

            def plain(module=module, x=x):
                module.zero_grad(set_to_none=True)
                loss(module(x)[0]).backward()

            def traced(module=module, x=x):
                module.zero_grad(set_to_none=True)
                trace_module(module, x, loss)

            shape = (T, H, L, "bi" if bidirectional else "uni", N)
            rows.append((cls.__name__, shape, *medians(plain, traced, repeats)))
    return rows


class Seq2Seq(nn.Module):
    """Embedding, a packed bidirectional encoder, a bridge to the decoder's initial state, a decoder and a head."""

    def __init__(self, cls, vocab=100, embed=32, hidden=64, layers=2):
        super().__init__()
        self.embed = nn.Embedding(vocab, embed)
        self.encoder = cls(embed, hidden, num_layers=layers, bidirectional=True)
        self.bridge = nn.Linear(2 * hidden, hidden)
        self.decoder = cls(embed, hidden, num_layers=layers)
        self.head = nn.Linear(hidden, vocab)
        self.lstm = cls is nn.LSTM

    def forward(self, src, lengths, tgt, stepwise: bool):
        _, final = self.encoder(pack_padded_sequence(self.embed(src), lengths, enforce_sorted=False))

        def join(f):  # (L*2, N, H) -> (L, N, H)
            return torch.tanh(self.bridge(torch.cat([f[0::2], f[1::2]], dim=-1)))

        state = tuple(join(f) for f in final) if self.lstm else join(final)
        emb = self.embed(tgt)  # (T', N, E)
        if stepwise:
            outs = []
            for t in range(emb.shape[0]):
                out, state = self.decoder(emb[t : t + 1], state)
                outs.append(out)
            out = torch.cat(outs)
        else:
            out, _ = self.decoder(emb, state)
        return self.head(out)


def model_ratios(repeats: int, src_len=100, tgt_len=30, batch=32) -> list[tuple[str, str, float, float]]:
    rows = []
    for cls in (nn.RNN, nn.LSTM, nn.GRU):
        for stepwise in (False, True):
            torch.manual_seed(0)
            model = Seq2Seq(cls)
            src = torch.randint(100, (src_len, batch))
            lengths = torch.randint(src_len // 4, src_len + 1, (batch,))
            tgt = torch.randint(100, (tgt_len + 1, batch))

            def compute_loss(model=model, src=src, lengths=lengths, tgt=tgt, stepwise=stepwise):
                logits = model(src, lengths, tgt[:-1], stepwise)
                return nn.functional.cross_entropy(logits.flatten(0, 1), tgt[1:].flatten())

            def plain(model=model, compute_loss=compute_loss):
                model.zero_grad(set_to_none=True)
                compute_loss().backward()

            def traced(model=model, compute_loss=compute_loss):
                model.zero_grad(set_to_none=True)
                trace_submodules(model, compute_loss)

            how = "stepped" if stepwise else "one call"
            rows.append((cls.__name__, how, *medians(plain, traced, repeats)))
    return rows


def ratios(repeats: int) -> list[tuple[str, tuple, float, float]]:
    rows = []
    for cls in (nn.RNN, nn.LSTM, nn.GRU):
        for T, H, L, N in SIZES:
            torch.manual_seed(0)
            module = cls(INPUT, H, num_layers=L)
            x = torch.randn(T, N, INPUT)

            def loss(out):
                return out.square().mean()

            def plain(module=module, x=x):
                module.zero_grad(set_to_none=True)
                out, _ = module(x)
                loss(out).backward()

            def traced(module=module, x=x):
                module.zero_grad(set_to_none=True)
                trace_module(module, x, loss)

            rows.append((cls.__name__, (T, H, L, N), *medians(plain, traced, repeats)))
    return rows


def tbptt_ratios(repeats: int) -> list[tuple[str, tuple, float, float]]:
    """One fused call per window and direction: the cost of the windows' extra kernel launches."""
    rows = []
    for cls in (nn.RNN, nn.LSTM, nn.GRU):
        for T, H, L, bidirectional, N, k in TBPTT:
            torch.manual_seed(0)
            module = cls(INPUT, H, num_layers=L, bidirectional=bidirectional)
            x = torch.randn(T, N, INPUT)

            def loss(out):
                return out.square().mean()

            def plain(module=module, x=x):
                module.zero_grad(set_to_none=True)
                loss(module(x)[0]).backward()

            def traced(module=module, x=x, k=k):
                module.zero_grad(set_to_none=True)
                trace_module(module, x, loss, tbptt=k)

            shape = (T, H, L, "bi" if bidirectional else "uni", N, k)
            rows.append((cls.__name__, shape, *medians(plain, traced, repeats)))
    return rows


def largest(threads: int) -> None:
    """Child process: one trace of the largest config (first, then again with the weight figures cached)
    and the plain module's forward+backward on the same model and data; prints seconds and peak RSS in MB."""
    torch.set_num_threads(threads)
    from engine import Config, trace_config
    from engine.lab import prepare

    cfg = Config.from_dict({"cell": "lstm", "seq_len": 2000, "hidden_size": 256, "num_layers": 4,
                            "bidirectional": True, "batch_size": 1})
    trace_config(Config.from_dict({"cell": "lstm", "seq_len": 5}))  # imports and allocator warm-up
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    first = timed(lambda: trace_config(cfg))
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    again = timed(lambda: trace_config(cfg))
    model, batch = prepare(cfg)
    plain = timed(lambda: model.rnn(batch.x)[0].sum().backward())
    print(f"{first:.3f} {again:.3f} {plain:.3f} {(peak - base) / 1024:.1f} {peak / 1024:.1f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--largest-child", type=int, metavar="THREADS", help=argparse.SUPPRESS)
    ap.add_argument("--only-tbptt", action="store_true", help="run only the truncated BPTT cases")
    args = ap.parse_args()
    if args.largest_child:
        largest(args.largest_child)
        return
    torch.set_num_threads(1)
    if args.only_tbptt:
        for name, (T, H, L, dirs, N, k), p, t in tbptt_ratios(args.repeats):
            print(f"{name:5} T={T} H={H} L={L} {dirs} N={N} k={k}: plain {p * 1e3:.1f} ms, trace {t * 1e3:.1f} ms,"
                  f" ratio {t / p:.2f}")
        return
    print("trace_module time / plain forward+backward time (median, 1 thread); target ≤ 3")
    print(f"{'cell':5} {'T':>5} {'H':>4} {'L':>2} {'N':>3} {'plain ms':>9} {'trace ms':>9} {'ratio':>6}")
    worst = 0.0
    for name, (T, H, L, N), p, t in ratios(args.repeats):
        worst = max(worst, t / p)
        print(f"{name:5} {T:5} {H:4} {L:2} {N:3} {p * 1e3:9.1f} {t * 1e3:9.1f} {t / p:6.2f}")
    print(f"worst ratio: {worst:.2f} ({'meets' if worst <= 3 else 'misses'} the target ≤ 3)")
    print("packed batches, lengths uniform in [T/4, T]: trace_module / plain forward+backward of the packed batch")
    print(f"{'cell':5} {'T':>5} {'H':>4} {'L':>2} {'dir':>3} {'N':>3} {'plain ms':>9} {'trace ms':>9} {'ratio':>6}")
    worst = 0.0
    for name, (T, H, L, dirs, N), p, t in packed_ratios(args.repeats):
        worst = max(worst, t / p)
        print(f"{name:5} {T:5} {H:4} {L:2} {dirs:>3} {N:3} {p * 1e3:9.1f} {t * 1e3:9.1f} {t / p:6.2f}")
    print(f"worst ratio: {worst:.2f} ({'meets' if worst <= 3 else 'misses'} the target ≤ 3)")
    print("truncated BPTT: trace_module(tbptt=k) / plain (untruncated) forward+backward")
    print(f"{'cell':5} {'T':>5} {'H':>4} {'L':>2} {'dir':>3} {'N':>3} {'k':>4} {'plain ms':>9} {'trace ms':>9}"
          f" {'ratio':>6}")
    worst = 0.0
    for name, (T, H, L, dirs, N, k), p, t in tbptt_ratios(args.repeats):
        worst = max(worst, t / p)
        print(f"{name:5} {T:5} {H:4} {L:2} {dirs:>3} {N:3} {k:4} {p * 1e3:9.1f} {t * 1e3:9.1f} {t / p:6.2f}")
    print(f"worst ratio: {worst:.2f} ({'meets' if worst <= 3 else 'misses'} the target ≤ 3)")
    print("whole encoder–decoder (source 100 tokens packed, bidirectional 2-layer encoder, 2-layer decoder over 30"
          " tokens, batch 32, H=64): trace_submodules / plain forward+backward")
    print(f"{'cell':5} {'decoder':>9} {'plain ms':>9} {'trace ms':>9} {'ratio':>6}")
    worst = 0.0
    for name, how, p, t in model_ratios(args.repeats):
        worst = max(worst, t / p)
        print(f"{name:5} {how:>9} {p * 1e3:9.1f} {t * 1e3:9.1f} {t / p:6.2f}")
    print(f"worst ratio: {worst:.2f} ({'meets' if worst <= 3 else 'misses'} the target ≤ 3)")
    print("largest config (T=2000, H=256, 4 layers, bidirectional LSTM, batch 1), trace_config;"
          " targets < 2 s and < 2 GB")
    for threads in sorted({1, os.cpu_count() or 1}):
        out = subprocess.run([sys.executable, __file__, "--largest-child", str(threads)],
                             capture_output=True, text=True, check=True)
        first, again, plain, grown, peak = (float(v) for v in out.stdout.split())
        print(f"  {threads} thread(s): time {first:.2f} s ({again:.2f} s with the weight figures cached);"
              f" plain module forward+backward {plain:.2f} s, ratio {again / plain:.2f};"
              f" peak memory growth {grown:.0f} MB, process peak {peak:.0f} MB")

if __name__ == "__main__":
    main()
