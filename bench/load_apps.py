"""The apps and servers bench/load_server.py puts under load, all answering the same requests:

    GET /         {"message":"Hello, world!"} as application/json
    GET /realistic  a 2 KiB JSON body with eight header fields, two of them Set-Cookie
    GET /stream   the same pre-made 64 KiB chunk STREAM_CHUNKS times (1 GiB), chunked
    GET /file     the file named by $RESPCORE_BENCH_FILE
    GET /bigfile  the file named by $RESPCORE_BENCH_BIG_FILE

(each contender serves the routes its part of the benchmark needs). Three kinds:

- respcore server apps, ``async def app(req, res)``, served by
  ``python -m respcore serve load_apps:APP``: ``json_response`` (returns a JsonResponse),
  ``json_mutable`` (sets ``res.json``) and ``app`` (all four routes).
- ASGI apps for uvicorn: ``starlette_app`` (Starlette JSONResponse and FileResponse) and
  ``respcore_asgi`` (respcore JsonResponse and FileResponse as ASGI apps); ``raw_asgi``, a
  bare ASGI app (no framework), and ``raw_rsgi``, the same as an RSGI app, for granian.
- Servers run as scripts, each printing ``listening on http://127.0.0.1:PORT``:

    .venv/bin/python bench/load_apps.py ceiling --port 8000   # uvloop + httptools Protocol
    .venv/bin/python bench/load_apps.py aiohttp --port 8000   # aiohttp.web on uvloop
    .venv/bin/python bench/load_apps.py twin --port 8000      # respcore's server on its
                                                              # pure-Python protocol twin

The realistic response: Content-Type, Content-Length and Date, Cache-Control,
X-Content-Type-Options, X-Frame-Options and two Set-Cookie fields; the body is REALISTIC as
compact JSON (about 2 KiB), serialized on every request by every contender but the ceiling.

The ceiling is the least a Python server on this loop and parser can do per request: an
asyncio Protocol that parses with httptools and writes precomputed bytes (a Date field
refreshed once a second), streaming pre-framed chunks as fast as the transport drains.
"""

from __future__ import annotations

import argparse
import asyncio
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
REALISTIC: dict[str, Any] = {
    "user": {"id": 4182, "name": "Ada Lovelace", "email": "ada@example.com", "admin": False},
    "items": [
        {
            "id": n,
            "sku": f"SKU-{n:05d}",
            "name": f"Item number {n}",
            "price": round(9.99 + n * 1.25, 2),
            "in_stock": n % 3 != 0,
            "tags": ["alpha", "beta"] if n % 2 else ["gamma"],
        }
        for n in range(19)
    ],
    "page": {"number": 1, "size": 19, "total": 187},
}
# What the app sets; the server adds Content-Length and Date: eight fields in all.
REALISTIC_FIELDS = [
    ("Cache-Control", "no-store"),
    ("X-Content-Type-Options", "nosniff"),
    ("X-Frame-Options", "DENY"),
    ("Set-Cookie", "session=3f2a9c1e7b5d; Path=/; HttpOnly; Secure; SameSite=Lax"),
    ("Set-Cookie", "csrftoken=b81d4e0f92ac; Path=/; Secure; SameSite=Strict"),
]
# Compact JSON with the standard library's C encoder, built once (json.dumps with keyword
# arguments builds an encoder per call): for the contenders that serialize themselves.
compact_json = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
REALISTIC_BODY = compact_json(REALISTIC).encode()
# The 64 KiB every stream chunk carries: deterministic (the driver checks it), not zeros.
CHUNK = bytes(range(256)) * 256
STREAM_CHUNKS = int(os.environ.get("RESPCORE_BENCH_STREAM_CHUNKS", "16384"))
BENCH_FILE = os.environ.get("RESPCORE_BENCH_FILE", "")
BIG_FILE = os.environ.get("RESPCORE_BENCH_BIG_FILE", "")

ASGIScope = dict[str, Any]


class Request(Protocol):
    """What these apps read from the respcore server's request object."""

    path: str
    url: bytes


# -- respcore server apps ----------------------------------------------------------------------


async def json_response(req: Request, res: Response) -> Response:
    if req.url == b"/realistic":
        return JsonResponse(REALISTIC, headers=REALISTIC_FIELDS)
    return JsonResponse(DATA)


