"""respcore's own server, live on 127.0.0.1 (uvloop and the stock asyncio loop): both app
styles, keep-alive, pipelining, HEAD, HTTP/1.0, request bodies, bad input, faults in the app
and in streams, timeouts, files that change while they are sent, many connections. Clients are
raw sockets judged by h11, httpx and curl."""

from __future__ import annotations

import asyncio
import email.utils
import hashlib
import logging
import os
import random
import shutil
import socket
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import h11
import httpx
import pytest
from _judges import parse_httptools
from _live import (
    LOOPS,
    MAX_CHUNKS,
    POSIX_ONLY,
    WAIT,
    Live,
    ResponseReader,
    connect,
    live_server,
    parse_closed,
    parse_responses,
    raise_open_files_limit,
    readable,
    recv_exactly,
    recv_until,
    recv_until_close,
    request,
    wait_until,
)
from _servers import curl

import respcore.demo
from respcore import (
    ClientDisconnect,
    FileResponse,
    HtmlResponse,
    JsonResponse,
    Response,
    ResponseTimeout,
    StreamingResponse,
    TextResponse,
)
from respcore.server import Request, Server

pytestmark = POSIX_ONLY

# What httpx raises for a response whose connection was aborted: cut short by a close, or reset.
BROKEN_OFF = (httpx.RemoteProtocolError, httpx.ReadError)

Handler = Callable[[Request, Response], Awaitable["Response | None"]]


class Routes:
    """An ``app(req, res)`` that dispatches on ``req.path`` to handlers a test registers."""

    def __init__(self) -> None:
        self.handlers: dict[str, Handler] = {}

    def route(self, path: str) -> Callable[[Handler], Handler]:
        def register(handler: Handler) -> Handler:
            self.handlers[path] = handler
            return handler

        return register

    async def __call__(self, req: Request, res: Response) -> Response | None:
        handler = self.handlers.get(req.path)
        if handler is None:
            res.status_code = 404
            res.text = f"no route for {req.path}\n"
            return None
        return await handler(req, res)


class Seen:
    """What a stream on the server did, for the test thread."""

    def __init__(self) -> None:
        self.started = threading.Event()
        self.done = threading.Event()
        self.thrown: list[BaseException] = []
        self.yields: list[float] = []
        self.finished_at = 0.0

    def finish(self) -> None:
        self.finished_at = time.monotonic()
        self.done.set()


@pytest.fixture(scope="module")
def routes() -> Routes:
    return Routes()


@pytest.fixture(scope="module", params=LOOPS)
def live(request: pytest.FixtureRequest, routes: Routes) -> Iterator[Live]:
    with live_server(routes, request.param) as server:
        yield server


@pytest.fixture(params=LOOPS)
def loop_name(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def client(live: Live) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=live.url, timeout=WAIT) as c:
        yield c


def open_reader(port: int, **options: Any) -> tuple[socket.socket, ResponseReader]:
    sock = connect(port, **options)
    return sock, ResponseReader(sock)


def error_records(caplog: pytest.LogCaptureFixture, text: str) -> list[logging.LogRecord]:
    return [
        r
        for r in caplog.records
        if r.name.startswith("respcore") and r.levelno >= logging.ERROR and text in r.getMessage()
    ]


# -- app styles and bodies -------------------------------------------------------------------


def test_mutable_res_style(routes: Routes, client: httpx.Client) -> None:
    @routes.route("/post")
    async def post(req: Request, res: Response) -> None:
        res.status_code = 201
        res.json = {"title": "My awesome post", "ünï": "cödé"}

    response = client.post("/post")
    assert response.status_code == 201
    assert response.headers["content-type"] == "application/json"
    assert response.content == '{"title":"My awesome post","ünï":"cödé"}'.encode()
    assert response.headers["content-length"] == str(len(response.content))
    assert "date" in response.headers
    assert "server" not in response.headers


def test_returned_response_style(routes: Routes, client: httpx.Client) -> None:
    @routes.route("/home")
    async def home(req: Request, res: Response) -> Response:
        return JsonResponse({"hello": "world"})

    @routes.route("/text")
    async def text(req: Request, res: Response) -> Response:
        res.text = "ignored: the returned response wins"
        return TextResponse("Hello, world!\n", headers={"X-Extra": "1"})

    @routes.route("/page")
    async def page(req: Request, res: Response) -> Response:
        return HtmlResponse("<h1>hi</h1>", status_code=202)

    home_response = client.get("/home")
    assert home_response.json() == {"hello": "world"}
    assert home_response.headers["content-type"] == "application/json"
    text_response = client.get("/text")
    assert text_response.text == "Hello, world!\n"
    assert text_response.headers["content-type"] == "text/plain; charset=utf-8"
    assert text_response.headers["x-extra"] == "1"
    page_response = client.get("/page")
    assert page_response.status_code == 202
    assert page_response.text == "<h1>hi</h1>"
    assert page_response.headers["content-type"] == "text/html; charset=utf-8"


def test_app_that_awaits_before_answering(routes: Routes, client: httpx.Client) -> None:
    @routes.route("/awaits")
    async def awaits(req: Request, res: Response) -> None:
        await asyncio.sleep(0.01)
        res.text = "after a wait"

    assert client.get("/awaits").text == "after a wait"


def test_demo_app_pages_and_404(loop_name: str) -> None:
    with (
        live_server(respcore.demo.app, loop_name) as live,
        httpx.Client(base_url=live.url, timeout=WAIT) as client,
    ):
        index = client.get("/")
        assert index.status_code == 200
        assert index.headers["content-type"] == "text/html; charset=utf-8"
        assert 'href="/json"' in index.text
        assert client.get("/json").json() == {"message": "Hello, world!", "path": "/json"}
        assert client.get("/text").text == "Hello, world!\n"
        missing = client.get("/no/such/page")
        assert missing.status_code == 404
        assert missing.text == "Not Found: /no/such/page\n"
        assert missing.headers["content-type"] == "text/plain; charset=utf-8"


