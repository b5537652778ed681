"""What the server does to protect the people who use it: response headers and the websocket's Origin rule.

Every HTTP response gets ``X-Content-Type-Options: nosniff`` (a browser never guesses a script out of
a JSON or text answer) and a Content-Security-Policy that lets the page run only the lab's own scripts,
styles and socket.  ``frame-ancestors`` stays open by default so that ``embed=1`` links keep working in
other sites' iframes; ``--frame-ancestors`` narrows it.

A browser sends ``Origin`` with every websocket handshake and lets any site open a socket to any
host, so the server itself must refuse a socket opened by a page it did not serve (cross-site
websocket hijacking: a foreign page spending this server's cores).  Clients that are not browsers
send no ``Origin`` and are let in.

A page can also point a name it owns at this server's address (DNS rebinding): the browser then
takes the lab for that page's own site, so ``Origin`` matches ``Host`` and the same-origin rules
let the page read every answer.  What gives it away is the name in ``Host``, which is checked on
every request and handshake (:class:`TrustedHosts`).
"""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import urlsplit

from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from starlette.websockets import WebSocket

from server.settings import Settings

__all__ = ["SecurityHeaders", "TrustedHosts", "normalise_origin", "origin_allowed"]

_DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}
# A Host header we are willing to copy into the policy: a name, IPv4 or bracketed IPv6, and a port.
_HOST = re.compile(r"^(?:[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?$")


def content_security_policy(settings: Settings, host: str | None) -> str:
    """The policy for one response; ``host`` is the request's Host header (its socket's address).

    Plotly sets inline ``style`` attributes and injects ``<style>`` rules, hence ``'unsafe-inline'``
    for styles only; no inline or evaluated script is allowed.  CSP Level 3 lets ``'self'`` match
    the same host's ws:/wss:, but older browsers do not, so the socket's URLs are listed too.
    """
    connect = ["'self'"]
    if host and _HOST.match(host):
        connect += [f"ws://{host}", f"wss://{host}"]
    return "; ".join(
        (
            "default-src 'self'",
            "script-src 'self'",
            "style-src 'self' 'unsafe-inline'",
            "img-src 'self' data: blob:",
            "font-src 'self' data:",
            "connect-src " + " ".join(connect),
            "object-src 'none'",
            "base-uri 'self'",
            "form-action 'self'",
            f"frame-ancestors {settings.frame_ancestors}",
        )
    )


class SecurityHeaders:
    """ASGI middleware: adds ``nosniff`` and the CSP to every HTTP response that does not set its own."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.settings = settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        host = _header(scope, b"host")
        policy = content_security_policy(self.settings, host).encode("latin-1")

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                if b"x-content-type-options" not in present:
                    headers.append((b"x-content-type-options", b"nosniff"))
                if b"content-security-policy" not in present:
                    headers.append((b"content-security-policy", policy))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


class TrustedHosts:
    """ASGI middleware: a request or handshake whose ``Host`` this server does not answer to gets 400.

    Outermost of the app's layers, so ``/ws`` (which skips the HTTP layers) is checked too; a refused
    handshake is answered before it is accepted (the websocket denial response: the same 400).
    """

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.allowed = settings.allowed_hosts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            host = _header(scope, b"host")
            server = scope.get("server")
            if not host_allowed(host, server[0] if server else None, self.allowed):
                shown = (host or "")[:80]
                text = f"Host {shown!r} is not a name this server answers to (start it with --allow-host NAME)"
                await PlainTextResponse(text, status_code=400)(scope, receive, send)
                return
        await self.app(scope, receive, send)


def host_name(host: str | None) -> str | None:
    """The name or address of a ``Host`` header, in lower case, without its port or a final dot; None if malformed."""
    if host is None or not _HOST.match(host):
        return None
    name = host.rsplit(":", 1)[0] if not host.endswith("]") and ":" in host else host
    return name.lower().rstrip(".") or None


def host_allowed(host: str | None, reached_at: str | None, allowed: tuple[str, ...]) -> bool:
    """May a request with this ``Host`` go ahead?  ``reached_at`` is the address the server was reached at
    (the ASGI scope's ``server``: the socket's own address; a test client's made-up name).

    Allowed: an IP address (a page can only rebind a *name*: a page whose address is an IP literal is
    that address's own), ``localhost`` and its subdomains (browsers resolve them to loopback
    themselves), ``reached_at``, and every ``allowed`` name (``*.school.example`` for every subdomain,
    ``*`` for any Host at all).
    """
    name = host_name(host)
    if name is None:
        return False
    if "*" in allowed or name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        ipaddress.ip_address(name.strip("[]"))
        return True
    except ValueError:
        pass
    if reached_at is not None and name == reached_at.lower():
        return True
    for pattern in allowed:
        pattern = pattern.lower().rstrip(".")
        if name == pattern or (pattern.startswith("*.") and name.endswith(pattern[1:])):
            return True
    return False


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key.lower() == name:
            return value.decode("latin-1")
    return None


def normalise_origin(origin: str) -> str | None:
    """``scheme://host[:port]`` in lower case without a default port, or None for an opaque origin."""
    parts = urlsplit(origin.strip().lower())
    if parts.scheme not in _DEFAULT_PORTS or not parts.hostname:
        return None  # "null" (sandboxed frames, file: pages) and anything that is not a web origin
    try:
        port = parts.port
    except ValueError:
        return None
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    if port is not None and port != _DEFAULT_PORTS[parts.scheme]:
        host += f":{port}"
    return f"{parts.scheme}://{host}"


def origin_allowed(ws: WebSocket, settings: Settings) -> bool:
    """May this handshake go ahead?  Yes without ``Origin`` (not a browser), for the page's own host, or listed.

    "The page's own host" is the handshake's ``Host`` header: a page served from ``http://h:p`` opens
    ``ws://h:p/ws`` with ``Origin: http://h:p``.  A proxy in front must pass ``Host`` through (or the
    public origin must be listed with ``--allow-origin``).
    """
    origin = ws.headers.get("origin")
    if origin is None:
        return True
    if "*" in settings.allowed_origins:
        return True
    normal = normalise_origin(origin)
    if normal is None:
        return False
    if normal in {normalise_origin(o) for o in settings.allowed_origins}:
        return True
    scheme = normal.split("://", 1)[0]
    own = normalise_origin(f"{scheme}://{ws.headers.get('host', '')}")
    return own is not None and own == normal
