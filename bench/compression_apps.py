"""The apps bench/bench_compression.py serves: a 64 KiB JSON document at ``/json`` and a 1 MiB
stream (16 chunks of 64 KiB of NDJSON) at ``/stream``, compressed by each contender.

respcore      ``respcore_app`` on respcore's own server, ``respcore_asgi`` under uvicorn:
              ``Compression()`` (zstd 3, br 4, gzip 6), the coding the request asks for.
starlette     ``starlette_app``: Starlette's ``GZipMiddleware(compresslevel=6)`` (the same
              gzip level as respcore; its default is 9) under uvicorn.
aiohttp       ``aiohttp_app``: ``response.enable_compression()`` (zlib's default level, 6).
"""

from __future__ import annotations

import json
import random
from collections.abc import AsyncIterator
from typing import Any

from aiohttp import web
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.gzip import GZipMiddleware
from starlette.requests import Request as StarletteRequest
from starlette.responses import Response as StarletteResponse
from starlette.responses import StreamingResponse as StarletteStreamingResponse
from starlette.routing import Route

from respcore import Compression, Response, StreamingResponse

POLICY = Compression()


def _record(rng: random.Random, n: int) -> dict[str, Any]:
    words = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india"]
    return {
        "id": n,
        "name": f"{rng.choice(words)} {rng.choice(words)} {n}",
        "email": f"user{rng.randrange(10**6)}@example.com",
        "score": round(rng.random() * 1000, 3),
        "active": rng.random() < 0.5,
        "tags": rng.sample(words, 3),
    }


def _document(size: int, seed: int) -> Any:
    """Records, as many as fit in ``size`` bytes of compact JSON."""
    rng = random.Random(seed)
    records: list[dict[str, Any]] = []
    while len(json.dumps({"items": records}, separators=(",", ":"))) < size:
        records.append(_record(rng, len(records)))
    return {"items": records[:-1]}


DOCUMENT = _document(64 * 1024, 1)
JSON_BODY = json.dumps(DOCUMENT, separators=(",", ":"), ensure_ascii=False).encode()
CHUNK_SIZE = 64 * 1024
CHUNKS = 16
_LINES = b"".join(
    json.dumps(_record(random.Random(n), n), separators=(",", ":")).encode() + b"\n"
    for n in range(12000)
)
STREAM_CHUNKS = [_LINES[i * CHUNK_SIZE : (i + 1) * CHUNK_SIZE] for i in range(CHUNKS)]
assert all(len(chunk) == CHUNK_SIZE for chunk in STREAM_CHUNKS)
STREAM_BODY = b"".join(STREAM_CHUNKS)
NDJSON = "application/x-ndjson"


async def _chunks() -> AsyncIterator[bytes]:
    for chunk in STREAM_CHUNKS:
        yield chunk


# -- respcore ----------------------------------------------------------------------------------


def _respcore(path: str) -> Response:
    if path == "/stream":
        return StreamingResponse(_chunks, media_type=NDJSON, compression=POLICY)
    return Response(JSON_BODY, media_type="application/json", compression=POLICY)


async def respcore_app(req: Any, res: Response) -> Response:
    return _respcore(req.path)


async def respcore_asgi(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "http":
        await _respcore(scope["path"])(scope, receive, send)


# -- Starlette + GZipMiddleware ----------------------------------------------------------------


async def _starlette_json(request: StarletteRequest) -> StarletteResponse:
    return StarletteResponse(JSON_BODY, media_type="application/json")


async def _starlette_stream(request: StarletteRequest) -> StarletteResponse:
    return StarletteStreamingResponse(_chunks(), media_type=NDJSON)


starlette_app = Starlette(
    routes=[Route("/json", _starlette_json), Route("/stream", _starlette_stream)],
    middleware=[Middleware(GZipMiddleware, minimum_size=512, compresslevel=6)],
)


# -- aiohttp -----------------------------------------------------------------------------------


async def _aiohttp_json(request: web.Request) -> web.StreamResponse:
    response = web.Response(body=JSON_BODY, content_type="application/json")
    response.enable_compression()
    return response


async def _aiohttp_stream(request: web.Request) -> web.StreamResponse:
    response = web.StreamResponse(headers={"Content-Type": NDJSON})
    response.enable_compression()
    await response.prepare(request)
    for chunk in STREAM_CHUNKS:
        await response.write(chunk)
    await response.write_eof()
    return response


def aiohttp_app(argv: list[str] | None = None) -> web.Application:
    app = web.Application()
    app.router.add_get("/json", _aiohttp_json)
    app.router.add_get("/stream", _aiohttp_stream)
    return app
