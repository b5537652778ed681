"""Chromium driven over the DevTools protocol directly, for the benchmarks that time the page.

Playwright's network tracking copies every websocket frame the page receives, which would be timed with
the page; a bare CDP client adds nothing beside the page's own work.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import AsyncIterator

import websockets

from tests.e2e.harness import BEEN_HERE, CHROMIUM, CHROMIUM_ARGS, VIEWPORT, free_port, stop


class Page:
    """The smallest DevTools client that can navigate and evaluate."""

    def __init__(self, ws, poll_s: float = 0.05):
        self.ws = ws
        self.poll_s = poll_s
        self.next_id = 0

    async def call(self, method: str, **params):
        self.next_id += 1
        await self.ws.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:
            msg = json.loads(await self.ws.recv())
            if msg.get("id") == self.next_id:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return msg["result"]
            self.on_event(msg)

    def on_event(self, msg: dict) -> None:
        """An event read while waiting for an answer (a domain the caller enabled): dropped unless overridden."""

    async def evaluate(self, expression: str):
        r = await self.call("Runtime.evaluate", expression=expression, awaitPromise=True, returnByValue=True)
        if "exceptionDetails" in r:
            raise RuntimeError(r["exceptionDetails"])
        return r["result"].get("value")

    async def wait_for(self, expression: str, timeout: float = 120.0):
        deadline = time.monotonic() + timeout
        while not await self.evaluate(expression):
            if time.monotonic() > deadline:
                raise TimeoutError(expression)
            await asyncio.sleep(self.poll_s)  # a poll of the page's own state, not a wait standing in for it


@contextlib.asynccontextmanager
async def devtools_page(poll_s: float = 0.05) -> AsyncIterator[Page]:
    """A headless Chromium at the e2e viewport, its one tab as a :class:`Page`; stopped on exit."""
    port = free_port()
    profile = tempfile.mkdtemp(prefix="gfl-bench-")
    args = [CHROMIUM, *CHROMIUM_ARGS, "--headless=new", f"--remote-debugging-port={port}",
            f"--user-data-dir={profile}", f"--window-size={VIEWPORT['width']},{VIEWPORT['height']}",
            "about:blank"]  # fmt: skip
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(200):
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/json", timeout=1) as r:
                    targets = json.load(r)
                break
            except OSError:
                time.sleep(0.1)  # Chromium is starting: poll its endpoint
        else:
            raise RuntimeError("Chromium's DevTools endpoint did not come up")
        target = next(t for t in targets if t["type"] == "page")
        async with websockets.connect(target["webSocketDebuggerUrl"], max_size=None) as ws:
            page = Page(ws, poll_s)
            await page.call("Emulation.setDeviceMetricsOverride", width=VIEWPORT["width"],
                            height=VIEWPORT["height"], deviceScaleFactor=1, mobile=False)  # fmt: skip
            # A returning visitor: the lab's first-visit introduction would sit over what is measured.
            await page.call("Page.addScriptToEvaluateOnNewDocument", source=BEEN_HERE)
            yield page
    finally:
        stop(proc)
        shutil.rmtree(profile, ignore_errors=True)
