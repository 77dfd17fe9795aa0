"""Adapter for frameworks that want a ``starlette.responses.Response`` (FastAPI).

A respcore response returned from a Starlette route already works: Starlette calls whatever
the route returns as an ASGI application. FastAPI checks the type instead, so::

    from respcore.starlette import adapt

    @app.get("/")
    async def home():
        return adapt(JsonResponse({"hello": "world"}))

Only this module imports Starlette; ``import respcore`` never does.
"""

from __future__ import annotations

from starlette.background import BackgroundTask
from starlette.responses import Response as StarletteResponse

from . import asgi
from .responses import Response

__all__ = ["AdaptedResponse", "adapt"]


class AdaptedResponse(StarletteResponse):
    """A Starlette ``Response`` that sends a respcore response unchanged, then runs
    ``background`` (which FastAPI fills with the route's background tasks).

    ``status_code`` and ``headers`` show the respcore response as it was adapted; what is
    sent is always the respcore response as it is when sent.
    """

    def __init__(self, response: Response, background: BackgroundTask | None = None) -> None:
        if not isinstance(response, Response):
            raise TypeError(f"response must be a respcore Response, got {type(response).__name__}")
        # Starlette's __init__ renders a body; there is none to render here.
        self.respcore_response = response
        self.status_code = response.status_code
        self.background = background
        self.body = b""
        self.raw_headers = asgi.raw_headers(response.headers.items())

    async def __call__(self, scope: asgi.Scope, receive: asgi.Receive, send: asgi.Send) -> None:
        await self.respcore_response(scope, receive, send)
        if self.background is not None:
            await self.background()


def adapt(response: Response) -> AdaptedResponse:
    """``response`` as a ``starlette.responses.Response`` that sends it unchanged."""
    return AdaptedResponse(response)
