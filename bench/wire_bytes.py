"""Bytes on the wire, as Chromium itself counts them, each against the uncompressed, uncached figure of the same run.

    python bench/wire_bytes.py

(a) A first visit of the lab's default page: every response's ``encodedDataLength`` (Network.loadingFinished: headers
    and body as they crossed the wire) plus the socket's frames until the first run is painted whole.
(b) A revisit of the same link in the same browser: what its cache and 304s leave on the wire.
(c) The largest trace document ``POST /api/trace`` answers (the most values it sends as JSON), fetched by the page.
The baseline of (a) and (b) is the same page with ``Accept-Encoding: identity`` and the cache disabled: what a
browser moved before the page's files were compressed and kept.  The baseline of (c) is the same document as it was
written before, float32 values in float64 digits and uncompressed: encoded here, in the same run, from the same
trace (a setting's numbers are the same wherever it is computed); the uncompressed fetch is printed beside it.
Then (d): a room of 100 opening the page at once on one 50 Mbit/s link waits, on bytes alone, 100 × first visit /
link rate for its first paint.
Targets: first visit <= 1 MB, revisit <= 100 KB, the largest document <= 1/3 of its float64-digit bytes.

The socket sends float32 frames without permessage-deflate; ``--deflate`` adds what deflating one socket's frames
of a large setting would save and cost (zlib raw deflate at level 6, as the websocket extension does, per socket).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import sys
import time
import zlib
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.cdp import Page, devtools_page  # noqa: E402
from tests.e2e.harness import running_server  # noqa: E402

PAINTED = "(() => { const p = window.gfl && window.gfl.lastPaint; return !!p && p.complete; })()"
LINK_MBIT = 50
ROOM = 100


class CountingPage(Page):
    """A :class:`Page` that keeps the Network events it reads past while waiting for its answers."""

    def __init__(self, ws, poll_s: float = 0.05):
        super().__init__(ws, poll_s)
        self.events: list[dict] = []

    def on_event(self, msg: dict) -> None:
        if msg.get("method", "").startswith("Network."):
            self.events.append(msg)

    def wire_bytes(self) -> tuple[int, int, int]:
        """(HTTP bytes, socket bytes, responses) counted since the events were last cleared."""
        http = sum(int(e["params"]["encodedDataLength"]) for e in self.events
                   if e["method"] == "Network.loadingFinished")  # fmt: skip
        frames = [e["params"]["response"] for e in self.events if e["method"] == "Network.webSocketFrameReceived"]
        # A frame's payload (base64 for binary, opcode 2) plus its header: 2 bytes, 4 past 125, 10 past 65535.
        sizes = [len(base64.b64decode(f["payloadData"])) if f["opcode"] == 2 else len(f["payloadData"].encode())
                 for f in frames]  # fmt: skip
        socket = sum(n + (2 if n < 126 else 4 if n < 65536 else 10) for n in sizes)
        responses = sum(e["method"] == "Network.loadingFinished" for e in self.events)
        return http, socket, responses


    def pending(self) -> set[str]:
        """Requests sent and not yet finished or failed."""
        ids = {e["params"]["requestId"]: e["method"] for e in self.events if e["method"] in (
            "Network.requestWillBeSent", "Network.loadingFinished", "Network.loadingFailed")}  # fmt: skip
        return {i for i, last in ids.items() if last == "Network.requestWillBeSent"}

    async def settle(self, timeout: float = 60.0) -> None:
        """Read events until every request sent so far has finished (modules a paint did not wait for too)."""
        deadline = time.monotonic() + timeout
        while self.pending():
            if time.monotonic() > deadline:
                raise TimeoutError(f"{len(self.pending())} requests never finished")
            await self.evaluate("new Promise(r => setTimeout(r, 50))")  # lets the page's events arrive


async def visit(page: CountingPage, url: str) -> tuple[int, int, int]:
    page.events.clear()
    await page.call("Page.navigate", url=url)
    await page.wait_for(PAINTED)
    await page.settle()
    return page.wire_bytes()


FETCH_LARGEST = """(async () => {
  const r = await fetch('/api/trace', {method: 'POST', headers: {'Content-Type': 'application/json'},
                                       body: JSON.stringify(%s)});
  return [r.status, (await r.text()).length];
})()"""


async def largest_document(page: CountingPage, config: dict) -> tuple[int, int]:
    page.events.clear()
    status, length = await page.evaluate(FETCH_LARGEST % json.dumps(config))
    if status != 200:
        raise RuntimeError(f"POST /api/trace answered {status}")
    await page.settle()
    return page.wire_bytes()[0], length


async def measure(base: str, compressed: bool, config: dict) -> dict[str, tuple]:
    async with devtools_page() as raw:
        page = CountingPage(raw.ws)
        await page.call("Network.enable")
        if not compressed:
            await page.call("Network.setCacheDisabled", cacheDisabled=True)
            await page.call("Network.setExtraHTTPHeaders", headers={"Accept-Encoding": "identity"})
        first = await visit(page, base + "/")
        again = await visit(page, base + "/")
        await page.call("Page.navigate", url=base + "/api/config")  # a same-origin page to fetch from
        doc = await largest_document(page, config)
    return {"first": first, "again": again, "document": doc}


def deflate_figures(config: dict) -> str:
    """What permessage-deflate would add per socket for ``config``'s run: CPU seconds and the bytes it saves."""
    from engine import Config, trace_config
    from server.wire import trace_units

    units = trace_units(trace_config(Config.from_dict(config)), time.perf_counter())
    frames = [p for u in units for p in ((u.text or "").encode(), u.data or b"") if p]
    plain = sum(map(len, frames))
    t0 = time.process_time()
    squeezed = 0
    z = zlib.compressobj(6, zlib.DEFLATED, -15, 8)  # one socket's: its context kept across messages, as by default
    for frame in frames:
        squeezed += len(z.compress(frame)) + len(z.flush(zlib.Z_SYNC_FLUSH))
    cpu = time.process_time() - t0
    return (f"permessage-deflate, {config}: {plain / 1e3:.0f} KB -> {squeezed / 1e3:.0f} KB "
            f"(ratio {squeezed / plain:.2f}) for {cpu * 1000:.0f} ms of server CPU per socket")