# -- keep-alive, pipelining, HEAD, HTTP/1.0 ----------------------------------------------------


def _path_routes(routes: Routes) -> None:
    @routes.route("/where")
    async def where(req: Request, res: Response) -> None:
        res.text = f"{req.method} {req.path}?{req.query_string}"

    @routes.route("/where-later")
    async def where_later(req: Request, res: Response) -> None:
        await asyncio.sleep(0.05)  # answered in a task: later requests wait their turn
        res.text = f"later {req.query_string}"

    @routes.route("/where-stream")
    async def where_stream(req: Request, res: Response) -> Response:
        async def body() -> AsyncIterator[str]:
            for n in range(3):
                yield f"part {n} of {req.query_string};"
                await asyncio.sleep(0.01)

        return StreamingResponse(body, media_type="text/plain")

    @routes.route("/echo")
    async def echo(req: Request, res: Response) -> None:
        body = await req.body()
        res.content = body
        res.headers["X-Length"] = str(len(body))


def test_keep_alive_serves_several_requests_on_one_connection(routes: Routes, live: Live) -> None:
    _path_routes(routes)
    sock, reader = open_reader(live.port)
    with sock:
        for n in range(5):
            sock.sendall(request("GET", f"/where?n={n}"))
            message = reader.read()
            assert message.complete, message.error
            assert message.body == f"GET /where?n={n}".encode()
            assert message.header("connection") is None


def test_pipelined_requests_are_answered_in_order(routes: Routes, live: Live) -> None:
    _path_routes(routes)
    requests = [
        ("GET", request("GET", "/where-later?n=0")),
        ("GET", request("GET", "/where?n=1")),
        ("POST", request("POST", "/echo", body=b"body of request 2")),
        ("GET", request("GET", "/where-stream?n=3")),
        ("HEAD", request("HEAD", "/where?n=4")),
        ("GET", request("GET", "/where-later?n=5")),
        ("GET", request("GET", "/where?n=6", headers=[("Connection", "close")])),
    ]
    ignored = request("GET", "/where?n=7")  # after Connection: close: never answered
    sock = connect(live.port)
    with sock:
        sock.sendall(b"".join(data for _, data in requests) + ignored)  # one write
        received = recv_until_close(sock)
    assert received.data.count(b"HTTP/1.1 ") == len(requests)
    messages = parse_closed(received, [method for method, _ in requests])
    assert [m.complete for m in messages] == [True] * len(requests), messages[-1].error
    assert [m.body for m in messages] == [
        b"later n=0",
        b"GET /where?n=1",
        b"body of request 2",
        b"part 0 of n=3;part 1 of n=3;part 2 of n=3;",
        b"",
        b"later n=5",
        b"GET /where?n=6",
    ]
    assert messages[3].header("transfer-encoding") == "chunked"
    assert messages[4].header("content-length") == str(len(b"HEAD /where?n=4"))
    assert messages[-1].header("connection") == "close"


def test_many_pipelined_requests_behind_a_slow_one(routes: Routes, live: Live) -> None:
    # More than the server queues before it stops reading: it must read on, in order.
    _path_routes(routes)
    targets = [f"/where-later?n={n}" if n % 10 == 0 else f"/where?n={n}" for n in range(100)]
    sock, reader = open_reader(live.port)
    with sock:
        sock.sendall(b"".join(request("GET", target) for target in targets))
        bodies = [reader.read().body for _ in targets]
    assert bodies == [
        f"later n={n}".encode() if n % 10 == 0 else f"GET /where?n={n}".encode() for n in range(100)
    ]


def test_head_gets_the_get_head_without_a_body(routes: Routes, live: Live, tmp_path: Path) -> None:
    seen = Seen()
    path = tmp_path / "page.txt"
    path.write_bytes(b"file body\n" * 1000)

    @routes.route("/head-bytes")
    async def head_bytes(req: Request, res: Response) -> None:
        res.text = "hello, head"

    @routes.route("/head-file")
    async def head_file(req: Request, res: Response) -> None:
        res.file(path)

    @routes.route("/head-stream")
    async def head_stream(req: Request, res: Response) -> Response:
        async def body() -> AsyncIterator[bytes]:
            if req.method == "HEAD":
                seen.started.set()
            yield b"streamed"

        return StreamingResponse(body)

    sock, reader = open_reader(live.port)
    with sock:
        for target in ("/head-bytes", "/head-file", "/head-stream"):
            sock.sendall(request("HEAD", target) + request("GET", target))
            head = reader.read("HEAD")
            get = reader.read("GET")
            assert head.complete, head.error
            assert get.complete, get.error
            assert head.status == get.status == 200
            assert head.body == b""
            assert get.body != b""
            assert head.head_without_date() == get.head_without_date(), target
    assert not seen.started.is_set(), "HEAD iterated the stream"
    assert get.header("transfer-encoding") == "chunked"


def test_http10_without_keep_alive_is_closed(routes: Routes, live: Live) -> None:
    _path_routes(routes)
    sock, reader = open_reader(live.port)
    with sock:
        sock.sendall(request("GET", "/where?v=1.0", version="1.0"))
        message = reader.read()
        assert message.complete
        assert message.body == b"GET /where?v=1.0"
        assert message.header("connection") == "close"
        assert message.header("content-length") == str(len(message.body))
        reader.expect_close()


def test_http10_with_keep_alive_stays_open(routes: Routes, live: Live) -> None:
    _path_routes(routes)
    sock, reader = open_reader(live.port)
    keep = [("Connection", "keep-alive")]
    with sock:
        for n in range(3):
            sock.sendall(request("GET", f"/where?n={n}", version="1.0", headers=keep))
            message = reader.read()
            assert message.complete
            assert message.body == f"GET /where?n={n}".encode()
            assert message.header("connection") == "keep-alive"
        assert not readable(sock, 0.1), "the server closed a kept HTTP/1.0 connection"


