"""Start the real server and a headless Chromium: shared by the e2e tests, the screenshots and the benches.

The browser is Debian's /usr/bin/chromium driven by Playwright (never a
downloaded build); the server is ``python -m server`` on a free 127.0.0.1 port.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("GFL_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
VIEWPORT = {"width": 1366, "height": 768}
# The two screens a class meets the lab on: a laptop or projector, and a phone (browser context options).
DESKTOP = {"viewport": VIEWPORT}
PHONE = {"viewport": {"width": 390, "height": 844}, "has_touch": True, "is_mobile": True}

# The lab opens its introduction on a first visit (static/js/intro.js); a test's browser has been here before, so the
# introduction stays closed unless a test meets the lab as a newcomer (tests/e2e/test_intro.py, a plain context).
BEEN_HERE = "try { localStorage.setItem('gfl-intro-seen', '1'); } catch (e) {}"

# Runs shown whole as they arrive ("instant" in the page's speed list, chosen as soon as the player bar has its speeds,
# before the first run arrives: a lesson's own run too is shown whole, as the page shows any run arriving at instant
# speed): a test that waits for a run painted whole then waits for its data, not for the sweep the page plays at its
# default speed, two seconds a run.  Every test's page has it unless the test is marked `playback` (conftest.py); a test
# making its own context adds it there when it does not watch a run play.  Instant chosen later leaves a paused run
# (a lesson's run waiting for its prediction) where it is: such a test presses Play.
INSTANT = """new MutationObserver((_, observer) => {
  const speed = document.getElementById("speed");
  if (!(window.gfl && window.gfl.player) || !speed || !speed.options.length) return;
  observer.disconnect();
  speed.value = "0";
  speed.dispatchEvent(new Event("change"));
}).observe(document, { childList: true, subtree: true });"""

# Resolves once the page has painted the whole of a run newer than `after`.
WAIT_COMPLETE = "after => { const p = window.gfl && window.gfl.lastPaint; return !!p && p.complete && p.run > after; }"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def running_server(
    timeout: float = 90.0, workers: int = 1, env: dict[str, str] | None = None, log_path: str | None = None,
    args: list[str] | None = None,
    root: Path = ROOT,
    module: str = "server",
):
    """Yield the base URL of a fresh ``python -m server`` on 127.0.0.1; stop it afterwards.

    ``workers`` uvicorn worker processes; ``env`` adds to the server's environment; ``log_path``
    keeps the server's output (as does GFL_E2E_LOG=path, for debugging); ``args`` go on its command line; ``root``
    is the source tree it runs from (a bench's baseline: an older commit's tree); ``module`` the one run with
    ``python -m`` (tests/e2e/measured_server.py: the server with the session's measured lesson documents).
    """
    with server_process(timeout, workers, env, log_path, args, root, module) as (base, _):
        yield base


@contextmanager
def server_process(
    timeout: float = 90.0, workers: int = 1, env: dict[str, str] | None = None, log_path: str | None = None,
    args: list[str] | None = None,
    root: Path = ROOT,
    module: str = "server",
):
    """As :func:`running_server`, yielding ``(base URL, the server's subprocess.Popen)``."""
    port = free_port()
    log_path = log_path or os.environ.get("GFL_E2E_LOG")
    log = open(log_path, "w") if log_path else subprocess.DEVNULL
    proc = subprocess.Popen(
        [sys.executable, "-m", module, "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers),
         "--log-level", "warning", *(args or [])],
        cwd=root,
        env={**os.environ, **(env or {})},
        stdout=log,
        stderr=subprocess.STDOUT if log is not subprocess.DEVNULL else subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"the server exited with code {proc.returncode} before it answered")
            try:
                with urllib.request.urlopen(base + "/healthz", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"the server did not answer {base}/healthz within {timeout:.0f} s")
            time.sleep(0.2)  # condition-free: polling /healthz until the server answers
        yield base, proc
    finally:
        stop(proc)


def stop(proc: subprocess.Popen) -> None:
    """Terminate a child process, killing it if it has not gone in 10 s."""
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def launch(playwright):
    """Headless Debian Chromium with the flags that keep it off the network."""
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)


class PageLog:
    """Everything a page said or fetched: console errors, uncaught exceptions, request URLs."""

    def __init__(self, page):
        self.errors: list[str] = []
        self.requests: list[str] = []
        page.on("console", lambda m: self.errors.append(f"console.error: {m.text}") if m.type == "error" else None)
        page.on("pageerror", lambda e: self.errors.append(f"pageerror: {e}"))
        page.on("request", lambda r: self.requests.append(r.url))
        page.on("websocket", lambda ws: self.requests.append(ws.url))

    def foreign_requests(self) -> list[str]:
        """Requests to anything but 127.0.0.1 (in-page data: and blob: URLs are not network)."""
        local = ("http://127.0.0.1:", "ws://127.0.0.1:", "data:", "blob:")
        return [u for u in self.requests if not u.startswith(local)]


def new_context(browser, **options):
    """A fresh context of ``browser`` (Playwright's options) whose pages have closed the lab's introduction before."""
    context = browser.new_context(**options)
    context.add_init_script(BEEN_HERE)
    return context


def offline_page(browser, timeout_ms: float = 60_000):
    """A page in a fresh context of ``browser`` that may load files only; and the list of what it was refused.

    Pass the session's browser (tests/e2e/conftest.py): a second Playwright in one process cannot start.
    """
    context = new_context(browser, viewport=VIEWPORT)
    refused: list[str] = []

    def only_files(route):
        if route.request.url.startswith("file://"):
            route.continue_()
        else:
            refused.append(route.request.url)
            route.abort()

    context.route("**/*", only_files)
    page = context.new_page()
    page.set_default_timeout(timeout_ms)
    page.log = PageLog(page)
    return page, refused


def plot(page, chart_id: str) -> dict:
    """The Plotly figure drawn in ``#chart_id``: its traces and its annotations' texts."""
    return page.evaluate(
        """id => { const el = document.getElementById(id);
           return { data: el.data || [], notes: ((el.layout || {}).annotations || []).map(a => a.text) }; }""",
        chart_id,
    )


def last_run(page) -> int:
    return page.evaluate("() => (window.gfl && window.gfl.lastPaint) ? window.gfl.lastPaint.run : 0")


def wait_complete(page, after: int = 0, timeout: float = 60_000) -> int:
    """Wait until a run newer than ``after`` is painted whole; return its run id."""
    try:
        page.wait_for_function(WAIT_COMPLETE, arg=after, timeout=timeout)
    except Exception as e:
        state = page.evaluate(STATE)
        raise AssertionError(f"no run after {after} was painted whole; page state: {state}") from e
    return last_run(page)


# What the page was doing, for a useful failure message.
STATE = """() => { const g = window.gfl; if (!g) return null; const t = g.trace, s = g.socket;
  return { lastPaint: g.lastPaint, socket: s && { newest: s.newest, open: s.open },
           trace: t && { run: t.run, forward: t.forwardCount, backward: t.backwardCount, T: t.T, done: !!t.done },
           player: g.player && { cursor: g.player.cursor, length: g.player.length, playing: g.player.playing },
           url: location.search, notices: document.getElementById('notices').innerText }; }"""


def never_reading_socket(base: str, message: dict) -> socket.socket:
    """A raw websocket to ``base``'s /ws that sends ``message`` and then never reads.

    Its receive buffer is tiny, so the server's frames back up at once: a stalled student's
    laptop, for the stall-limit test and bench.
    """
    host, port = base.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)))
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.sendall(
        f"GET /ws HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n".encode()
    )
    status = sock.recv(4096).split(b"\r\n")[0]
    assert b" 101 " in status + b" ", f"no websocket upgrade: {status!r}"
    payload = json.dumps(message).encode()
    assert len(payload) < 65536
    mask = b"\x01\x02\x03\x04"  # client frames must be masked
    masked = bytes(c ^ mask[i % 4] for i, c in enumerate(payload))
    sock.sendall(bytes([0x81, 0x80 | 126]) + len(payload).to_bytes(2, "big") + mask + masked)
    return sock
