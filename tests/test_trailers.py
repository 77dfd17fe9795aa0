"""Trailers (RFC 9110 §6.5, RFC 9112 §7.1.2): ``StreamingResponse(..., trailers=fn)``. The
trailer section is parsed by h11 as the client; under ASGI, ``http.response.trailers``."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import threading
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from _live import LOOPS, POSIX_ONLY, WAIT, Live, ResponseReader, connect, live_server, request
from _servers import Routes as AsgiRoutes
from _servers import serve as serve_asgi

from respcore import StreamingResponse
from respcore.responses import Response
from respcore.server import Request

PARTS = [b"alpha ", b"beta ", b"gamma"]
DIGEST = hashlib.sha256(b"".join(PARTS)).hexdigest()


class Digesting:
    """A stream and a trailers function: the digest of what the stream yielded."""

    def __init__(self) -> None:
        self.hash = hashlib.sha256()
        self.called = threading.Event()

    async def stream(self) -> AsyncIterator[bytes]:
        for part in PARTS:
            self.hash.update(part)
            yield part

    def trailers(self) -> list[tuple[str, str]]:
        self.called.set()
        return [("Digest", f"sha-256={self.hash.hexdigest()}"), ("Server-Timing", "db;dur=5")]


def digest_response(digesting: Digesting, **kwargs: Any) -> StreamingResponse:
    return StreamingResponse(
        digesting.stream,
        headers={"Trailer": "Digest, Server-Timing"},
        trailers=digesting.trailers,
        **kwargs,
    )


class TrailerApp:
    def __init__(self) -> None:
        self.digesting = Digesting()
        self.returns: list[tuple[str, str]] = []

    async def __call__(self, req: Request, res: Response) -> Response:
        if req.path == "/digest":
            self.digesting = Digesting()
            return digest_response(self.digesting)
        returns = self.returns

        async def stream() -> AsyncIterator[bytes]:
            yield b"body"

        return StreamingResponse(stream, headers={"Trailer": "Digest"}, trailers=lambda: returns)


@pytest.fixture(scope="module", params=LOOPS)
def trailer_server(request: pytest.FixtureRequest) -> Iterator[tuple[Live, TrailerApp]]:
    app = TrailerApp()
    with live_server(app, request.param) as server:
        yield server, app


@POSIX_ONLY
def test_trailers_follow_the_last_chunk(trailer_server: tuple[Live, TrailerApp]) -> None:
    live, _app = trailer_server
    with connect(live.port) as sock:
        sock.sendall(request("GET", "/digest") + request("GET", "/digest"))
        reader = ResponseReader(sock)
        first, second = reader.read(), reader.read()
    for message in (first, second):
        assert message.complete
        assert message.header("trailer") == "Digest, Server-Timing"
        assert message.header("transfer-encoding") == "chunked"
        assert message.body == b"".join(PARTS)
        assert message.trailers == [
            (b"Digest", f"sha-256={DIGEST}".encode()),
            (b"Server-Timing", b"db;dur=5"),
        ]


@POSIX_ONLY
@pytest.mark.parametrize(("method", "version"), [("GET", "1.0"), ("HEAD", "1.1")])
def test_no_trailers_without_chunked_framing(
    trailer_server: tuple[Live, TrailerApp], method: str, version: str
) -> None:
    live, app = trailer_server
    with connect(live.port) as sock:
        sock.sendall(request(method, "/digest", version=version))
        message = ResponseReader(sock).read(method)
    assert message.complete
    assert message.trailers == []
    assert message.body == (b"".join(PARTS) if method == "GET" else b"")
    assert not app.digesting.called.is_set()


@POSIX_ONLY
@pytest.mark.parametrize(
    ("returned", "logged"),
    [
        ([("Content-Length", "5")], "'Content-Length' cannot be sent as a trailer field"),
        ([("Set-Cookie", "a=1")], "'Set-Cookie' cannot be sent as a trailer field"),
        ([("X-Other", "1")], "'X-Other' was not announced in the Trailer header"),
        ([("Digest", "a\r\nX-Injected: 1")], "header 'Digest': value contains CR"),
    ],
)
def test_a_bad_trailer_aborts_the_response(
    trailer_server: tuple[Live, TrailerApp],
    caplog: pytest.LogCaptureFixture,
    returned: list[tuple[str, str]],
    logged: str,
) -> None:
    live, app = trailer_server
    app.returns[:] = returned
    with connect(live.port) as sock:
        sock.sendall(request("GET", "/bad"))
        message = ResponseReader(sock).read()
    assert message.status == 200
    assert not message.complete  # never read as a complete message
    assert b"X-Injected" not in message.body
    assert any(
        logged in str(record.exc_info[1])
        for record in caplog.records
        if record.levelno >= logging.ERROR and record.exc_info
    )


# -- bad input at construction ----------------------------------------------------------------


async def _one() -> AsyncIterator[bytes]:
    yield b"x"


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"trailers": lambda: []}, ValueError, "announce the trailer field names in a Trailer"),
        (
            {"trailers": lambda: [], "headers": {"Trailer": "Content-Length"}},
            ValueError,
            "header 'Trailer': 'Content-Length' cannot be sent as a trailer field",
        ),
        (
            {"trailers": lambda: [], "headers": {"Trailer": "a b"}},
            ValueError,
            "header 'Trailer': 'a b' is not a field name",
        ),
        ({"trailers": "Digest", "headers": {"Trailer": "Digest"}}, TypeError, "callable"),
    ],
)
def test_bad_trailers_raise_at_construction(
    kwargs: dict[str, Any], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        StreamingResponse(_one, **kwargs)


# -- ASGI --------------------------------------------------------------------------------------


def test_asgi_sends_http_response_trailers_when_the_server_offers_them() -> None:
    digesting = Digesting()
    sent: list[dict[str, Any]] = []

    async def run() -> None:
        async def receive() -> dict[str, Any]:
            await asyncio.sleep(WAIT)
            return {"type": "http.disconnect"}

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        scope = {
            "type": "http",
            "method": "GET",
            "http_version": "1.1",
            "headers": [],
            "extensions": {"http.response.trailers": {}},
        }
        await digest_response(digesting)(scope, receive, send)

    asyncio.run(run())
    start, *bodies, trailers = sent
    assert start["type"] == "http.response.start"
    assert start["trailers"] is True
    assert (b"trailer", b"Digest, Server-Timing") in start["headers"]
    assert b"".join(m["body"] for m in bodies) == b"".join(PARTS)
    assert bodies[-1].get("more_body", False) is False
    assert trailers == {
        "type": "http.response.trailers",
        "headers": [(b"digest", f"sha-256={DIGEST}".encode()), (b"server-timing", b"db;dur=5")],
        "more_trailers": False,
    }


@POSIX_ONLY
def test_under_uvicorn_without_the_extension_the_body_arrives_whole() -> None:
    routes = AsgiRoutes()
    digesting = Digesting()
    routes.add("/digest", lambda scope: digest_response(digesting))
    with serve_asgi(routes) as url, httpx.Client(timeout=WAIT) as client:
        response = client.get(url + "/digest")
    assert response.status_code == 200
    assert response.content == b"".join(PARTS)
    assert not digesting.called.is_set()
