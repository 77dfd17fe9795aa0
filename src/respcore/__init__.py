"""respcore: a Cython-accelerated HTTP/1.1 response encoder with a thin Python facade."""

from ._version import __version__
from .compression import Compression
from .encoder import (
    COMPILED,
    LAST_CHUNK,
    content_disposition,
    encode_chunk,
    encode_head,
    encode_status_line,
)
from .errors import ClientDisconnect, ResponseTimeout
from .headers import Headers
from .responses import (
    EventSourceResponse,
    FileResponse,
    HTMLResponse,
    HtmlResponse,
    JSONResponse,
    JsonResponse,
    PlainTextResponse,
    RedirectResponse,
    Response,
    StreamingResponse,
    TextResponse,
    set_default_compression,
    set_json_dumps,
)
from .sse import ServerSentEvent
from .writer import TransportWriter

__all__ = [
    "COMPILED",
    "LAST_CHUNK",
    "ClientDisconnect",
    "Compression",
    "EventSourceResponse",
    "FileResponse",
    "HTMLResponse",
    "Headers",
    "HtmlResponse",
    "JSONResponse",
    "JsonResponse",
    "PlainTextResponse",
    "RedirectResponse",
    "Response",
    "ResponseTimeout",
    "ServerSentEvent",
    "StreamingResponse",
    "TextResponse",
    "TransportWriter",
    "__version__",
    "content_disposition",
    "encode_chunk",
    "encode_head",
    "encode_status_line",
    "serve",
    "set_default_compression",
    "set_json_dumps",
]


def __getattr__(name: str) -> object:
    # The server imports httptools (and uvloop when it runs): only when asked for.
    if name == "serve":
        from .server import serve

        return serve
    raise AttributeError(f"module 'respcore' has no attribute {name!r}")
