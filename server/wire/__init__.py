"""What crosses the socket and HTTP: strict JSON, a trace's frames and document (recorded once, labelled
per socket), a training's frames, the client's messages, and error answers."""


import sys

from server.wire.encoding import *
from server.wire.frames import *
from server.wire.messages import *
from server.wire.recording import *
from server.wire.responses import *

_MODULES = ("encoding", "frames", "messages", "recording", "responses")  # whose __all__ this package re-exports
__all__ = [name for sub in _MODULES for name in sys.modules[f"{__name__}.{sub}"].__all__]
