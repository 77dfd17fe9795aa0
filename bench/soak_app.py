"""The app ``bench/soak.py`` loads on respcore's server: a mix of routes a real service has.

/json      a small JSON body
/stream    a chunked stream of 16 chunks
/file      a 1 MiB file (clients ask for ranges of it)
/missing   404
/broken    the app sets a header value with a line break: ValueError in the app, a 500
/slow      an endless slow stream, for clients that leave in the middle
"""

from __future__ import annotations

import asyncio
import os
import tempfile
from collections.abc import AsyncIterator

from respcore import JsonResponse, Response, StreamingResponse
from respcore.server import Request

_FOLDER = tempfile.mkdtemp(prefix="respcore-soak-")
FILE = os.path.join(_FOLDER, "data.bin")
with open(FILE, "wb") as _out:
    _out.write(bytes(range(256)) * 4096)
CHUNK = b"s" * 4096


async def _chunks() -> AsyncIterator[bytes]:
    for _ in range(16):
        yield CHUNK


async def _slow() -> AsyncIterator[bytes]:
    for n in range(100_000):
        yield b"tick %d\n" % n
        await asyncio.sleep(0.01)


async def app(req: Request, res: Response) -> Response | None:
    path = req.path
    if path == "/json":
        return JsonResponse({"message": "Hello, world!", "n": 42})
    if path == "/stream":
        return StreamingResponse(_chunks)
    if path == "/file":
        res.file(FILE, attach=False)
        return None
    if path == "/broken":
        res.headers["X-Broken"] = "a\nb"  # raises ValueError: answered 500
        return None
    if path == "/slow":
        return StreamingResponse(_slow, chunk_timeout=5, complete_timeout=60)
    res.status_code = 404
    res.text = "not found\n"
    return None
