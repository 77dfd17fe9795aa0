"""The three hello-world JSON ASGI apps bench/load_asgi.py serves under uvicorn."""

from __future__ import annotations

from typing import Any

from starlette.responses import JSONResponse as StarletteJSONResponse

from respcore import JsonResponse

DATA = {"message": "Hello, world!"}
BODY = b'{"message":"Hello, world!"}'
START = {
    "type": "http.response.start",
    "status": 200,
    "headers": [(b"content-type", b"application/json"), (b"content-length", b"27")],
}
END = {"type": "http.response.body", "body": BODY}


async def respcore_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "http":
        await JsonResponse(DATA)(scope, receive, send)


async def starlette_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "http":
        await StarletteJSONResponse(DATA)(scope, receive, send)


async def precomputed_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "http":
        await send(START)
        await send(END)
