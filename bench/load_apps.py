"""The apps and servers bench/load_server.py puts under load, all answering the same requests:

    GET /         {"message":"Hello, world!"} as application/json
    GET /stream   the same pre-made 64 KiB chunk STREAM_CHUNKS times (1 GiB), chunked
    GET /file     the file named by $RESPCORE_BENCH_FILE
    GET /bigfile  the file named by $RESPCORE_BENCH_BIG_FILE

(each contender serves the routes its part of the benchmark needs). Three kinds:

- respcore server apps, ``async def app(req, res)``, served by
  ``python -m respcore serve load_apps:APP``: ``json_response`` (returns a JsonResponse),
  ``json_mutable`` (sets ``res.json``) and ``app`` (all four routes).
- ASGI apps for uvicorn: ``starlette_app`` (Starlette JSONResponse and FileResponse) and
  ``respcore_asgi`` (respcore JsonResponse and FileResponse as ASGI apps).
- Two servers run as scripts, each printing ``listening on http://127.0.0.1:PORT``:

    .venv/bin/python bench/load_apps.py ceiling --port 8000   # uvloop + httptools Protocol
    .venv/bin/python bench/load_apps.py aiohttp --port 8000   # aiohttp.web on uvloop

The ceiling is the least a Python server on this loop and parser can do per request: an
asyncio Protocol that parses with httptools and writes precomputed bytes (a Date field
refreshed once a second), streaming pre-framed chunks as fast as the transport drains.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import os
from collections import deque
from collections.abc import AsyncIterator
from email.utils import formatdate
from typing import Any, Protocol, cast

import httptools
import uvloop
from aiohttp import web
from starlette.responses import FileResponse as StarletteFileResponse
from starlette.responses import JSONResponse as StarletteJSONResponse

from respcore import FileResponse, JsonResponse, Response, StreamingResponse

DATA = {"message": "Hello, world!"}
BODY = b'{"message":"Hello, world!"}'
# The 64 KiB every stream chunk carries: deterministic (the driver checks it), not zeros.
CHUNK = bytes(range(256)) * 256
STREAM_CHUNKS = int(os.environ.get("RESPCORE_BENCH_STREAM_CHUNKS", "16384"))
BENCH_FILE = os.environ.get("RESPCORE_BENCH_FILE", "")
BIG_FILE = os.environ.get("RESPCORE_BENCH_BIG_FILE", "")

ASGIScope = dict[str, Any]


class Request(Protocol):
    """What these apps read from the respcore server's request object."""

    path: str


# -- respcore server apps ----------------------------------------------------------------------


async def json_response(req: Request, res: Response) -> Response:
    return JsonResponse(DATA)


async def json_mutable(req: Request, res: Response) -> None:
    res.json = DATA


async def _chunks() -> AsyncIterator[bytes]:
    for _ in range(STREAM_CHUNKS):
        yield CHUNK


async def app(req: Request, res: Response) -> Response:
    path = req.path
    if path == "/stream":
        return StreamingResponse(_chunks, chunk_timeout=10, complete_timeout=None)
    if path == "/file":
        return FileResponse(BENCH_FILE, attach=False)
    if path == "/bigfile":
        return FileResponse(BIG_FILE, attach=False)
    return JsonResponse(DATA)


# -- ASGI apps for uvicorn ---------------------------------------------------------------------


