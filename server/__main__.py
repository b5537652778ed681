"""``python -m server`` / ``gradient-flow-lab``: serve the lab with uvicorn."""

from __future__ import annotations

import argparse
import ipaddress
import os
import re
import socket
import sys
import threading
import time
import webbrowser
from pathlib import Path

import uvicorn

from server.guard import normalise_origin
from server.settings import Settings, usable_cores

# What --allow-host takes: a host name (``*.`` for all its subdomains), an IP address, or ``*``.
_HOST_NAME = re.compile(r"^(\*\.)?[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.?$")


def _is_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
        return True
    except ValueError:
        return False


def opened_token(path: Path, settings: Settings, error) -> str:
    """The link token of the trace file ``path``, after the same checks the server reads it with; ``error(msg)``
    (the parser's: exits) for a file that is missing, over ``max_trace_file_bytes`` or not a usable trace file."""
    from server.uploads import UploadRefused
    from server.uploads.trace_file import file_token, read_trace_file

    if not path.is_file():
        error(f"--open: {str(path)!r} is not a file")
    cap = settings.max_trace_file_bytes
    if path.stat().st_size > cap:  # before reading it
        error(f"--open: {path.name!r} is {path.stat().st_size:,} bytes; at most {cap:,} (GFL_MAX_TRACE_FILE_BYTES)")
    data = path.read_bytes()
    try:
        read_trace_file(data, settings)
    except UploadRefused as e:
        error(f"--open: {path.name!r}: {e.message}")
    return file_token(data)


def open_when_serving(host: str, port: int, link: str, seconds: float = 60.0) -> None:
    """Open ``link`` in the browser once the server accepts connections (or give up after ``seconds``)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            socket.create_connection((host if host not in ("0.0.0.0", "::") else "127.0.0.1", port), timeout=1).close()
        except OSError:
            time.sleep(0.2)  # not listening yet: uvicorn is starting
            continue
        webbrowser.open(link)
        return


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["export"]:  # gradient-flow-lab export --out DIR: the static lesson site
        from server.export.__main__ import main as export

        return export(argv[1:])
    parser = argparse.ArgumentParser(prog="gradient-flow-lab", description="Serve Gradient Flow Lab.")
    parser.add_argument("--host", default="127.0.0.1", help="interface to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8000, help="port to bind (default 8000)")
    parser.add_argument("--workers", type=int, default=1, help="worker processes (default 1)")
    parser.add_argument("--log-level", default="info", choices=("critical", "error", "warning", "info", "debug"))
    parser.add_argument(
        "--cache",
        metavar="redis://HOST:PORT/DB",
        help="share finished results with every server using this Redis (needs the 'redis' package)",
    )
    parser.add_argument(
        "--allow-origin",
        action="append",
        default=[],
        metavar="ORIGIN",
        help="a site (https://host[:port]) whose pages may open the socket; repeatable",
    )
    parser.add_argument(
        "--allow-host",
        action="append",
        default=[],
        metavar="NAME",
        help="a host name the class uses to reach this server (IP addresses and localhost always work); repeatable",
    )
    parser.add_argument(
        "--frame-ancestors",
        metavar="SOURCES",
        help="CSP frame-ancestors: who may show the lab in an iframe (default *)",
    )
    parser.add_argument("--open", metavar="FILE", help="open a trace file saved by engine.save_traces: its views are "
                        "served under the link printed at start")
    parser.add_argument("--browser", action="store_true", help="with --open: open that link in the web browser")
    args = parser.parse_args(argv)
    for origin in args.allow_origin:
        if origin != "*" and normalise_origin(origin) is None:
            parser.error(f"--allow-origin must be an origin like https://school.example[:port]; got {origin!r}")
    for host in args.allow_host:
        if host != "*" and not _HOST_NAME.match(host) and not _is_address(host):
            parser.error(f"--allow-host must be a host name like lab.school.example (no scheme, no port); got {host!r}")
    # Through the environment, like every setting: uvicorn's workers build their own app from it.
    if args.allow_origin:
        os.environ["GFL_ALLOW_ORIGIN"] = ",".join(args.allow_origin)
    hosts = args.allow_host or list(Settings.from_env().allowed_hosts)
    if args.host and not _is_address(args.host) and args.host not in hosts:
        hosts.append(args.host)  # bound by name: clients reach it by that name
    if hosts:
        os.environ["GFL_ALLOW_HOST"] = ",".join(hosts)
    if args.frame_ancestors:
        os.environ["GFL_FRAME_ANCESTORS"] = args.frame_ancestors
    if args.workers < 1:
        parser.error("--workers must be at least 1")
    if args.cache:
        if not args.cache.startswith(("redis://", "rediss://", "unix://")):
            parser.error(f"--cache must be a redis:// URL; got {args.cache!r}")
        try:
            import redis  # noqa: F401
        except ImportError:
            parser.error("--cache needs the redis client: pip install 'gradient-flow-lab[redis]'")
        os.environ["GFL_CACHE"] = args.cache  # read by every worker's Settings.from_env()
    if args.workers > 1 and "GFL_MAX_CONCURRENT" not in os.environ:
        # Each worker has its own bound; share the cores between them.  Workers inherit the variable.
        os.environ["GFL_MAX_CONCURRENT"] = str(max(1, usable_cores() // args.workers))
    link = None
    if args.open:
        os.environ["GFL_OPEN_TRACE"] = str(Path(args.open).resolve())
        link = f"http://{args.host if ':' not in args.host else f'[{args.host}]'}:{args.port}/#trace-file="
        link += opened_token(Path(args.open), Settings.from_env(), parser.error)
        print(f"Gradient Flow Lab: the trace file {args.open} opens at {link}", flush=True)
        if args.browser:
            threading.Thread(target=open_when_serving, args=(args.host, args.port, link), daemon=True).start()
    settings = Settings.from_env()
    from server.guard import GuardedHttp, GuardedWebSocket  # imports uvicorn's protocols: only when serving

    uvicorn.run(
        "server.app:app",
        host=args.host,
        port=args.port,
        workers=args.workers,
        log_level=args.log_level,
        ws_max_size=settings.max_frame_bytes,
        # Float32 frames barely compress, and deflating them would run on the event loop.
        ws_per_message_deflate=False,
        # Per-address connection cap and the header deadline (server/guard/connections.py).
        http=GuardedHttp,
        ws=GuardedWebSocket,
        timeout_keep_alive=settings.keep_alive_seconds,
    )


if __name__ == "__main__":
    main()
