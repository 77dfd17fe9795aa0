"""Responses as ASGI applications, under a real uvicorn (uvloop, httptools), fetched with
httpx and curl."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from _servers import Routes, Scope, curl, serve

from respcore import (
    ClientDisconnect,
    FileResponse,
    JsonResponse,
    Response,
    ResponseTimeout,
    StreamingResponse,
    TextResponse,
)

WAIT = 10.0  # upper bound on waiting for an event the server sets; never reached when passing
MAX_CHUNKS = 10_000  # bound on every endless-looking stream below


@pytest.fixture(scope="module")
def routes() -> Routes:
    return Routes()


@pytest.fixture(scope="module")
def base_url(routes: Routes) -> Iterator[str]:
    with serve(routes) as url:
        yield url


@pytest.fixture
def client(base_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=base_url, timeout=WAIT) as c:
        yield c


def _host_port(base_url: str) -> tuple[str, int]:
    host, port = base_url.removeprefix("http://").split(":")
    return host, int(port)


class Recorder:
    """What a route saw, for the test thread: an event and the exception the response raised."""

    def __init__(self) -> None:
        self.done = threading.Event()
        self.started = threading.Event()
        self.error: BaseException | None = None
        self.seen: list[Any] = []

    def app(self, response: Response) -> Any:
        async def run(scope: Scope, receive: Any, send: Any) -> None:
            try:
                await response(scope, receive, send)
            except BaseException as exc:
                self.error = exc
                raise

        return run


# -- bytes bodies --------------------------------------------------------------------------


def test_json_response_over_uvicorn(routes: Routes, client: httpx.Client) -> None:
    routes.add("/json", lambda scope: JsonResponse({"message": "Hello, world!"}))
    response = client.get("/json")
    assert response.status_code == 200
    assert response.content == b'{"message":"Hello, world!"}'
    assert response.headers["content-type"] == "application/json"
    assert response.headers["content-length"] == "27"


def test_asgi_path_adds_no_date_of_its_own(routes: Routes, client: httpx.Client) -> None:
    routes.add("/one-date", lambda scope: TextResponse("x"))
    assert len(client.get("/one-date").headers.get_list("date")) == 1  # uvicorn's


def test_mutable_res_style_over_uvicorn(routes: Routes, client: httpx.Client) -> None:
    def handler(scope: Scope) -> Response:
        res = Response()
        res.status_code = 201
        res.json = {"title": "My awesome post"}
        return res

    routes.add("/post", handler)
    response = client.get("/post")
    assert response.status_code == 201
    assert response.json() == {"title": "My awesome post"}


def test_head_method_sends_no_body_over_uvicorn(routes: Routes, client: httpx.Client) -> None:
    routes.add("/head", lambda scope: TextResponse("hello"))
    response = client.head("/head")
    assert response.content == b""
    assert response.headers["content-length"] == "5"


def test_204_over_uvicorn_has_no_body(routes: Routes, client: httpx.Client) -> None:
    routes.add("/204", lambda scope: Response(status_code=204))
    response = client.get("/204")
    assert response.status_code == 204
    assert "content-length" not in response.headers


def test_asgi_header_names_are_lowercase() -> None:
    messages: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        messages.append(message)

    scope = {"type": "http", "method": "GET", "http_version": "1.1", "headers": []}
    response = TextResponse("x", headers={"X-Custom-Name": "1"})
    asyncio.run(response(scope, receive, send))
    names = [name for name, _ in messages[0]["headers"]]
    assert names == [b"x-custom-name", b"content-type", b"content-length"]
    assert messages[1] == {"type": "http.response.body", "body": b"x"}


def test_asgi_sends_the_same_response_twice(routes: Routes, client: httpx.Client) -> None:
    shared = JsonResponse({"a": 1})
    routes.add("/twice", lambda scope: shared)
    assert client.get("/twice").content == client.get("/twice").content == b'{"a":1}'


# -- streams ---------------------------------------------------------------------------------


def test_streaming_response_is_chunked_over_uvicorn(routes: Routes, client: httpx.Client) -> None:
    async def body() -> AsyncIterator[str | bytes]:
        for i in range(3):
            yield f"part {i};"
        yield b"end"

    routes.add("/stream", lambda scope: StreamingResponse(body, media_type="text/plain"))
    response = client.get("/stream")
    assert response.headers["transfer-encoding"] == "chunked"
    assert response.content == b"part 0;part 1;part 2;end"


def test_streaming_response_from_a_list_over_curl(routes: Routes, base_url: str) -> None:
    routes.add("/list", lambda scope: StreamingResponse([b"a", "b", b"c"]))
    done = curl(base_url + "/list")
    assert done.returncode == 0, done.stderr
    assert done.stdout == b"abc"


def test_res_stream_is_close_delimited_over_curl(routes: Routes, base_url: str) -> None:
    def handler(scope: Scope) -> Response:
        res = Response()

        @res.stream
        async def body() -> AsyncIterator[bytes]:
            yield b"one "
            yield b"two"

        return res

    routes.add("/res-stream", handler)
    done = curl("--include", base_url + "/res-stream")
    assert done.returncode == 0, done.stderr
    head, _, body = done.stdout.partition(b"\r\n\r\n")
    assert b"connection: close" in head.lower()
    assert body == b"one two"


def test_stream_with_content_length_over_uvicorn(routes: Routes, client: httpx.Client) -> None:
    routes.add(
        "/sized", lambda scope: StreamingResponse([b"ab", b"c"], headers={"Content-Length": "3"})
    )
    response = client.get("/sized")
    assert response.headers["content-length"] == "3"
    assert "transfer-encoding" not in response.headers
    assert response.content == b"abc"


def test_head_does_not_iterate_a_stream(routes: Routes, client: httpx.Client) -> None:
    recorder = Recorder()

    async def body() -> AsyncIterator[bytes]:
        recorder.started.set()
        yield b"never"

    routes.add("/head-stream", lambda scope: StreamingResponse(body))
    response = client.head("/head-stream")
    assert response.status_code == 200
    assert response.content == b""
    assert not recorder.started.is_set()


def _start_reading_then_close(base_url: str, path: str) -> None:
    host, port = _host_port(base_url)
    with socket.create_connection((host, port), timeout=WAIT) as sock:
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
        assert sock.recv(65536).startswith(b"HTTP/1.1 200")


def test_disconnect_mid_stream_closes_the_generator(routes: Routes, base_url: str) -> None:
    recorder = Recorder()

    async def body() -> AsyncIterator[bytes]:
        try:
            for _ in range(MAX_CHUNKS):
                yield b"x" * 1024
                await asyncio.sleep(0.001)  # paces the producer; the test waits on events
        finally:
            recorder.done.set()

    routes.add("/disconnect", lambda scope: StreamingResponse(body))
    _start_reading_then_close(base_url, "/disconnect")
    assert recorder.done.wait(WAIT)


def test_raise_on_disconnect_throws_client_disconnect(routes: Routes, base_url: str) -> None:
    recorder = Recorder()

    async def body() -> AsyncIterator[bytes]:
        try:
            for _ in range(MAX_CHUNKS):
                yield b"x" * 1024
                await asyncio.sleep(0.001)
        except ClientDisconnect as exc:
            recorder.seen.append(exc)
            recorder.done.set()
            raise

    def handler(scope: Scope) -> Response:
        res = Response()
        res.stream(raise_on_disconnect=True)(body)
        res.chunked = True
        return res

    routes.add("/raise-on-disconnect", handler)
    _start_reading_then_close(base_url, "/raise-on-disconnect")
    assert recorder.done.wait(WAIT)
    assert isinstance(recorder.seen[0], ClientDisconnect)


def test_chunk_timeout_ends_a_stream_to_a_client_that_stops_reading(
    routes: Routes, base_url: str
) -> None:
    recorder = Recorder()

    async def body() -> AsyncIterator[bytes]:
        try:
            for _ in range(MAX_CHUNKS):
                yield b"x" * 262144
        finally:
            recorder.done.set()

    response = StreamingResponse(body, chunk_timeout=0.3, complete_timeout=None)
    routes.add("/stalled", lambda scope: recorder.app(response))
    host, port = _host_port(base_url)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    try:
        sock.connect((host, port))
        sock.sendall(f"GET /stalled HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
        assert recorder.done.wait(WAIT)  # without reading a byte
    finally:
        sock.close()
    assert isinstance(recorder.error, ResponseTimeout)
    assert "chunk_timeout" in str(recorder.error)


def test_complete_timeout_ends_a_slow_stream(routes: Routes, client: httpx.Client) -> None:
    recorder = Recorder()

    async def body() -> AsyncIterator[bytes]:
        try:
            yield b"first"
            await asyncio.Event().wait()  # never set: only the timeout ends this
            yield b"never"
        finally:
            recorder.done.set()

    response = StreamingResponse(body, chunk_timeout=None, complete_timeout=0.3)
    routes.add("/slow", lambda scope: recorder.app(response))
    with pytest.raises(httpx.RemoteProtocolError):
        client.get("/slow")
    assert recorder.done.wait(WAIT)
    assert isinstance(recorder.error, ResponseTimeout)
    assert "complete_timeout" in str(recorder.error)


def test_stream_yielding_a_wrong_type_first_gives_500(routes: Routes, client: httpx.Client) -> None:
    recorder = Recorder()

    async def body() -> AsyncIterator[Any]:
        yield 42

    routes.add("/bad-first", lambda scope: recorder.app(StreamingResponse(body)))
    assert client.get("/bad-first").status_code == 500
    assert isinstance(recorder.error, TypeError)
    assert "stream" in str(recorder.error)


def test_stream_yielding_a_wrong_type_later_aborts(routes: Routes, client: httpx.Client) -> None:
    recorder = Recorder()

    async def body() -> AsyncIterator[Any]:
        try:
            yield b"fine"
            yield {"not": "bytes"}
        finally:
            recorder.done.set()

    routes.add("/bad-later", lambda scope: recorder.app(StreamingResponse(body)))
    with pytest.raises(httpx.RemoteProtocolError):
        client.get("/bad-later")
    assert recorder.done.wait(WAIT)
    assert isinstance(recorder.error, TypeError)
    assert "dict" in str(recorder.error)


def test_stream_longer_than_its_content_length_aborts(routes: Routes, client: httpx.Client) -> None:
    recorder = Recorder()
    response = StreamingResponse([b"abc", b"def"], headers={"Content-Length": "4"})
    routes.add("/too-long", lambda scope: recorder.app(response))
    with pytest.raises(httpx.RemoteProtocolError):
        client.get("/too-long")
    assert "Content-Length" in str(recorder.error)


def test_stream_shorter_than_its_content_length_aborts(
    routes: Routes, client: httpx.Client
) -> None:
    recorder = Recorder()
    response = StreamingResponse([b"abc"], headers={"Content-Length": "10"})
    routes.add("/too-short", lambda scope: recorder.app(response))
    with pytest.raises(httpx.RemoteProtocolError):
        client.get("/too-short")
    assert "Content-Length" in str(recorder.error)


# -- files -----------------------------------------------------------------------------------


@pytest.fixture
def data_file(tmp_path: Path) -> Path:
    path = tmp_path / "data.bin"
    path.write_bytes(bytes(range(256)) * 1000)  # several chunks
    return path


def test_file_response_over_uvicorn(routes: Routes, client: httpx.Client, data_file: Path) -> None:
    routes.add("/file", lambda scope: FileResponse(data_file, chunk_size=4096))
    response = client.get("/file")
    assert response.content == data_file.read_bytes()
    assert response.headers["content-length"] == str(data_file.stat().st_size)
    assert response.headers["content-disposition"] == 'attachment; filename="data.bin"'
    assert response.headers["etag"].startswith('"')
    assert "last-modified" in response.headers


def test_file_download_with_curl(
    routes: Routes, base_url: str, data_file: Path, tmp_path: Path
) -> None:
    def handler(scope: Scope) -> Response:
        res = Response()
        res.file(data_file, filename="renamed.bin")
        return res

    routes.add("/download", handler)
    target = tmp_path / "out"
    target.mkdir()
    done = curl("--remote-header-name", "--remote-name", "--output-dir", str(target),
                base_url + "/download")  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert (target / "renamed.bin").read_bytes() == data_file.read_bytes()


def test_empty_file_over_uvicorn(routes: Routes, client: httpx.Client, tmp_path: Path) -> None:
    path = tmp_path / "empty.txt"
    path.write_bytes(b"")
    routes.add("/empty", lambda scope: FileResponse(path, attach=False))
    response = client.get("/empty")
    assert response.content == b""
    assert response.headers["content-length"] == "0"


def test_head_of_a_file_sends_no_body(
    routes: Routes, client: httpx.Client, data_file: Path
) -> None:
    routes.add("/head-file", lambda scope: FileResponse(data_file))
    response = client.head("/head-file")
    assert response.content == b""
    assert response.headers["content-length"] == str(data_file.stat().st_size)


def test_pathsend_is_used_when_the_server_offers_it(data_file: Path) -> None:
    messages: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        messages.append(message)

    scope = {
        "type": "http",
        "method": "GET",
        "http_version": "1.1",
        "headers": [],
        "extensions": {"http.response.pathsend": {}},
    }
    asyncio.run(FileResponse(data_file)(scope, receive, send))
    assert [m["type"] for m in messages] == ["http.response.start", "http.response.pathsend"]
    assert messages[1]["path"] == str(data_file)
    headers = dict(messages[0]["headers"])
    assert headers[b"content-length"] == str(data_file.stat().st_size).encode()
