"""TransportWriter plugged into a hand-written asyncio.Protocol, the way a framework would use
it, on the stock asyncio loop and on uvloop. Clients are raw sockets; h11 and httptools judge
the bytes."""

from __future__ import annotations

import asyncio
import collections
import queue
import random
import socket
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from _judges import parse_httptools
from _live import (
    LOOPS,
    MAX_CHUNKS,
    POSIX_ONLY,
    WAIT,
    LoopThread,
    ResponseReader,
    connect,
    parse_closed,
    recv_until,
    recv_until_close,
    request,
)

from respcore import (
    ClientDisconnect,
    FileResponse,
    Response,
    ResponseTimeout,
    StreamingResponse,
    TextResponse,
)
from respcore.writer import TransportWriter

pytestmark = POSIX_ONLY


class RecordingTransport:
    """The protocol's real transport, noting each write call (and the write buffer's size
    after it) on the way through."""

    def __init__(self, transport: asyncio.Transport) -> None:
        self._transport = transport
        self.writes: list[bytes] = []
        self.buffered: list[int] = []

    def write(self, data: bytes) -> None:
        self.writes.append(bytes(data))
        self._transport.write(data)
        self.buffered.append(self._transport.get_write_buffer_size())

    def writelines(self, data: Iterable[bytes]) -> None:
        pieces = list(data)
        self.writes.append(b"".join(pieces))
        self._transport.writelines(pieces)
        self.buffered.append(self._transport.get_write_buffer_size())

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


@dataclass
class Outcome:
    """What ``writer.send`` did for one request."""

    target: str
    returned: bool | None = None
    error: BaseException | None = None
    closed_after: bool = False
    writes: list[bytes] = field(default_factory=list)
    buffered: list[int] = field(default_factory=list)  # write buffer sizes after each write


class Harness:
    """Routes (target → a function making the response) and what the sends did."""

    def __init__(self, *, zero_copy: bool = True, record: bool = False) -> None:
        self.routes: dict[str, Callable[[], Response]] = {}
        self.outcomes: queue.Queue[Outcome] = queue.Queue()
        self.zero_copy = zero_copy
        self.record = record

    def outcome(self) -> Outcome:
        return self.outcomes.get(timeout=WAIT)


class MiniProtocol(asyncio.Protocol):
    """A framework's connection at its smallest: it forwards pause_writing, resume_writing and
    connection_lost to the writer, reads request heads (no bodies), and answers them in order
    by awaiting ``writer.send``; it closes the connection when send returns False."""

    def __init__(self, harness: Harness) -> None:
        self.harness = harness
        self.buffer = b""
        self.requests: collections.deque[tuple[str, str, str, list[tuple[str, str]]]] = (
            collections.deque()
        )
        self.task: asyncio.Task[None] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport: Any = transport
        if self.harness.record:
            self.transport = RecordingTransport(transport)  # type: ignore[arg-type]
        self.writer = TransportWriter(self.transport, zero_copy=self.harness.zero_copy)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while b"\r\n\r\n" in self.buffer:
            head, _, self.buffer = self.buffer.partition(b"\r\n\r\n")
            first, *lines = head.decode("latin-1").split("\r\n")
            method, target, version = first.split(" ")
            fields = [(n.strip(), v.strip()) for n, _, v in (line.partition(":") for line in lines)]
            self.requests.append((method, target, version.removeprefix("HTTP/"), fields))
        if self.requests and self.task is None:
            self.task = asyncio.get_running_loop().create_task(self.answer())

    def pause_writing(self) -> None:
        self.writer.pause_writing()

    def resume_writing(self) -> None:
        self.writer.resume_writing()

    def connection_lost(self, exc: Exception | None) -> None:
        self.writer.connection_lost(exc)

    async def answer(self) -> None:
        writer = self.writer
        while self.requests:
            method, target, version, fields = self.requests.popleft()
            tokens = {v.strip().lower() for n, v in fields if n.lower() == "connection"}
            keep_alive = "keep-alive" in tokens if version == "1.0" else "close" not in tokens
            outcome = Outcome(target)
            recorded = len(self.transport.writes) if self.harness.record else 0
            try:
                outcome.returned = await writer.send(
                    self.harness.routes[target](), method, version, keep_alive, fields
                )
            except Exception as exc:
                outcome.error = exc
                outcome.returned = False
                if not writer.closed:  # nothing went out: the framework answers the fault
                    await writer.send(TextResponse("failed\n", 500), method, version, False)
            if self.harness.record:
                outcome.writes = self.transport.writes[recorded:]
                outcome.buffered = self.transport.buffered[recorded:]
            outcome.closed_after = writer.closed
            self.harness.outcomes.put(outcome)
            if not outcome.returned:
                self.transport.close()
                break
        self.task = None


