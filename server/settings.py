"""Server settings, read once from the environment (``GFL_*`` variables)."""

from __future__ import annotations

import os
from dataclasses import dataclass, fields

# The settings whose variable is not GFL_ and the setting's name in capitals.
_ENV_NAMES = {"cache_url": "GFL_CACHE", "allowed_origins": "GFL_ALLOW_ORIGIN", "allowed_hosts": "GFL_ALLOW_HOST"}


def _env_value(name: str, kind: str, default):
    """The variable ``name`` read as a field of type ``kind`` (its annotation's text), else ``default``."""
    if kind in ("int", "float"):
        return _env_number(name, default, int if kind == "int" else float)
    if kind.startswith("tuple"):
        return _env_list(name)
    return os.environ.get(name, "").strip() or default


def _env_number(name: str, default, kind):
    """``kind(os.environ[name])`` (at least 1 for integers, positive and finite for floats), else ``default``."""
    text = os.environ.get(name)
    if text is None or text.strip() == "":
        return default
    word = "an integer" if kind is int else "a number"
    try:
        value = kind(text)
    except ValueError:
        raise ValueError(f"{name} must be {word}; got {text!r}") from None
    if (kind is int and value < 1) or (kind is float and not 0 < value < float("inf")):
        raise ValueError(f"{name} must be {'at least 1' if kind is int else 'positive and finite'}; got {value}")
    return value


def _env_list(name: str) -> tuple[str, ...]:
    """A comma-separated variable as a tuple of its non-empty items."""
    return tuple(item.strip() for item in os.environ.get(name, "").split(",") if item.strip())


