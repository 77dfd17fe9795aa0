"""respcore: a Cython-accelerated HTTP/1.1 response encoder with a thin Python facade."""

from ._version import __version__
from .encoder import (
    COMPILED,
    LAST_CHUNK,
    content_disposition,
    encode_chunk,
    encode_head,
    encode_status_line,
)
from .headers import Headers

__all__ = [
    "COMPILED",
    "LAST_CHUNK",
    "Headers",
    "__version__",
    "content_disposition",
    "encode_chunk",
    "encode_head",
    "encode_status_line",
]