def test_http10_stream_is_close_delimited(routes: Routes, live: Live) -> None:
    _path_routes(routes)
    sock = connect(live.port)
    with sock:
        sock.sendall(request("GET", "/where-stream?v=1.0", version="1.0", headers=[]))
        received = recv_until_close(sock)
    assert not received.reset
    (message,) = parse_closed(received, ["GET"])  # h11 sees the end at the close
    assert message.complete
    assert message.body == b"part 0 of v=1.0;part 1 of v=1.0;part 2 of v=1.0;"
    assert message.header("connection") == "close"
    assert message.header("transfer-encoding") is None
    assert message.header("content-length") is None
    # llhttp agrees up to the close (httptools has no way to be told of it).
    assert parse_httptools(received.data).body == message.body


# -- what the app reads from the request -------------------------------------------------------


def test_request_body_with_content_length(routes: Routes, client: httpx.Client) -> None:
    _path_routes(routes)
    body = random.Random(1).randbytes(300_000)
    response = client.post("/echo", content=body)
    assert response.status_code == 200
    assert response.headers["x-length"] == str(len(body))
    assert response.content == body


def test_request_body_chunked(routes: Routes, live: Live) -> None:
    _path_routes(routes)
    chunks = [b"first,", b"x" * 40_000, b",last"]
    framed = b"".join(b"%x\r\n%s\r\n" % (len(c), c) for c in chunks) + b"0\r\n\r\n"
    head = request("POST", "/echo", headers=[("Transfer-Encoding", "chunked")])
    sock, reader = open_reader(live.port)
    with sock:
        sock.sendall(head + framed + request("GET", "/where?after=chunked"))
        echoed = reader.read("POST")
        after = reader.read("GET")
    assert echoed.body == b"".join(chunks)
    assert echoed.header("x-length") == str(len(echoed.body))
    assert after.body == b"GET /where?after=chunked"


def test_request_path_query_and_headers(routes: Routes, live: Live) -> None:
    @routes.route("/café/a b")
    async def show(req: Request, res: Response) -> None:
        res.json = {
            "method": req.method,
            "path": req.path,
            "raw_path": req.raw_path.decode("latin-1"),
            "query": req.query_string,
            "things": req.headers.getall("x-thing"),
            "agent": req.headers["USER-AGENT"],
            "version": req.version,
        }

    with httpx.Client(timeout=WAIT) as client:
        response = client.get(
            live.url + "/caf%C3%A9/a%20b?x=1&y=%20z%2F",
            headers=[("X-Thing", "one"), ("X-Thing", "two"), ("User-Agent", "tests/1")],
        )
    assert response.json() == {
        "method": "GET",
        "path": "/café/a b",
        "raw_path": "/caf%C3%A9/a%20b",
        "query": "x=1&y=%20z%2F",
        "things": ["one", "two"],
        "agent": "tests/1",
        "version": "1.1",
    }


def test_absolute_form_request_target(routes: Routes, live: Live) -> None:
    _path_routes(routes)
    sock, reader = open_reader(live.port)
    with sock:
        sock.sendall(request("GET", "http://127.0.0.1/where?abs=1"))
        assert reader.read().body == b"GET /where?abs=1"


def test_expect_100_continue_with_curl(routes: Routes, live: Live, tmp_path: Path) -> None:
    _path_routes(routes)
    body = os.urandom(4096)
    upload = tmp_path / "upload.bin"
    upload.write_bytes(body)
    done = curl("--verbose", "--expect100-timeout", "30", "-H", "Expect: 100-continue",
                "--data-binary", f"@{upload}", live.url + "/echo")  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert b"< HTTP/1.1 100 Continue" in done.stderr
    assert done.stdout == body


def test_expect_100_continue_over_a_raw_socket(routes: Routes, live: Live) -> None:
    _path_routes(routes)
    body = b"y" * 2048
    head = request("POST", "/echo", headers=[("Expect", "100-continue")], body=body)[: -len(body)]
    sock, reader = open_reader(live.port)
    with sock:
        sock.sendall(head)
        interim = b"HTTP/1.1 100 Continue\r\n\r\n"
        assert recv_exactly(sock, len(interim)) == interim  # before any of the body was sent
        sock.sendall(body)
        message = reader.read("POST")
    assert message.status == 200
    assert message.body == body


def test_expect_100_continue_behind_a_response_in_progress(routes: Routes, live: Live) -> None:
    # The 100 cannot cut into the response in progress: it follows it.
    _path_routes(routes)
    body = b"e" * 2048
    head = request("POST", "/echo", headers=[("Expect", "100-continue")], body=body)[: -len(body)]
    sock, reader = open_reader(live.port)
    with sock:
        sock.sendall(request("GET", "/where-later?first") + head)
        interim = b"HTTP/1.1 100 Continue\r\n\r\n"
        so_far = recv_until(sock, interim, timeout=2.0)
        assert so_far.endswith(interim)  # nothing after it: the body has not been sent
        sock.sendall(body)
        reader.feed(so_far)
        first = reader.read()
        echoed = reader.read("POST")
    assert first.body == b"later first"
    assert echoed.informational == [100]
    assert echoed.body == body


def test_expect_100_continue_with_a_body_over_the_limit_gets_413_at_once(loop_name: str) -> None:
    routes = Routes()
    _path_routes(routes)
    with live_server(routes, loop_name, max_body_size=1024) as live:
        sock = connect(live.port)
        with sock:
            sock.sendall(
                b"POST /echo HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
                b"Content-Length: 1000000\r\n\r\n"
            )
            first = recv_until(sock, b"\r\n\r\n", timeout=3.0)
        assert first.startswith(b"HTTP/1.1 413 ")