def float64_digits_bytes(config: dict) -> int:
    """Bytes of ``config``'s document with every float32 value in float64 digits, as the server wrote it before."""
    from engine import Config, trace_config
    from server.wire import dumps_bytes, trace_document

    return len(dumps_bytes(trace_document(trace_config(Config.from_dict(config)), time.perf_counter())))


def largest_json_config(limit: int) -> dict:
    """The longest LSTM (2 layers, bidirectional, 64 units) whose document is within the JSON cap."""
    from engine import Config
    from server.wire import json_value_count

    base = {"cell": "lstm", "hidden_size": 64, "num_layers": 2, "bidirectional": True}
    seq_len = 2000
    while json_value_count(Config.from_dict({**base, "seq_len": seq_len})) > limit:
        seq_len -= 10
    return {**base, "seq_len": seq_len}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deflate", action="store_true", help="also weigh permessage-deflate on the socket")
    args = parser.parse_args()
    from server.settings import Settings

    config = largest_json_config(Settings.from_env().max_json_values)
    with running_server() as base:
        plain = asyncio.run(measure(base, False, config))
        packed = asyncio.run(measure(base, True, config))
    ok = True
    for name, label, target in (("first", "(a) first visit of /", 1e6), ("again", "(b) revisit of /", 1e5)):
        (h0, s0, _), (h1, s1, n1) = plain[name], packed[name]
        now, before = h1 + s1, h0 + s0
        ok &= now <= target
        print(f"{label}: {now / 1e3:.0f} KB on the wire ({h1 / 1e3:.0f} KB HTTP in {n1} answers + {s1 / 1e3:.0f} KB "
              f"socket) against {before / 1e3:.0f} KB uncompressed and uncached: ratio {now / before:.3f} "
              f"(target <= {target / 1e3:.0f} KB: {'met' if now <= target else 'NOT met'})")  # fmt: skip
    (d0, length), (d1, _) = plain["document"], packed["document"]
    before = float64_digits_bytes(config)
    ok &= d1 <= before / 3
    print(f"(c) largest JSON trace document ({config}, {length / 1e6:.1f} MB of JSON, {d0 / 1e6:.2f} MB fetched "
          f"uncompressed): {d1 / 1e6:.2f} MB on the wire against {before / 1e6:.2f} MB in float64 digits "
          f"uncompressed: ratio {d1 / before:.3f} (target <= 0.333: {'met' if d1 <= before / 3 else 'NOT met'})")
    first_now, first_before = sum(packed["first"][:2]), sum(plain["first"][:2])
    wait = [ROOM * b * 8 / (LINK_MBIT * 1e6) for b in (first_now, first_before)]
    print(f"(d) a room of {ROOM} on one {LINK_MBIT} Mbit/s link waits {wait[0]:.0f} s for its first paint on bytes "
          f"alone, against {wait[1]:.0f} s uncompressed: ratio {wait[0] / wait[1]:.3f}")
    if args.deflate:
        for cfg in ({}, {"cell": "lstm", "seq_len": 1000, "num_layers": 2, "bidirectional": True}):
            print(deflate_figures(cfg))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
