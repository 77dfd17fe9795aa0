"""A respcore response returned from a Starlette route: Starlette calls it as the ASGI app it
is, so nothing needs adapting.

Run it with: uvicorn docs.examples.starlette_app:app
"""

from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.routing import Route

from respcore import JsonResponse, Response, StreamingResponse


async def hello(request: Request) -> JsonResponse:
    return JsonResponse({"hello": "world"})


async def countdown(request: Request) -> StreamingResponse:
    async def numbers() -> AsyncIterator[str]:
        for n in range(3, 0, -1):
            yield f"{n}\n"

    return StreamingResponse(numbers, media_type="text/plain")


async def created(request: Request) -> Response:
    res = Response()
    res.status_code = 201
    res.json = {"title": "My awesome post"}
    return res


app = Starlette(
    routes=[
        Route("/", hello),
        Route("/countdown", countdown),
        Route("/posts", created, methods=["POST"]),
    ]
)