@pytest.fixture(params=LOOPS)
def loop_name(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def serve(loop_name: str) -> Iterator[Callable[[Harness], int]]:
    """Start MiniProtocol servers for harnesses on a ``loop_name`` loop; return their port."""
    with LoopThread(loop_name) as thread:
        servers: list[asyncio.AbstractServer] = []

        async def start(harness: Harness) -> int:
            loop = asyncio.get_running_loop()
            server = await loop.create_server(lambda: MiniProtocol(harness), "127.0.0.1", 0)
            servers.append(server)
            return int(server.sockets[0].getsockname()[1])

        yield lambda harness: thread.run(start(harness))

        async def stop() -> None:
            for server in servers:
                server.close()

        thread.run(stop())


def _open(port: int, **options: Any) -> tuple[socket.socket, ResponseReader]:
    sock = connect(port, **options)
    return sock, ResponseReader(sock)


# -- bytes bodies ------------------------------------------------------------------------------


def test_bytes_body_goes_out_in_one_write(serve: Callable[[Harness], int]) -> None:
    harness = Harness(record=True)
    harness.routes["/hello"] = lambda: TextResponse("hello, writer", headers={"X-A": "1"})
    sock, reader = _open(serve(harness))
    with sock:
        sock.sendall(request("GET", "/hello"))
        message = reader.read()
        sock.sendall(request("GET", "/hello", version="1.0"))
        closing = reader.read()
        reader.expect_close()
    kept = harness.outcome()
    assert kept.returned is True
    assert len(kept.writes) == 1
    judged = parse_httptools(kept.writes[0])
    assert judged.complete
    assert judged.body == b"hello, writer"
    assert message.body == b"hello, writer"
    assert message.header("content-length") == "13"
    assert message.header("x-a") == "1"
    last = harness.outcome()
    assert last.returned is False
    assert len(last.writes) == 1
    assert closing.header("connection") == "close"


# -- streams -----------------------------------------------------------------------------------


def test_chunked_stream(serve: Callable[[Harness], int]) -> None:
    big = bytes(range(256)) * 100  # over the size written without copying

    async def body() -> AsyncIterator[str | bytes]:
        yield "text, "
        await asyncio.sleep(0)
        yield b"bytes, "
        yield big
        yield "é"

    harness = Harness()
    harness.routes["/chunked"] = lambda: StreamingResponse(body, media_type="text/plain")
    harness.routes["/after"] = lambda: TextResponse("after")
    sock = connect(serve(harness))
    with sock:
        sock.sendall(request("GET", "/chunked") + request("GET", "/after", version="1.0"))
        received = recv_until_close(sock)
    expected = b"text, bytes, " + big + "é".encode()
    first, after = parse_closed(received, ["GET", "GET"])
    assert first.complete
    assert first.body == expected
    assert first.header("transfer-encoding") == "chunked"
    assert first.header("content-type") == "text/plain; charset=utf-8"
    assert after.body == b"after"
    # llhttp judges the first message alone (the body has no CRLF, so its end is found).
    by_llhttp = parse_httptools(received.data[: received.data.index(b"\r\n0\r\n\r\n") + 7])
    assert by_llhttp.complete
    assert by_llhttp.body == expected
    assert harness.outcome().returned is True
    assert harness.outcome().returned is False  # HTTP/1.0 without keep-alive


def test_close_delimited_stream_returns_false(serve: Callable[[Harness], int]) -> None:
    def make() -> Response:
        res = Response()

        @res.stream
        async def body() -> AsyncIterator[bytes]:
            yield b"until "
            yield b"the close"

        return res

    harness = Harness()
    harness.routes["/close"] = make
    sock = connect(serve(harness))
    with sock:
        sock.sendall(request("GET", "/close"))
        received = recv_until_close(sock)
    outcome = harness.outcome()
    assert outcome.returned is False
    assert outcome.error is None
    (message,) = parse_closed(received, ["GET"])
    assert message.complete
    assert message.body == b"until the close"
    assert message.header("connection") == "close"
    assert message.header("content-length") is None
    assert message.header("transfer-encoding") is None


@pytest.mark.parametrize(
    ("chunks", "length", "sent"),
    [([b"abc", b"def"], 4, b"abc"), ([b"abc"], 10, b"abc"), ([b"ab", b"", b"c"], 5, b"abc")],
    ids=["overshoots", "undershoots", "undershoots-with-empty-chunk"],
)
def test_stream_breaking_its_content_length_aborts(
    serve: Callable[[Harness], int], chunks: list[bytes], length: int, sent: bytes
) -> None:
    harness = Harness()
    harness.routes["/sized"] = lambda: StreamingResponse(
        chunks, headers={"Content-Length": str(length)}
    )
    sock = connect(serve(harness))
    with sock:
        sock.sendall(request("GET", "/sized"))
        received = recv_until_close(sock)
    outcome = harness.outcome()
    assert isinstance(outcome.error, RuntimeError)
    assert "Content-Length" in str(outcome.error)
    assert outcome.closed_after
    (message,) = parse_closed(received, ["GET"])
    assert message.header("content-length") == str(length)
    assert not message.complete
    assert message.body == sent


def test_stream_overshooting_in_its_first_chunk_writes_nothing(
    serve: Callable[[Harness], int],
) -> None:
    harness = Harness(record=True)
    harness.routes["/first"] = lambda: StreamingResponse(
        [b"abcdef"], headers={"Content-Length": "4"}
    )
    sock, reader = _open(serve(harness))
    with sock:
        sock.sendall(request("GET", "/first"))
        message = reader.read()
    outcome = harness.outcome()
    assert isinstance(outcome.error, RuntimeError)
    assert outcome.writes[0].startswith(b"HTTP/1.1 500 ")  # the framework's, nothing before
    assert message.status == 500


def test_empty_chunks_are_skipped(serve: Callable[[Harness], int]) -> None:
    async def body() -> AsyncIterator[str | bytes]:
        for chunk in (b"", "", b"a", b"", "b", ""):
            yield chunk

    harness = Harness(record=True)
    harness.routes["/empty-chunks"] = lambda: StreamingResponse(body)
    harness.routes["/only-empty"] = lambda: StreamingResponse([b"", ""])
    sock, reader = _open(serve(harness))
    with sock:
        sock.sendall(request("GET", "/empty-chunks") + request("GET", "/only-empty"))
        message = reader.read()
        empty = reader.read()
    assert message.complete
    assert message.body == b"ab"
    assert empty.complete
    assert empty.body == b""
    # No empty chunk went out as a premature last chunk: one last chunk, at the end.
    wire = b"".join(harness.outcome().writes)
    assert wire.count(b"\r\n0\r\n\r\n") == 1
    assert wire.endswith(b"\r\n1\r\nb\r\n0\r\n\r\n")
    only_empty = b"".join(harness.outcome().writes)
    assert only_empty.endswith(b"\r\n\r\n0\r\n\r\n")  # the head, then the last chunk


def test_stream_raising_after_the_head_aborts_and_reraises(
    serve: Callable[[Harness], int],
) -> None:
    async def body() -> AsyncIterator[bytes]:
        yield b"first"
        raise KeyError("the stream broke")

    harness = Harness()
    harness.routes["/raises"] = lambda: StreamingResponse(body)
    sock, reader = _open(serve(harness))
    with sock:
        sock.sendall(request("GET", "/raises"))
        message = reader.read()
    outcome = harness.outcome()
    assert isinstance(outcome.error, KeyError)
    assert outcome.closed_after
    assert not message.complete
    assert message.body == b"first"


@pytest.mark.parametrize("fault", ["raises", "chunk_timeout", "complete_timeout"])
def test_cut_close_delimited_stream_ends_with_a_reset(
    serve: Callable[[Harness], int], fault: str
) -> None:
    # A body delimited by the close looks whole after a FIN: a cut one must end with a reset.
    async def body() -> AsyncIterator[bytes]:
        yield b"first"
        if fault == "raises":
            raise ValueError("cut")
        for _ in range(MAX_CHUNKS if fault == "chunk_timeout" else 1):
            yield b"c" * 65536
        await asyncio.sleep(WAIT)  # complete_timeout ends this

    def make() -> Response:
        res = Response()
        res.stream(body)
        res.chunk_timeout = 0.3
        res.complete_timeout = 0.5 if fault == "complete_timeout" else None
        return res

    harness = Harness()
    harness.routes["/cut"] = make
    sock = connect(serve(harness), rcvbuf=4096 if fault == "chunk_timeout" else None)
    with sock:
        sock.sendall(request("GET", "/cut"))
        outcome = harness.outcome()  # the client has not read yet
        received = recv_until_close(sock)
    assert outcome.returned is False
    assert outcome.closed_after
    assert received.data.startswith(b"HTTP/1.1 200 OK\r\n")
    assert b"Connection: close\r\n" in received.data
    assert received.reset, "the cut body ended with a clean close"


def test_head_does_not_iterate_the_stream(serve: Callable[[Harness], int]) -> None:
    touched = threading.Event()

    async def body() -> AsyncIterator[bytes]:
        touched.set()
        yield b"never"

    harness = Harness()
    harness.routes["/head"] = lambda: StreamingResponse(body)
    sock, reader = _open(serve(harness))
    with sock:
        sock.sendall(request("HEAD", "/head"))
        message = reader.read("HEAD")
    assert message.status == 200
    assert message.body == b""
    assert harness.outcome().returned is True
    assert not touched.is_set()


# -- client faults and timeouts ----------------------------------------------------------------


class Watched:
    """An endless stream that notes its yields and what was thrown into it."""

    def __init__(self, chunk: bytes, pause: float = 0.0) -> None:
        self.chunk = chunk
        self.pause = pause
        self.done = threading.Event()
        self.thrown: list[BaseException] = []
        self.yields: list[float] = []
        self.finished_at = 0.0

    async def body(self) -> AsyncIterator[bytes]:
        try:
            for _ in range(MAX_CHUNKS):
                self.yields.append(time.monotonic())
                yield self.chunk
                if self.pause:
                    await asyncio.sleep(self.pause)
        except BaseException as exc:
            self.thrown.append(exc)
            raise
        finally:
            self.finished_at = time.monotonic()
            self.done.set()


def test_client_disconnect_stops_the_stream(serve: Callable[[Harness], int]) -> None:
    stream = Watched(b"x" * 1024, pause=0.001)
    harness = Harness()
    harness.routes["/endless"] = lambda: StreamingResponse(stream.body, raise_on_disconnect=True)
    sock = connect(serve(harness))
    with sock:
        sock.sendall(request("GET", "/endless"))
        assert recv_until(sock, b"\r\n\r\n").startswith(b"HTTP/1.1 200 OK\r\n")
    outcome = harness.outcome()
    assert outcome.returned is False
    assert outcome.error is None
    assert stream.done.wait(WAIT)
    assert [type(exc) for exc in stream.thrown] == [ClientDisconnect]


def test_chunk_timeout_holds_at_most_the_high_water_mark(serve: Callable[[Harness], int]) -> None:
    chunk_timeout = 0.5
    stream = Watched(b"w" * 65536)
    harness = Harness(record=True)
    harness.routes["/stalled"] = lambda: StreamingResponse(
        stream.body, chunk_timeout=chunk_timeout, complete_timeout=None
    )
    sock = connect(serve(harness), rcvbuf=4096)
    with sock:
        sock.sendall(request("GET", "/stalled"))  # and never read while it streams
        outcome = harness.outcome()
        received = recv_until_close(sock)
    assert outcome.returned is False
    assert outcome.error is None
    assert outcome.closed_after
    assert stream.done.is_set()
    # Closed (aclose) at its yield: no ResponseTimeout without raise_on_disconnect.
    assert [type(exc) for exc in stream.thrown] == [GeneratorExit]
    assert chunk_timeout - 0.1 <= stream.finished_at - stream.yields[-1] <= chunk_timeout + 1.0
    # The writer waits while the transport is paused: however long the stream, at most one
    # chunk past the high-water mark (64 KiB on both loops) is ever buffered.
    assert len(outcome.writes) < 200, "the stream was not held back"
    assert 0 < max(outcome.buffered) <= 65536 + len(stream.chunk) + 64, outcome.buffered
    (message,) = parse_closed(received, ["GET"])
    assert not message.complete


def test_complete_timeout_ends_a_slow_stream(serve: Callable[[Harness], int]) -> None:
    stream = Watched(b"tick\n", pause=0.05)
    harness = Harness()
    harness.routes["/slow"] = lambda: StreamingResponse(
        stream.body, chunk_timeout=None, complete_timeout=0.5, raise_on_disconnect=True
    )
    sock, reader = _open(serve(harness))
    with sock:
        started = time.monotonic()
        sock.sendall(request("GET", "/slow"))
        message = reader.read()
        elapsed = time.monotonic() - started
    assert not message.complete
    assert message.body.startswith(b"tick\ntick\n")
    assert 0.4 <= elapsed <= 0.5 + 1.0
    outcome = harness.outcome()
    assert outcome.returned is False
    assert outcome.error is None
    assert stream.done.wait(WAIT)
    assert stream.thrown
    assert isinstance(stream.thrown[0], (ResponseTimeout, asyncio.CancelledError))


# -- files -------------------------------------------------------------------------------------


@pytest.mark.parametrize("zero_copy", [True, False], ids=["zero-copy", "reads"])
def test_file_body(serve: Callable[[Harness], int], zero_copy: bool, tmp_path: Path) -> None:
    path = tmp_path / "report.bin"
    content = random.Random(11).randbytes(2 * 1024 * 1024 + 3)
    path.write_bytes(content)
    harness = Harness(zero_copy=zero_copy)
    harness.routes["/file"] = lambda: FileResponse(path, chunk_size=50_000)
    sock, reader = _open(serve(harness), rcvbuf=65536)  # the writer waits on the client
    with sock:
        sock.sendall(request("GET", "/file"))
        whole = reader.read()
        sock.sendall(request("HEAD", "/file"))
        head = reader.read("HEAD")
        sock.sendall(request("GET", "/file", headers=[("Range", "bytes=100-199")]))
        part = reader.read()
    assert whole.complete
    assert whole.body == content
    assert whole.header("content-length") == str(len(content))
    assert whole.header("content-disposition") == 'attachment; filename="report.bin"'
    assert whole.header("etag")
    assert whole.header("last-modified")
    assert head.body == b""
    assert head.head_without_date() == whole.head_without_date()
    assert part.status == 206
    assert part.body == content[100:200]
    assert [harness.outcome().returned for _ in range(3)] == [True, True, True]