# -- bad input ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "garbage",
    [
        b"NOT A REQUEST\r\n\r\n",
        b"\x00\x01\x02\x03\r\n\r\n",
        b"GET / HTTP/9.9x\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"0\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
        b"GET / HTTP/1.1\r\nHost: x\r\nBad Name: v\r\n\r\n",
    ],
    ids=["words", "binary", "version", "length-and-chunked", "two-lengths", "space-in-name"],
)
def test_garbage_request_line_gets_400_and_close(live: Live, garbage: bytes) -> None:
    sock, reader = open_reader(live.port)
    with sock:
        sock.sendall(garbage)
        message = reader.read()
        assert message.status == 400
        assert message.complete
        assert message.header("connection") == "close"
        reader.expect_close()


def test_bad_request_after_good_ones_is_answered_in_order(routes: Routes, live: Live) -> None:
    _path_routes(routes)
    sock, reader = open_reader(live.port)
    with sock:
        sock.sendall(
            request("GET", "/where-later?n=0") + request("GET", "/where?n=1") + b"BAD\x00\r\n\r\n"
        )
        assert reader.read().body == b"later n=0"
        assert reader.read().body == b"GET /where?n=1"
        refused = reader.read()
        assert refused.status == 400
        reader.expect_close()


def _big_head(size: int) -> bytes:
    return b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * size + b"\r\n\r\n"


def test_oversized_head_sent_at_once_gets_431(live: Live) -> None:
    sock = connect(live.port)
    with sock:
        sock.sendall(_big_head(100 * 1024))
        received = recv_until_close(sock)
    (message,) = parse_closed(received, ["GET"])
    assert message.status == 431
    assert message.complete
    assert message.header("connection") == "close"


def test_oversized_head_trickled_gets_431(live: Live) -> None:
    sock = connect(live.port)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    with sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: ")
        for _ in range(100):  # 100 KiB in 1 KiB pieces, a header line that never ends
            if readable(sock):
                break
            try:
                sock.sendall(b"a" * 1024)
            except (BrokenPipeError, ConnectionResetError):
                break
            time.sleep(0.001)
        received = recv_until_close(sock)
    (message,) = parse_closed(received, ["GET"])
    assert message.status == 431
    assert message.header("connection") == "close"


def test_many_small_headers_over_the_limit_get_431(loop_name: str) -> None:
    fields = [(f"X-Field-{n}", "v" * 50) for n in range(100)]  # ~6.5 KB in small lines
    with live_server(Routes(), loop_name, max_head_size=4096) as live:
        sock = connect(live.port)
        with sock:
            sock.sendall(request("GET", "/", headers=fields))
            received = recv_until_close(sock)
        (message,) = parse_closed(received, ["GET"])
        assert message.status == 431
        # Under the limit the same server answers.
        sock, reader = open_reader(live.port)
        with sock:
            sock.sendall(request("GET", "/", headers=fields[:10]))
            assert reader.read().status == 404


def test_body_over_max_body_size_gets_413(loop_name: str) -> None:
    routes = Routes()
    _path_routes(routes)
    with live_server(routes, loop_name, max_body_size=1024) as live:
        sock, reader = open_reader(live.port)
        with sock:
            sock.sendall(request("POST", "/echo", body=b"z" * 1024))
            assert reader.read("POST").body == b"z" * 1024  # at the limit: served

        sock = connect(live.port)
        with sock:
            sock.sendall(request("POST", "/echo", body=b"z" * 4096))
            received = recv_until_close(sock)
        (message,) = parse_closed(received, ["POST"])
        assert message.status == 413
        assert message.header("connection") == "close"

        chunked = b"".join(b"400\r\n" + b"c" * 1024 + b"\r\n" for _ in range(4)) + b"0\r\n\r\n"
        sock = connect(live.port)
        with sock:
            head = request("POST", "/echo", headers=[("Transfer-Encoding", "chunked")])
            sock.sendall(head + chunked)
            received = recv_until_close(sock)
        (message,) = parse_closed(received, ["POST"])
        assert message.status == 413


_UPGRADE = [
    ("Connection", "Upgrade, HTTP2-Settings"),
    ("Upgrade", "h2c"),
    ("HTTP2-Settings", "AAMAAABkAARAAAAAAAIAAAAA"),
]


def _upgrade_request_answers(port: int, target: str) -> bytes:
    # What `curl --http2 http://…` sends. No protocol switch: one HTTP/1.1 answer, then close.
    sock = connect(port)
    with sock:
        sock.sendall(request("GET", target, headers=_UPGRADE))
        return recv_until_close(sock).data


@pytest.mark.parametrize(
    ("target", "body"),
    [
        ("/where?sync", b"GET /where?sync"),
        ("/where-later?async", b"later async"),
    ],
    ids=["answered-at-once", "answered-in-a-task"],
)
def test_upgrade_request_is_answered_once_then_closed(
    routes: Routes, live: Live, target: str, body: bytes
) -> None:
    _path_routes(routes)
    received = _upgrade_request_answers(live.port, target)
    assert received.count(b"HTTP/1.1 ") == 1, received
    (message,) = parse_responses(received, ["GET"])
    assert message.body == body
    assert message.header("connection") == "close"


def test_upgrade_header_not_named_in_connection_is_ignored(routes: Routes, live: Live) -> None:
    # RFC 9110 §7.8: Upgrade counts only when Connection lists it; else it is any header, and
    # the connection stays open for the next request.
    _path_routes(routes)
    sock, reader = open_reader(live.port)
    with sock:
        sock.sendall(request("GET", "/where?first", headers=[("Upgrade", "h2c")]))
        first = reader.read()
        sock.sendall(request("GET", "/where?second"))
        second = reader.read()
    assert first.header("connection") is None
    assert (first.body, second.body) == (b"GET /where?first", b"GET /where?second")


# -- faults in the app and in streams ----------------------------------------------------------


