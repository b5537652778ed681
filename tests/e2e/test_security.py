"""The Content-Security-Policy breaks nothing, /docs is offline, and the Origin and Host rules hold in a real browser.

"Another site" is a tiny page server on another loopback port: another origin to the browser, and
(unlike a made-up host name) one Chromium lets frame a loopback page and open a loopback socket.
"""

from __future__ import annotations

import threading
from html import escape
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, quote, urlsplit

import pytest

from tests.e2e.harness import (
    CHROMIUM,
    CHROMIUM_ARGS,
    INSTANT,
    PageLog,
    free_port,
    new_context,
    running_server,
    wait_complete,
)

# Installed before any page script: every CSP violation the page (or a frame) reports.
RECORD_VIOLATIONS = """window.__csp = [];
document.addEventListener('securitypolicyviolation',
  e => window.__csp.push(`${e.effectiveDirective} blocked ${e.blockedURI || 'inline'} at ${e.sourceFile}`));"""

OPENS_SOCKET = """url => new Promise(done => { const ws = new WebSocket(url);
  ws.onopen = () => { ws.close(); done('open'); }; ws.onclose = () => done('refused'); })"""


class SchoolPage(BaseHTTPRequestHandler):
    """Another site: ``/`` is a plain page, ``/?frame=URL`` a page that shows URL in an iframe."""

    def do_GET(self):
        frame = parse_qs(urlsplit(self.path).query).get("frame", [""])[0]
        inner = f'<iframe src="{escape(frame)}" width="900" height="600"></iframe>' if frame else "<p>a school</p>"
        body = f"<!doctype html><html><head><title>school</title></head><body>{inner}</body></html>".encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def school():
    """The origin of another site, on another loopback port (a browser treats another port as another site)."""
    httpd = ThreadingHTTPServer(("127.0.0.1", free_port()), SchoolPage)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    thread.join()


def socket_url(base: str) -> str:
    return base.replace("http://", "ws://") + "/ws"


def csp_complaints(page) -> list[str]:
    console = [e for e in page.log.errors if "Content Security Policy" in e or "Refused to" in e]
    return page.evaluate("() => window.__csp") + console


@pytest.mark.playback
def test_the_page_paints_and_trains_without_a_csp_violation(page, server_url):
    page.add_init_script(RECORD_VIOLATIONS)
    page.goto(server_url + "/?cell=lstm&num_layers=2&bidirectional=1&seq_len=40&steps=10")
    run = wait_complete(page)
    assert "content-security-policy" in page.evaluate(
        "async () => [...(await fetch('/')).headers.keys()]"
    )  # the policy was really in force
    page.click("#train")
    wait_complete(page, after=run)
    assert len(page.evaluate("() => document.getElementById('chart-loss').data[0].y")) == 10
    page.goto(server_url + "/lessons")
    page.click("text=Vanishing gradients in a vanilla RNN")
    page.select_option("#speed", "0")
    page.click(".lesson-go")
    wait_complete(page)
    assert csp_complaints(page) == []
    assert page.log.errors == [] and page.log.foreign_requests() == []


def test_docs_renders_every_operation_offline(page, server_url):
    page.add_init_script(RECORD_VIOLATIONS)
    page.goto(server_url + "/docs")
    page.wait_for_function("() => document.querySelectorAll('.opblock').length >= 6")
    summaries = page.locator(".opblock-summary-path").all_inner_texts()
    assert {"/api/trace", "/api/config", "/healthz", "/api/lessons", "/lessons", "/"} <= {s.strip() for s in summaries}
    # Open POST /api/trace: the body's keys come from the config table.
    page.click(".opblock-post .opblock-summary")
    page.click("text=Schema")
    page.wait_for_selector("text=seq_len")
    assert page.log.requests and page.log.foreign_requests() == []
    assert csp_complaints(page) == [] and page.log.errors == []


@pytest.mark.playback
def test_embed_lives_in_another_sites_iframe(page, server_url, school):
    page.add_init_script(RECORD_VIOLATIONS)
    page.goto(f"{school}/?frame={quote(server_url + '/?seq_len=25&embed=1')}")
    lab = page.frame_locator("iframe").locator("#chart-grad-norm")
    lab.wait_for()
    frame = next(f for f in page.frames if f.url.startswith(server_url))
    wait_complete(frame)
    assert frame.evaluate("() => document.getElementById('chart-grad-norm').data[0].x.length") == 25
    assert frame.evaluate("() => window.__csp") == [] and page.log.errors == []


def test_another_sites_page_cannot_open_the_socket(page, server_url, school):
    page.goto(school + "/")
    assert page.evaluate(OPENS_SOCKET, socket_url(server_url)) == "refused"
    # The lab's own page, same browser: the socket opens.
    page.goto(server_url + "/healthz")
    assert page.evaluate(OPENS_SOCKET, socket_url(server_url)) == "open"


@pytest.fixture(scope="module")
def configured_url(school):
    env = {"GFL_ALLOW_ORIGIN": school, "GFL_FRAME_ANCESTORS": "'self'", "GFL_ALLOW_HOST": "lab.test"}
    with running_server(env=env) as base:
        yield base


def test_flags_allow_a_listed_site_and_narrow_the_frames(chromium, configured_url, school):
    context = new_context(chromium)
    try:
        page = context.new_page()
        page.log = PageLog(page)
        page.goto(school + "/")
        # The listed site may open the socket itself...
        assert page.evaluate(OPENS_SOCKET, socket_url(configured_url)) == "open"
        # ...but frame-ancestors 'self' keeps the lab out of its iframe: the page never runs there.
        with page.expect_console_message(lambda m: "frame-ancestors" in m.text):
            page.goto(f"{school}/?frame={quote(configured_url + '/?embed=1')}")
        assert not [f for f in page.frames if f.url.startswith(configured_url) and f.evaluate("() => !!window.gfl")]
    finally:
        context.close()


@pytest.fixture(scope="module")
def resolving(chromium):
    """A Chromium whose DNS sends rebind.test and lab.test to 127.0.0.1: what a rebinding attack makes a name do."""
    rules = "--host-resolver-rules=MAP rebind.test 127.0.0.1, MAP lab.test 127.0.0.1"
    browser = chromium.browser_type.launch(executable_path=CHROMIUM, args=[*CHROMIUM_ARGS, rules], headless=True)
    yield browser
    browser.close()


def test_a_rebinding_page_can_neither_read_the_lab_nor_open_its_socket(resolving, configured_url):
    port = urlsplit(configured_url).port
    page = resolving.new_page()
    page.add_init_script(INSTANT)
    try:
        # The attacker's page, now served from the lab's address under the attacker's name.
        assert page.goto(f"http://rebind.test:{port}/").status == 400
        read = "url => fetch(url).then(r => r.status)"  # same origin as far as the browser knows
        assert page.evaluate(read, f"http://rebind.test:{port}/api/config") == 400
        assert page.evaluate(OPENS_SOCKET, f"ws://rebind.test:{port}/ws") == "refused"
        # The same lab under a listed name is the lab: the page paints a run over its socket.
        page.goto(f"http://lab.test:{port}/?seq_len=25")
        wait_complete(page)
        assert page.evaluate(OPENS_SOCKET, f"ws://lab.test:{port}/ws") == "open"
    finally:
        page.close()