def usable_cores() -> int:
    """Cores this process may run on (its CPU affinity where the OS tells it), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


@dataclass(frozen=True)
class Settings:
    # Computations (traces) running at once in this process; the rest wait for a slot.
    # One per core by default: each computation uses `torch_threads` intra-op threads.
    max_concurrent: int = 2
    # torch intra-op threads per computation.  One keeps `max_concurrent` computations
    # from fighting over the same cores; at batch 1 the matmuls are too small to gain from more.
    torch_threads: int = 1
    # Largest client message the protocol accepts; a bigger one gets an error frame.
    max_message_bytes: int = 64 * 1024
    # Largest websocket frame the transport reads at all (uvicorn `ws_max_size`);
    # a bigger one closes the connection with code 1009.
    max_frame_bytes: int = 1024 * 1024
    # Largest uploaded model file (a torch.save'd state_dict, POST /api/trace multipart or /ws).
    max_model_bytes: int = 8 * 1024 * 1024
    # Uploads kept for a reconnect (server/uploads/store.py): at most this many, this many bytes, this long idle.
    upload_store_entries: int = 256
    upload_store_bytes: int = 128 * 1024 * 1024
    upload_token_seconds: float = 900.0
    # Largest saved trace file (engine.save_traces) the page may open (POST /api/trace-file, --open).
    max_trace_file_bytes: int = 16 * 1024 * 1024
    # A saved trace file the server opens at start (``python -m server --open FILE``), served under its link.
    open_trace: str | None = None
    # -- Uploads are checked before they are parsed (server/uploads/; docs/protocol.md, "Security") --
    # Largest uploaded CSV series, most values read from it, most columns in a row, most characters in a cell.
    max_series_bytes: int = 2_000_000
    max_series_values: int = 100_000
    max_series_columns: int = 1000
    max_cell_chars: int = 256
    # An uploaded model: most tensors (zip entries, safetensors entries), most bytes they hold once
    # unpacked (a zip's inflated entries, a safetensors file's data), longest state_dict key.
    max_upload_tensors: int = 4096
    max_unpacked_bytes: int = 16 * 1024 * 1024
    max_key_chars: int = 256
    # torch.save's pickle (data.pkl), scanned before torch.load sees it: most opcodes, deepest nesting.
    max_pickle_opcodes: int = 200_000
    max_pickle_depth: int = 32
    # A .safetensors file's JSON header: most bytes.
    max_safetensors_header_bytes: int = 1024 * 1024
    # Files are parsed in this many worker processes, each parse for at most this long (then the worker is
    # killed and replaced), each worker in at most this much more address space than it starts with.
    upload_parse_workers: int = 2
    upload_parse_seconds: float = 5.0
    upload_parse_memory_bytes: int = 1024 * 1024 * 1024
    # Bytes of uploads held at once by every socket, parse in flight and kept token together; and by one
    # client (its peer address) of those, over all its sockets and tokens.
    upload_budget_bytes: int = 256 * 1024 * 1024
    upload_client_bytes: int = 32 * 1024 * 1024
    # Uploads one client may keep for reconnecting: a new one past this replaces its own oldest, never another's.
    upload_client_entries: int = 8
    # Deepest nesting of arrays/objects a client message may have.
    max_depth: int = 8
    # Frames (or text+binary pairs) buffered per socket before the run waits for the client.
    outbox_size: int = 32
    # POST /api/trace returns every per-unit value as JSON text; this caps their count.
    max_json_values: int = 2_000_000
    # Finished results kept in this process, in bytes of frames (least recently used evicted first).
    cache_bytes: int = 512 * 1024 * 1024
    # Optional shared cache for several processes or hosts: redis://HOST:PORT/DB.
    cache_url: str | None = None
    # Estimated seconds of computation allowed to wait in the queue; past it a request is told `busy`.
    max_queued_seconds: float = 60.0
    # Jobs estimated over this many seconds are "big": they leave one slot free for small work.
    big_job_seconds: float = 0.5
    # Training whose estimated time is over this is refused up front, naming the most `steps` it allows.
    max_train_seconds: float = 600.0
    # A trace (a run, a document) whose estimated time is over this is refused up front, naming the longest `seq_len`
    # it allows: what the server answers in a few seconds, for a slider a student is dragging.
    max_trace_seconds: float = 3.0
    # A sweep (POST /api/sweep, a socket's sweep) whose points' estimated times add up to more than this is refused
    # up front; each point must also be within a single request's limits.
    max_sweep_seconds: float = 600.0
    # A socket whose frames have not drained for this long is closed (1008) and releases what it held.
    stall_seconds: float = 20.0
    # Browser origins (``scheme://host[:port]``) besides the page's own that may open /ws: sites that embed the lab.
    allowed_origins: tuple[str, ...] = ()
    # The CSP ``frame-ancestors`` sources: who may show the page in an iframe (``embed=1``).
    frame_ancestors: str = "*"
    # Host names (besides localhost, IP addresses and the name the server was reached at) that requests may
    # carry in ``Host``: the names a class types to reach this server.  Others get 400 (DNS rebinding).
    allowed_hosts: tuple[str, ...] = ()
    # Connections open at once from one client address (HTTP and sockets); more are answered 503 and closed.
    max_connections_per_client: int = 64
    # A request's headers must arrive within this many seconds of the connection opening (or of the
    # previous answer on a kept-alive connection); a slower client is answered 408 and closed.
    header_seconds: float = 10.0
    # A kept-alive HTTP connection with no new request for this long is closed (uvicorn ``timeout_keep_alive``).
    keep_alive_seconds: float = 5.0

    # -- Rooms (server/rooms/; docs/protocol.md, "Rooms") --
    # Rooms open at once (with --cache, across every replica), followers of one room on one server process, seconds
    # a room lives after its presenter's last frame, and the largest room message accepted.
    max_rooms: int = 200
    max_room_followers: int = 1000
    room_seconds: float = 4 * 3600.0
    room_message_bytes: int = 4096

    @classmethod
    def from_env(cls) -> Settings:
        """Each setting from its variable, ``GFL_`` and its name in capitals (but for :data:`_ENV_NAMES`), read as the
        field's type; unset or empty, its default (``max_concurrent``'s: the cores this process may use)."""
        values = {}
        for f in fields(cls):
            default = usable_cores() if f.name == "max_concurrent" else f.default
            values[f.name] = _env_value(_ENV_NAMES.get(f.name, "GFL_" + f.name.upper()), f.type, default)
        return cls(**values)