def test_app_raising_before_the_head_gets_500(
    routes: Routes, live: Live, caplog: pytest.LogCaptureFixture
) -> None:
    _path_routes(routes)

    @routes.route("/raise-now")
    async def raise_now(req: Request, res: Response) -> None:
        raise RuntimeError("raised at once")

    @routes.route("/raise-later")
    async def raise_later(req: Request, res: Response) -> None:
        await asyncio.sleep(0.01)
        raise RuntimeError("raised after a wait")

    @routes.route("/returns-junk")
    async def returns_junk(req: Request, res: Response) -> Any:
        return {"not": "a response"}

    sock, reader = open_reader(live.port)
    with sock:
        for target in ("/raise-now", "/raise-later", "/returns-junk"):
            sock.sendall(request("GET", target))
            message = reader.read()
            assert message.status == 500, target
            assert message.complete
            assert message.body == b"Internal Server Error\n"
        # The connection still serves.
        sock.sendall(request("GET", "/where?after=500"))
        assert reader.read().body == b"GET /where?after=500"
    assert wait_until(lambda: error_records(caplog, "/raise-now"))
    assert wait_until(lambda: error_records(caplog, "/raise-later"))
    assert wait_until(lambda: error_records(caplog, "/returns-junk"))
    (record,) = error_records(caplog, "/raise-now")
    assert record.exc_info is not None
    assert str(record.exc_info[1]) == "raised at once"


def test_stream_raising_before_its_first_chunk_gets_500(
    routes: Routes, live: Live, caplog: pytest.LogCaptureFixture
) -> None:
    @routes.route("/raise-first")
    async def raise_first(req: Request, res: Response) -> Response:
        async def body() -> AsyncIterator[bytes]:
            raise ValueError("no first chunk")
            yield b"never"

        return StreamingResponse(body)

    sock, reader = open_reader(live.port)
    with sock:
        sock.sendall(request("GET", "/raise-first"))
        message = reader.read()
    assert message.status == 500
    assert message.complete
    assert wait_until(lambda: error_records(caplog, "/raise-first"))


def test_stream_raising_after_its_first_chunk_aborts(
    routes: Routes, live: Live, caplog: pytest.LogCaptureFixture
) -> None:
    seen = Seen()

    @routes.route("/raise-later-stream")
    async def raise_later_stream(req: Request, res: Response) -> Response:
        async def body() -> AsyncIterator[bytes]:
            try:
                yield b"first chunk"
                await asyncio.sleep(0.01)
                raise ValueError("broke after the head")
            finally:
                seen.finish()

        return StreamingResponse(body)

    with httpx.Client(timeout=WAIT) as client, pytest.raises(BROKEN_OFF):
        client.get(live.url + "/raise-later-stream")

    sock, reader = open_reader(live.port)
    with sock:
        sock.sendall(request("GET", "/raise-later-stream"))
        message = reader.read()
    assert message.status == 200
    assert not message.complete
    assert message.body == b"first chunk"
    assert seen.done.wait(WAIT)
    assert wait_until(lambda: error_records(caplog, "/raise-later-stream"))
    record = error_records(caplog, "/raise-later-stream")[0]
    assert record.exc_info is not None
    assert str(record.exc_info[1]) == "broke after the head"


def test_close_delimited_stream_raising_is_not_seen_as_complete(routes: Routes, live: Live) -> None:
    # A body delimited by the close: only a reset tells the client that it broke off.
    @routes.route("/raise-close-delimited")
    async def raise_close_delimited(req: Request, res: Response) -> None:
        @res.stream
        async def body() -> AsyncIterator[bytes]:
            yield b"first chunk"
            await asyncio.sleep(0.01)
            raise ValueError("broke after the head")

    sock = connect(live.port)
    with sock:
        sock.sendall(request("GET", "/raise-close-delimited"))
        received = recv_until_close(sock)
    assert received.data.endswith(b"first chunk")
    assert received.reset, "the aborted body ended with a clean close"


def _endless(seen: Seen, chunk: bytes, pause: float = 0.0) -> Callable[[], AsyncIterator[bytes]]:
    async def body() -> AsyncIterator[bytes]:
        seen.started.set()
        try:
            for _ in range(MAX_CHUNKS):
                seen.yields.append(time.monotonic())
                yield chunk
                if pause:
                    await asyncio.sleep(pause)
        except BaseException as exc:
            seen.thrown.append(exc)
            raise
        finally:
            seen.finish()

    return body


def test_client_disconnect_mid_stream_runs_the_generators_finally(
    routes: Routes, live: Live
) -> None:
    seen = Seen()

    @routes.route("/disconnect")
    async def disconnect(req: Request, res: Response) -> Response:
        return StreamingResponse(_endless(seen, b"x" * 1024, pause=0.001))

    sock = connect(live.port)
    with sock:
        sock.sendall(request("GET", "/disconnect"))
        assert recv_until(sock, b"\r\n\r\n").startswith(b"HTTP/1.1 200 OK\r\n")
    assert seen.done.wait(WAIT)
    assert not any(isinstance(exc, ClientDisconnect) for exc in seen.thrown)


def test_raise_on_disconnect_throws_client_disconnect(routes: Routes, live: Live) -> None:
    seen = Seen()

    @routes.route("/raise-on-disconnect")
    async def raise_on_disconnect(req: Request, res: Response) -> None:
        res.stream(raise_on_disconnect=True)(_endless(seen, b"x" * 1024, pause=0.001))
        res.chunked = True

    sock = connect(live.port)
    with sock:
        sock.sendall(request("GET", "/raise-on-disconnect"))
        assert recv_until(sock, b"\r\n\r\n").startswith(b"HTTP/1.1 200 OK\r\n")
    assert seen.done.wait(WAIT)
    assert [type(exc) for exc in seen.thrown] == [ClientDisconnect]


