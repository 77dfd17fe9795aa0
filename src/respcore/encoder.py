"""The encoder respcore uses: the compiled core ``respcore._encoder`` when it is built, else
its pure-Python twin ``respcore._pyencoder``.

``RESPCORE_NO_EXTENSIONS`` set to anything but ``""`` or ``"0"`` forces the twin.
"""

from __future__ import annotations

import os

NO_EXTENSIONS = os.environ.get("RESPCORE_NO_EXTENSIONS", "") not in ("", "0")

from ._pyencoder import (  # noqa: E402
    LAST_CHUNK,
    FieldStore,
    check_field,
    content_disposition,
    encode_chunk,
    encode_event,
    encode_head,
    encode_status_line,
)

COMPILED = False
if not NO_EXTENSIONS:
    try:
        from . import _encoder
    except ImportError:  # not built: run on the twin
        pass
    else:
        FieldStore = _encoder.FieldStore  # type: ignore[assignment,misc]
        check_field = _encoder.check_field
        content_disposition = _encoder.content_disposition
        encode_chunk = _encoder.encode_chunk
        encode_event = _encoder.encode_event
        encode_head = _encoder.encode_head
        encode_status_line = _encoder.encode_status_line
        COMPILED = True


__all__ = [
    "COMPILED",
    "LAST_CHUNK",
    "FieldStore",
    "check_field",
    "content_disposition",
    "encode_chunk",
    "encode_event",
    "encode_head",
    "encode_status_line",
]
