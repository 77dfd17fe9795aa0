"""The compiled protocol and its pure-Python twin answer generated request streams with the
same bytes: two live servers, one on each, judged side by side (the Date field aside).

The streams mix methods, versions, headers, bodies (Content-Length and chunked),
100-continue, pipelining behind apps that wait, app errors, and refusals (garbage, a head or
a body over the limit). Runs where the compiled protocol is built.
"""

from __future__ import annotations

import asyncio
import random
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from _live import POSIX_ONLY, LoopThread, connect, recv_until_close, request

import respcore._pyprotocol
import respcore.protocol
from respcore import JsonResponse, Response, StreamingResponse
from respcore.server import Request, Server, _Connection

pytestmark = [
    POSIX_ONLY,
    pytest.mark.skipif(not respcore.protocol.COMPILED, reason="the compiled protocol is not built"),
]

STREAMS = 120  # generated request streams, each sent to both servers
OPTIONS: dict[str, Any] = {"max_head_size": 600, "max_body_size": 64}


def _twin_connection() -> type[_Connection]:
    """The server's connection class, built on the twin's Core instead of the compiled one."""
    namespace = {
        name: value
        for name, value in vars(_Connection).items()
        if name not in ("__dict__", "__weakref__")
    }
    return type("_TwinConnection", (respcore._pyprotocol.Core, asyncio.Protocol), namespace)


class _TwinServer(Server):
    connection_class = _twin_connection()


async def app(req: Request, res: Response) -> Response | None:
    path = req.path
    if path == "/wait":
        await asyncio.sleep(0)
    if path == "/raise":
        raise RuntimeError("the app failed")
    if path == "/stream":

        async def chunks() -> Any:
            yield b"a"
            yield req.method.encode()

        return StreamingResponse(chunks)
    if path == "/none":
        return None
    if path == "/text":
        res.text = f"{req.method} {req.query_string}"
        return None
    if path == "/fields":
        res.headers.add("X-Seen", str(len(req.headers)))
        res.headers.add("Set-Cookie", "a=1")
        res.content = await req.body()
        return None
    body = await req.body()
    return JsonResponse(
        {
            "method": req.method,
            "path": path,
            "raw": req.raw_path.decode("latin-1"),
            "query": req.query_string,
            "version": req.version,
            "keep_alive": req.keep_alive,
            "headers": [list(pair) for pair in req.headers.items()],
            "body": body.decode("latin-1"),
        }
    )


PATHS = ["/", "/wait", "/raise", "/stream", "/none", "/text", "/fields", "/a%20b?x=1&y", "/wait"]


def _one_request(rng: random.Random) -> bytes:
    roll = rng.random()
    if roll < 0.04:
        return b"GARBAGE\r\n\r\n"
    if roll < 0.07:
        return request("GET", "/", headers=[("X-Big", "b" * 700)])
    method = rng.choice(["GET", "GET", "HEAD", "POST", "PUT", "DELETE"])
    version = rng.choice(["1.1", "1.1", "1.1", "1.0"])
    headers = [
        (f"X-{n}", rng.choice(["1", "two", " spaced ", "é".encode().decode("latin-1")]))
        for n in range(rng.randrange(4))
    ]
    if rng.random() < 0.05:
        return request("CONNECT", "example.com:443", version=version)
    connection = rng.random()
    if version == "1.0" and connection < 0.4:
        headers.append((rng.choice(["Connection", "Proxy-Connection", "connection"]), "keep-alive"))
    elif connection < 0.05:
        headers += [("Upgrade", "websocket"), ("Connection", "Upgrade")]
    elif connection < 0.1:
        headers.append(("Upgrade", "websocket"))  # not named by Connection: no upgrade
    elif connection < 0.15:
        headers.append(("Connection", "close"))
    body = b""
    if method in ("POST", "PUT"):
        body = bytes(rng.randrange(97, 123) for _ in range(rng.choice([0, 5, 40, 100])))
        if rng.random() < 0.3 and version == "1.1":
            headers.append(("Expect", "100-continue"))
        if rng.random() < 0.3 and version == "1.1":
            headers.append(("Transfer-Encoding", "chunked"))
            half = len(body) // 2
            framed = b"".join(
                b"%x\r\n%s\r\n" % (len(p), p) for p in (body[:half], body[half:]) if p
            )
            return (
                request(method, rng.choice(PATHS), version=version, headers=headers)
                + framed
                + b"0\r\n\r\n"
            )
    return request(method, rng.choice(PATHS), version=version, headers=headers, body=body)


def _stream(rng: random.Random) -> bytes:
    """Requests on one connection, the last one asking to close it."""
    requests = [_one_request(rng) for _ in range(rng.randrange(1, 6))]
    requests.append(request("GET", "/text?last", headers=[("Connection", "close")]))
    return b"".join(requests)


@contextmanager
def _serving(server_class: type[Server]) -> Iterator[int]:
    with LoopThread("uvloop") as thread:
        server = server_class(app, **OPTIONS)
        thread.run(server.listen("127.0.0.1", 0))
        try:
            yield server.port
        finally:
            thread.run(server.shutdown(grace=1.0))


def _answers(server_class: type[Server], streams: list[bytes]) -> list[bytes]:
    answers = []
    with _serving(server_class) as port:
        for data in streams:
            with connect(port) as sock:
                sock.sendall(data)
                answers.append(
                    re.sub(rb"\r\nDate: [^\r]*", b"\r\nDate: -", recv_until_close(sock).data)
                )
    return answers


def test_compiled_protocol_and_twin_answer_the_same_bytes() -> None:
    rng = random.Random(12)
    streams = [_stream(rng) for _ in range(STREAMS)]
    twin = _answers(_TwinServer, streams)
    compiled = _answers(Server, streams)
    assert Server.connection_class.__mro__[1].__module__ == "respcore._protocol"
    for data, a, b in zip(streams, twin, compiled, strict=True):
        assert a == b, data
    # The streams reached every kind of answer.
    joined = b"".join(compiled)
    for status in (b"200 OK", b"100 Continue", b"400 Bad Request", b"413", b"431", b"500"):
        assert status in joined, status