def test_chunk_timeout_closes_a_connection_that_does_not_read(routes: Routes, live: Live) -> None:
    chunk_timeout = 1.0
    chunk = b"s" * 65536
    seen = Seen()

    @routes.route("/stalled")
    async def stalled(req: Request, res: Response) -> Response:
        return StreamingResponse(
            _endless(seen, chunk),
            chunk_timeout=chunk_timeout,
            complete_timeout=None,
            raise_on_disconnect=True,
        )

    def write_buffers() -> list[tuple[int, int]]:
        return [
            (c.transport.get_write_buffer_size(), c.transport.get_write_buffer_limits()[1])
            for c in live.server.connections
            if not c.transport.is_closing()
        ]

    sock = connect(live.port, rcvbuf=4096)
    with sock:
        sock.sendall(request("GET", "/stalled"))  # and never read while it streams
        largest = 0
        high = 0
        while not seen.done.wait(0.05):
            for size, limit in live.thread.call(write_buffers):
                largest = max(largest, size)
                high = max(high, limit)
        received = recv_until_close(sock)
    stalled_for = seen.finished_at - seen.yields[-1]
    assert chunk_timeout - 0.2 <= stalled_for <= chunk_timeout + 1.0
    # The writer waits while the transport is paused: at most one chunk past the high-water
    # mark is ever buffered in the server, however long the stream.
    assert high > 0
    assert largest <= high + len(chunk) + 1024, (largest, high)
    assert len(seen.yields) < 500, "the stream was not held back"
    assert [type(exc) for exc in seen.thrown] == [ResponseTimeout]
    assert "chunk_timeout" in str(seen.thrown[0])
    (message,) = parse_closed(received, ["GET"])
    assert message.status == 200
    assert not message.complete


def test_complete_timeout_closes_an_endless_slow_stream(routes: Routes, live: Live) -> None:
    seen = Seen()

    @routes.route("/slow-endless")
    async def slow_endless(req: Request, res: Response) -> Response:
        return StreamingResponse(
            _endless(seen, b"tick\n", pause=0.05), chunk_timeout=None, complete_timeout=1
        )

    def fetch() -> None:
        with (
            httpx.Client(timeout=WAIT) as client,
            client.stream("GET", live.url + "/slow-endless") as response,
        ):
            assert response.status_code == 200
            for _ in response.iter_raw():
                pass

    started = time.monotonic()
    with pytest.raises(BROKEN_OFF):
        fetch()
    elapsed = time.monotonic() - started
    assert 0.9 <= elapsed <= 2.5
    assert seen.done.wait(WAIT)
    assert len(seen.yields) > 3


# -- keep-alive timeout ------------------------------------------------------------------------


def test_idle_keep_alive_connection_is_closed(loop_name: str) -> None:
    routes = Routes()
    _path_routes(routes)
    with live_server(routes, loop_name, keep_alive_timeout=0.5) as live:
        sock, reader = open_reader(live.port)
        with sock:
            sock.sendall(request("GET", "/where?idle"))
            assert reader.read().complete
            waited = reader.expect_close(timeout=2.0)
        assert waited >= 0.3


def test_unfinished_head_is_closed_by_the_keep_alive_timeout(loop_name: str) -> None:
    with live_server(Routes(), loop_name, keep_alive_timeout=0.5) as live:
        sock = connect(live.port)
        with sock:
            sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")  # and nothing more
            closed = recv_until_close(sock, timeout=2.0)
        assert closed.data == b""


def _trickle_until_closed(sock: socket.socket, limit: int = 200) -> int:
    """Send one header byte every 50 ms until the server closes the connection; how many
    were sent (at most ``limit``, 10 s, when it never closes)."""
    sock.settimeout(0.05)
    for sent in range(limit):
        try:
            sock.sendall(b"a")
            if sock.recv(1024) == b"":
                return sent
        except TimeoutError:
            continue
        except OSError:  # reset or broken pipe: closed
            return sent
    return limit


def test_head_trickled_slower_than_the_head_timeout_is_closed(loop_name: str) -> None:
    # Every byte arrives well within the keep-alive timeout; the head as a whole does not
    # arrive within the head timeout.
    with live_server(Routes(), loop_name, keep_alive_timeout=5, head_timeout=0.5) as live:
        sock = connect(live.port)
        with sock:
            sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: ")
            assert _trickle_until_closed(sock) < 200
        assert wait_until(lambda: live.connection_count() == 0)


def test_head_timeout_spares_heads_that_complete_and_idle_connections(loop_name: str) -> None:
    routes = Routes()
    _path_routes(routes)
    with live_server(routes, loop_name, keep_alive_timeout=5, head_timeout=0.3) as live:
        sock, reader = open_reader(live.port)
        with sock:
            for n in range(3):
                sock.sendall(request("GET", f"/where?{n}"))
                assert reader.read().complete
                # Idle past the head timeout between requests: no head is being read.
                time.sleep(0.4)
            sock.sendall(request("GET", "/where?last"))
            assert reader.read().complete


@pytest.mark.parametrize("value", [0, -1, float("nan"), float("inf"), True, "3"])
def test_head_timeout_must_be_positive_seconds(value: object) -> None:
    async def app(req: Request, res: Response) -> None:
        pass

    with pytest.raises(ValueError, match=r"head_timeout must be seconds > 0, got "):
        Server(app, head_timeout=value)  # type: ignore[arg-type]


def test_keep_alive_timeout_spares_a_response_in_progress(loop_name: str) -> None:
    routes = Routes()

    @routes.route("/long")
    async def long(req: Request, res: Response) -> Response:
        async def body() -> AsyncIterator[bytes]:
            for n in range(5):
                yield b"%d;" % n
                await asyncio.sleep(0.2)  # 1 s in all, twice the keep-alive timeout

        return StreamingResponse(body)

    with live_server(routes, loop_name, keep_alive_timeout=0.5) as live:
        sock, reader = open_reader(live.port)
        with sock:
            sock.sendall(request("GET", "/long"))
            message = reader.read()
        assert message.complete, message.error
        assert message.body == b"0;1;2;3;4;"