async def json_mutable(req: Request, res: Response) -> None:
    if req.url == b"/realistic":
        res.json = REALISTIC
        res.headers.extend(REALISTIC_FIELDS)
        return
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
    elif scope["path"] == "/realistic":
        response = StarletteJSONResponse(REALISTIC, headers=dict(REALISTIC_FIELDS[:3]))
        for _, cookie in REALISTIC_FIELDS[3:]:
            response.raw_headers.append((b"set-cookie", cookie.encode()))
        await response(scope, receive, send)
    else:
        await StarletteJSONResponse(DATA)(scope, receive, send)


async def respcore_asgi(scope: ASGIScope, receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    if scope["path"] == "/file":
        await FileResponse(BENCH_FILE, attach=False)(scope, receive, send)
    else:
        await JsonResponse(DATA)(scope, receive, send)


_RAW_FIELDS = [(name.lower().encode(), value.encode()) for name, value in REALISTIC_FIELDS]


async def raw_asgi(scope: ASGIScope, receive: Any, send: Any) -> None:
    """A bare ASGI app: the JSON serialized per request, the fields listed as they go out."""
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    if scope["type"] != "http":
        return
    if scope["path"] == "/realistic":
        body = compact_json(REALISTIC).encode()
        fields = [(b"content-type", b"application/json"), *_RAW_FIELDS]
    else:
        body = compact_json(DATA).encode()
        fields = [(b"content-type", b"application/json")]
    fields.append((b"content-length", b"%d" % len(body)))
    await send({"type": "http.response.start", "status": 200, "headers": fields})
    await send({"type": "http.response.body", "body": body})


async def raw_rsgi(scope: Any, protocol: Any) -> None:
    """The same as an RSGI app (granian's own interface)."""
    if scope.path == "/realistic":
        body = compact_json(REALISTIC).encode()
        fields = [("content-type", "application/json"), *REALISTIC_FIELDS]
    else:
        body = compact_json(DATA).encode()
        fields = [("content-type", "application/json")]
    fields.append(("content-length", str(len(body))))
    protocol.response_bytes(200, fields, body)


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
        self.realistic = (
            b"HTTP/1.1 200 OK\r\nDate: "
            + date
            + b"\r\nContent-Type: application/json\r\n"
            + b"".join(b"%s: %s\r\n" % (n.encode(), v.encode()) for n, v in REALISTIC_FIELDS)
            + b"Content-Length: %d\r\n\r\n" % len(REALISTIC_BODY)
            + REALISTIC_BODY
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
            if path == b"/":
                transport.write(WIRE.json)
            elif path == b"/realistic":
                transport.write(WIRE.realistic)
            else:
                transport.write(WIRE.not_found)
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


async def serve_aiohttp(port: int) -> None:
    async def hello(request: web.Request) -> web.Response:
        # Compact JSON, so the body is byte for byte the one the others send.
        return web.json_response(DATA, dumps=compact_json)

    async def realistic(request: web.Request) -> web.Response:
        response = web.json_response(REALISTIC, dumps=compact_json, headers=REALISTIC_FIELDS[:3])
        for _, cookie in REALISTIC_FIELDS[3:]:
            response.headers.add("Set-Cookie", cookie)
        return response

    async def file(request: web.Request) -> web.FileResponse:
        return web.FileResponse(BENCH_FILE)

    application = web.Application()
    application.router.add_get("/", hello)
    application.router.add_get("/realistic", realistic)
    application.router.add_get("/file", file)
    runner = web.AppRunner(application, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port, backlog=1024).start()
    loop = type(asyncio.get_running_loop()).__module__
    print(f"aiohttp.web ({loop}) listening on http://127.0.0.1:{port}", flush=True)
    await asyncio.Event().wait()


def serve_twin(port: int) -> None:
    """respcore's server with the compiled encoder but the pure-Python protocol twin (what
    RESPCORE_NO_EXTENSIONS=1 gives the server, without also giving it the pure encoder)."""
    import respcore._pyprotocol
    import respcore.protocol

    respcore.protocol.Core = respcore._pyprotocol.Core  # type: ignore[misc]
    respcore.protocol.Request = respcore._pyprotocol.Request  # type: ignore[misc]
    from respcore.server import serve

    print(f"respcore (protocol twin) listening on http://127.0.0.1:{port}", flush=True)
    serve(json_response, "127.0.0.1", port)  # type: ignore[arg-type]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("server", choices=["ceiling", "aiohttp", "twin"])
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    if args.server == "twin":
        serve_twin(args.port)
        return
    serve = serve_ceiling if args.server == "ceiling" else serve_aiohttp
    uvloop.run(serve(args.port))


if __name__ == "__main__":
    main()
