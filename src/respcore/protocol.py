"""The server's per-request path: the compiled ``respcore._protocol`` when it is built, else
its pure-Python twin ``respcore._pyprotocol`` (``Core`` and ``Request``; the rest is the
twin's in both cases).

``RESPCORE_NO_EXTENSIONS`` set to anything but ``""`` or ``"0"`` forces the twin (the same
switch as ``respcore.encoder``'s).
"""

from __future__ import annotations

from ._pyprotocol import (
    BAD_REQUEST,
    SERVER_ERROR,
    TOO_LARGE_BODY,
    TOO_LARGE_HEAD,
    Core,
    Refusal,
    Request,
)
from .encoder import NO_EXTENSIONS

COMPILED = False
if not NO_EXTENSIONS:
    try:
        from . import _protocol
    except ImportError:  # not built: run on the twin
        pass
    else:
        Core = _protocol.Core  # type: ignore[assignment,misc]
        Request = _protocol.Request  # type: ignore[assignment,misc]
        COMPILED = True

__all__ = [
    "BAD_REQUEST",
    "COMPILED",
    "SERVER_ERROR",
    "TOO_LARGE_BODY",
    "TOO_LARGE_HEAD",
    "Core",
    "Refusal",
    "Request",
]