# -- files -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def big_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("big") / "big.bin"
    path.write_bytes(random.Random(32).randbytes(32 * 1024 * 1024))
    return path


def _file_routes(routes: Routes, path: Path) -> None:
    @routes.route("/res-file")
    async def res_file(req: Request, res: Response) -> None:
        res.file(path)

    @routes.route("/file-response")
    async def file_response(req: Request, res: Response) -> Response:
        return FileResponse(path, attach=False, chunk_size=10_000)


@pytest.mark.parametrize("zero_copy", [True, False], ids=["zero-copy", "reads"])
def test_file_bodies_arrive_byte_exact(loop_name: str, zero_copy: bool, tmp_path: Path) -> None:
    path = tmp_path / "data.csv"
    path.write_bytes(random.Random(7).randbytes(3 * 1024 * 1024 + 17))
    content = path.read_bytes()
    mtime = int(path.stat().st_mtime)
    routes = Routes()
    _file_routes(routes, path)
    with live_server(routes, loop_name, zero_copy=zero_copy) as live:
        sock, reader = open_reader(live.port)
        with sock:
            sock.sendall(request("GET", "/res-file") + request("GET", "/file-response"))
            attached = reader.read()
            inline = reader.read()
            sock.sendall(request("HEAD", "/res-file"))
            head = reader.read("HEAD")
        for message in (attached, inline):
            assert message.complete, message.error
            assert message.body == content
            assert message.header("content-length") == str(len(content))
            assert message.header("content-type") == "text/csv"
            etag = message.header("etag")
            assert etag is not None
            assert etag.startswith('"')
            assert etag.endswith('"')
            modified = message.header("last-modified")
            assert modified is not None
            assert email.utils.parsedate_to_datetime(modified).timestamp() == mtime
        assert attached.header("content-disposition") == 'attachment; filename="data.csv"'
        assert inline.header("content-disposition") is None
        assert head.body == b""
        assert head.head_without_date() == attached.head_without_date()

        done = curl(live.url + "/res-file")
        assert done.returncode == 0, done.stderr
        assert done.stdout == content


@pytest.mark.parametrize("zero_copy", [True, False], ids=["zero-copy", "reads"])
def test_file_answers_range_and_conditional_requests(
    loop_name: str, zero_copy: bool, tmp_path: Path
) -> None:
    path = tmp_path / "ranged.bin"
    content = random.Random(3).randbytes(10_000)
    path.write_bytes(content)
    routes = Routes()
    _file_routes(routes, path)
    with live_server(routes, loop_name, zero_copy=zero_copy) as live:
        sock, reader = open_reader(live.port)
        with sock:

            def get(method: str = "GET", **fields: str) -> Any:
                headers = [(name.replace("_", "-"), value) for name, value in fields.items()]
                sock.sendall(request(method, "/file-response", headers=headers))
                return reader.read(method)

            whole = get()
            one = get(Range="bytes=10-19")
            suffix = get(Range="bytes=-5")
            several = get(Range="bytes=0-1,5000-5001")
            unsatisfiable = get(Range="bytes=20000-")
            head = get("HEAD", Range="bytes=10-19")
            etag = whole.header("etag")
            assert etag is not None
            not_modified = get(If_None_Match=etag)
            after = get()
    assert whole.header("accept-ranges") == "bytes"
    assert whole.body == content
    assert (one.status, one.body) == (206, content[10:20])
    assert one.header("content-range") == "bytes 10-19/10000"
    assert one.header("content-length") == "10"
    assert (suffix.status, suffix.body) == (206, content[-5:])
    assert several.status == 206
    assert (several.header("content-type") or "").startswith("multipart/byteranges; boundary=")
    assert several.header("content-length") == str(len(several.body))
    assert content[0:2] in several.body
    assert content[5000:5002] in several.body
    assert b"Content-Range: bytes 5000-5001/10000" in several.body
    assert unsatisfiable.status == 416
    assert unsatisfiable.header("content-range") == "bytes */10000"
    assert head.status == 200
    assert head.body == b""
    assert head.header("content-length") == "10000"
    assert not_modified.status == 304
    assert not_modified.body == b""
    assert not_modified.header("etag") == etag
    assert after.body == content  # the connection carried all of them


@pytest.mark.parametrize("zero_copy", [True, False], ids=["zero-copy", "reads"])
def test_file_chunk_timeout_closes_a_connection_that_does_not_read(
    loop_name: str, zero_copy: bool, big_file: Path
) -> None:
    chunk_timeout = 1.0
    routes = Routes()

    @routes.route("/stalled-file")
    async def stalled_file(req: Request, res: Response) -> Response:
        return FileResponse(big_file, chunk_timeout=chunk_timeout)

    with live_server(routes, loop_name, zero_copy=zero_copy) as live:
        sock = connect(live.port, rcvbuf=4096)
        with sock:
            started = time.monotonic()
            sock.sendall(request("GET", "/stalled-file"))  # and never read while it is sent
            assert wait_until(lambda: live.connection_count() == 1, WAIT)
            assert wait_until(lambda: live.connection_count() == 0, chunk_timeout + WAIT)
            elapsed = time.monotonic() - started
            received = recv_until_close(sock)  # the socket itself was closed too
    # Kernel buffers fill within milliseconds; then the writer waits chunk_timeout.
    assert chunk_timeout - 0.2 <= elapsed <= chunk_timeout + 1.5
    (message,) = parse_closed(received, ["GET"])
    assert message.header("content-length") == str(big_file.stat().st_size)
    assert not message.complete
    assert 0 < len(message.body) < big_file.stat().st_size


def _start_file_download(port: int, target: str) -> tuple[socket.socket, bytes]:
    """Ask for ``target`` on a connection with a small window; read the head and a little of
    the body, so the server is mid-send and held back by the client."""
    sock = connect(port, rcvbuf=64 * 1024)
    sock.sendall(request("GET", target))
    start = recv_until(sock, b"\r\n\r\n")
    start += recv_exactly(sock, 256 * 1024)
    return sock, start


