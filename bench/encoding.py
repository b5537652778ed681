"""Encoding a large trace document: the server's encoder (orjson) against the standard library's, same run.

    python bench/encoding.py

The document of an LSTM at T = 2000, bidirectional (1.8 million per-unit values), encoded as ``POST /api/trace``
answers it (server/wire/encoding.py: non-finite values to strings, then orjson), against ``json.dumps`` of the same
converted values, as the server wrote it before; each the median of three.  The two texts must read back equal.
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine import Config, trace_config  # noqa: E402
from server.wire import trace_document  # noqa: E402
from server.wire.encoding import encode, to_jsonable  # noqa: E402


def median_seconds(fn, repeats: int = 3) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


def main() -> int:
    config = Config.from_dict({"cell": "lstm", "seq_len": 2000, "bidirectional": True})
    doc = trace_document(trace_config(config), time.perf_counter())
    convert_s, value = median_seconds(lambda: to_jsonable(doc))
    fast_s, fast = median_seconds(lambda: encode(value))
    std_s, std = median_seconds(lambda: json.dumps(value, allow_nan=False, separators=(",", ":"), ensure_ascii=False))
    assert json.loads(fast) == json.loads(std), "the two encoders disagree"
    print(f"trace document of {config.to_query()}: {len(fast) / 1e6:.1f} MB of JSON")
    print(f"  non-finite conversion {convert_s:.2f} s (both); orjson {fast_s:.2f} s, json.dumps {std_s:.2f} s: "
          f"ratio {fast_s / std_s:.3f}; whole encoding {(convert_s + fast_s) / (convert_s + std_s):.3f} of before")
    return 0


if __name__ == "__main__":
    sys.exit(main())