async def starlette_app(scope: ASGIScope, receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    if scope["path"] == "/file":
        await StarletteFileResponse(BENCH_FILE)(scope, receive, send)
    else:
        await StarletteJSONResponse(DATA)(scope, receive, send)


async def respcore_asgi(scope: ASGIScope, receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    if scope["path"] == "/file":
        await FileResponse(BENCH_FILE, attach=False)(scope, receive, send)
    else:
        await JsonResponse(DATA)(scope, receive, send)


# -- the ceiling: uvloop + httptools, precomputed bytes ------------------------------------------


class _Wire:
    """The precomputed responses, rebuilt when the Date field changes (once a second)."""

    def __init__(self) -> None:
        self.refresh()

    def refresh(self) -> None:
        date = formatdate(usegmt=True).encode()
        self.json = (
            b"HTTP/1.1 200 OK\r\nDate: " + date + b"\r\nContent-Type: application/json\r\n"
            b"Content-Length: %d\r\n\r\n" % len(BODY) + BODY
        )
        self.stream_head = (
            b"HTTP/1.1 200 OK\r\nDate: " + date + b"\r\nContent-Type: application/octet-stream"
            b"\r\nTransfer-Encoding: chunked\r\n\r\n"
        )
        self.not_found = (
            b"HTTP/1.1 404 Not Found\r\nDate: " + date + b"\r\nContent-Length: 0\r\n\r\n"
        )


WIRE = _Wire()
FRAME = b"%x\r\n" % len(CHUNK) + CHUNK + b"\r\n"  # one chunk, framed once
LAST = b"0\r\n\r\n"
BAD_REQUEST = b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"


class CeilingProtocol(asyncio.Protocol):
    """One connection: requests are answered in order; a stream is written frame by frame
    while the transport is below its high-water mark (pause_writing / resume_writing), and
    reading pauses until it ends, so nothing is buffered without bound."""

    def __init__(self) -> None:
        self.parser = httptools.HttpRequestParser(self)
        self.transport: asyncio.Transport | None = None
        self.url = b""
        self.pending: deque[tuple[bytes, bool]] = deque()  # (path, keep-alive)
        self.frames_left = -1  # >= 0 while a stream is being written
        self.stream_keep_alive = True
        self.write_paused = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's TCPTransport is not an asyncio.Transport subclass, but has its methods.
        self.transport = cast(asyncio.Transport, transport)

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        self.frames_left = -1
        self.pending.clear()

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            if self.transport is not None:
                self.transport.write(BAD_REQUEST)
                self.transport.close()

    # httptools callbacks
    def on_message_begin(self) -> None:
        self.url = b""

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_message_complete(self) -> None:
        self.pending.append((self.url.split(b"?", 1)[0], self.parser.should_keep_alive()))
        self._answer()

    # flow control
    def pause_writing(self) -> None:
        self.write_paused = True

    def resume_writing(self) -> None:
        self.write_paused = False
        if self.frames_left >= 0:
            self._pump()

    def _answer(self) -> None:
        transport = self.transport
        while self.pending and self.frames_left < 0 and transport is not None:
            path, keep_alive = self.pending.popleft()
            if path == b"/stream":
                transport.pause_reading()
                transport.write(WIRE.stream_head)
                self.frames_left = STREAM_CHUNKS
                self.stream_keep_alive = keep_alive
                self._pump()
                return
            transport.write(WIRE.json if path == b"/" else WIRE.not_found)
            if not keep_alive:
                transport.close()
                self.transport = None
                return

    def _pump(self) -> None:
        transport = self.transport
        while transport is not None and not self.write_paused:
            if self.frames_left == 0:
                transport.write(LAST)
                self.frames_left = -1
                if self.stream_keep_alive:
                    transport.resume_reading()
                    self._answer()
                else:
                    transport.close()
                    self.transport = None
                return
            transport.write(FRAME)
            self.frames_left -= 1


def _refresh_date(loop: asyncio.AbstractEventLoop) -> None:
    WIRE.refresh()
    loop.call_later(1.0, _refresh_date, loop)


async def serve_ceiling(port: int) -> None:
    loop = asyncio.get_running_loop()
    _refresh_date(loop)
    server = await loop.create_server(CeilingProtocol, "127.0.0.1", port, backlog=1024)
    print(f"ceiling (uvloop + httptools) listening on http://127.0.0.1:{port}", flush=True)
    async with server:
        await server.serve_forever()


# -- aiohttp.web on uvloop ---------------------------------------------------------------------

_compact_dumps = functools.partial(json.dumps, separators=(",", ":"))


async def serve_aiohttp(port: int) -> None:
    async def hello(request: web.Request) -> web.Response:
        # Compact JSON, so the body is byte for byte the one the others send.
        return web.json_response(DATA, dumps=_compact_dumps)

    async def file(request: web.Request) -> web.FileResponse:
        return web.FileResponse(BENCH_FILE)

    application = web.Application()
    application.router.add_get("/", hello)
    application.router.add_get("/file", file)
    runner = web.AppRunner(application, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port, backlog=1024).start()
    loop = type(asyncio.get_running_loop()).__module__
    print(f"aiohttp.web ({loop}) listening on http://127.0.0.1:{port}", flush=True)
    await asyncio.Event().wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("server", choices=["ceiling", "aiohttp"])
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    serve = serve_ceiling if args.server == "ceiling" else serve_aiohttp
    uvloop.run(serve(args.port))


if __name__ == "__main__":
    main()