@pytest.mark.parametrize("zero_copy", [True, False], ids=["zero-copy", "reads"])
def test_file_deleted_while_sent_arrives_whole(
    loop_name: str, zero_copy: bool, big_file: Path, tmp_path: Path
) -> None:
    path = tmp_path / "deleted.bin"
    shutil.copyfile(big_file, path)
    routes = Routes()
    _file_routes(routes, path)
    with live_server(routes, loop_name, zero_copy=zero_copy) as live:
        sock, start = _start_file_download(live.port, "/res-file")
        with sock:
            path.unlink()  # the server's open file is still read to its end
            reader = ResponseReader(sock)
            reader.feed(start)
            message = reader.read()
    assert message.complete, message.error
    assert message.header("content-length") == str(big_file.stat().st_size)
    assert hashlib.sha256(message.body).digest() == hashlib.sha256(big_file.read_bytes()).digest()


@pytest.mark.parametrize("zero_copy", [True, False], ids=["zero-copy", "reads"])
def test_file_truncated_while_sent_aborts(
    loop_name: str,
    zero_copy: bool,
    big_file: Path,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    path = tmp_path / "shrinking.bin"
    shutil.copyfile(big_file, path)
    original = big_file.read_bytes()
    routes = Routes()
    _file_routes(routes, path)
    with live_server(routes, loop_name, zero_copy=zero_copy) as live:
        sock, start = _start_file_download(live.port, "/res-file")
        with sock:
            os.truncate(path, 16 * 1024 * 1024)
            received = recv_until_close(sock)
        assert wait_until(lambda: error_records(caplog, "/res-file"))
    (message,) = parse_responses(start + received.data, ["GET"])
    assert message.status == 200
    assert message.header("content-length") == str(len(original))
    assert not message.complete
    assert len(message.body) < len(original)
    assert message.body == original[: len(message.body)]
    record = error_records(caplog, "/res-file")[0]
    assert record.exc_info is not None
    assert "shrank" in str(record.exc_info[1])


# -- shutdown ----------------------------------------------------------------------------------


@pytest.mark.parametrize("zero_copy", [True, False], ids=["zero-copy", "reads"])
def test_shutdown_closes_a_stalled_file_download(
    loop_name: str, zero_copy: bool, big_file: Path
) -> None:
    routes = Routes()
    _file_routes(routes, big_file)
    with live_server(routes, loop_name, zero_copy=zero_copy) as live:
        sock = connect(live.port, rcvbuf=4096)
        with sock:
            sock.sendall(request("GET", "/res-file"))  # no timeouts, and never read
            recv_until(sock, b"\r\n\r\n")
            live.thread.run(live.server.shutdown(grace=0.2))
            assert live.connection_count() == 0
            received = recv_until_close(sock)  # the socket is closed, not only the transport
        assert 0 < len(received.data) < big_file.stat().st_size


def test_shutdown_resets_close_delimited_streams_in_flight(loop_name: str) -> None:
    # Past the grace period the streams are cut; only a reset tells a client so.
    seen = [Seen() for _ in range(8)]
    routes = Routes()

    @routes.route("/endless-close-delimited")
    async def endless(req: Request, res: Response) -> None:
        res.stream(_endless(seen[int(req.query_string)], b"tick\n", pause=0.02))

    with live_server(routes, loop_name) as live:
        socks = [connect(live.port) for _ in seen]
        try:
            for n, sock in enumerate(socks):
                sock.sendall(request("GET", f"/endless-close-delimited?{n}"))
                recv_until(sock, b"tick\n")
            live.thread.run(live.server.shutdown(grace=0.2))
            closes = [recv_until_close(sock) for sock in socks]
        finally:
            for sock in socks:
                sock.close()
        assert all(one.done.wait(WAIT) for one in seen)
    assert [closed.reset for closed in closes] == [True] * len(seen)


# -- many connections --------------------------------------------------------------------------


async def _h11_request(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, target: str
) -> tuple[int, bytes]:
    conn = h11.Connection(our_role=h11.CLIENT)
    writer.write(conn.send(h11.Request(method="GET", target=target, headers=[("Host", "x")])))
    conn.send(h11.EndOfMessage())
    status = 0
    body = b""
    while True:
        event = conn.next_event()
        if event is h11.NEED_DATA:
            conn.receive_data(await reader.read(65536))
        elif isinstance(event, h11.Response):
            status = event.status_code
        elif isinstance(event, h11.Data):
            body += event.data
        elif isinstance(event, h11.EndOfMessage):
            return status, body
        else:
            raise AssertionError(f"unexpected {event!r}")


def test_a_thousand_keep_alive_connections(loop_name: str) -> None:
    count = 1000
    raise_open_files_limit(2 * count + 256)
    routes = Routes()
    _path_routes(routes)

    async def clients(port: int) -> tuple[list[tuple[int, bytes]], list[tuple[int, bytes]]]:
        connections = await asyncio.gather(
            *(asyncio.open_connection("127.0.0.1", port) for _ in range(count))
        )
        try:
            first = await asyncio.gather(
                *(_h11_request(r, w, f"/where?first={n}") for n, (r, w) in enumerate(connections))
            )
            kept = live.connection_count()
            assert kept == count, f"{kept} of {count} connections kept"
            second = await asyncio.gather(
                *(_h11_request(r, w, f"/where?second={n}") for n, (r, w) in enumerate(connections))
            )
        finally:
            for _, writer in connections:
                writer.close()
        return first, second

    with live_server(routes, loop_name) as live:
        first, second = asyncio.run(asyncio.wait_for(clients(live.port), 30))
    assert first == [(200, f"GET /where?first={n}".encode()) for n in range(count)]
    assert second == [(200, f"GET /where?second={n}".encode()) for n in range(count)]
