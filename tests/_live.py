"""Live respcore servers for the tests, and what a client needs to talk to them over raw sockets.

``live_server(app, loop=...)`` runs ``start_server(app, "127.0.0.1", 0, **options)`` on its
own event loop (uvloop or the stock asyncio loop) in a background thread and shuts it down at
exit; ``LoopThread`` is that thread on its own, for tests that plug a protocol of their own
into a loop. ``ResponseReader`` is h11 as the client: it parses a sequence of responses from a
socket or from bytes already read. Every wait here is bounded.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import select
import socket
import sys
import threading
import time
from collections.abc import Callable, Coroutine, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar

import h11
import pytest

from respcore.server import Server, start_server

try:
    import uvloop
except ImportError:  # pragma: no cover - Windows: the tests skip themselves there
    uvloop = None  # type: ignore[assignment]

WAIT = 10.0  # upper bound on any single wait; never reached when a test passes
MAX_CHUNKS = 100_000  # bound on every endless-looking stream in the live tests
# The live tests use POSIX sockets, signals and file semantics, and uvloop.
POSIX_ONLY = pytest.mark.skipif(
    sys.platform == "win32", reason="POSIX sockets, signals and file semantics; no uvloop"
)
SHUTDOWN_GRACE = 2.0  # what a test server gives responses in flight when it stops
LOOPS = ("uvloop", "asyncio") if uvloop is not None else ("asyncio",)

T = TypeVar("T")


def new_loop(name: str) -> asyncio.AbstractEventLoop:
    if name == "uvloop":
        return uvloop.new_event_loop()
    if name == "asyncio":
        return asyncio.new_event_loop()
    raise ValueError(f"unknown event loop {name!r}")


def wait_until(predicate: Callable[[], object], timeout: float = WAIT) -> bool:
    """Poll ``predicate`` until it is true or ``timeout`` passes; its last truth value."""
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return True
        if time.monotonic() >= deadline:
            return bool(predicate())
        time.sleep(0.01)


def raise_open_files_limit(needed: int) -> None:
    """Raise the soft RLIMIT_NOFILE to at least ``needed`` (up to the hard limit)."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < needed:
        target = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))


# -- an event loop in a thread -----------------------------------------------------------------


class LoopThread:
    """An event loop (``"uvloop"`` or ``"asyncio"``) running in a daemon thread.

    ``run(coro)`` runs a coroutine on it and returns its result; ``call(fn)`` runs a plain
    function on it. What the loop's exception handler sees (exceptions nobody retrieved,
    callbacks that raised) is kept in ``errors``; leaving the block fails if there are any.
    """

    def __init__(self, name: str = "uvloop", *, allow_loop_errors: bool = False) -> None:
        self.name = name
        self.allow_loop_errors = allow_loop_errors
        self.errors: list[dict[str, Any]] = []
        self.loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    def __enter__(self) -> LoopThread:
        started = threading.Event()

        def run() -> None:
            loop = new_loop(self.name)
            self.loop = loop
            asyncio.set_event_loop(loop)
            loop.set_exception_handler(lambda _, context: self.errors.append(context))
            loop.call_soon(started.set)
            try:
                loop.run_forever()
                tasks = asyncio.all_tasks(loop)
                for task in tasks:
                    task.cancel()
                if tasks:
                    loop.run_until_complete(asyncio.wait(tasks, timeout=WAIT))
                loop.run_until_complete(loop.shutdown_asyncgens())
                loop.run_until_complete(loop.shutdown_default_executor())
            finally:
                asyncio.set_event_loop(None)
                loop.close()

        self._thread = threading.Thread(target=run, name=f"loop-{self.name}", daemon=True)
        self._thread.start()
        if not started.wait(WAIT):
            raise RuntimeError(f"the {self.name} loop did not start")
        return self

    def __exit__(self, *exc_info: object) -> None:
        assert self.loop is not None
        assert self._thread is not None
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(WAIT)
        if self._thread.is_alive():
            raise RuntimeError(f"the {self.name} loop thread did not stop within {WAIT} s")
        if self.errors and not self.allow_loop_errors and exc_info[0] is None:
            raise AssertionError(f"the {self.name} loop reported errors: {self.errors!r}")

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = WAIT) -> T:
        assert self.loop is not None
        future = asyncio.run_coroutine_threadsafe(coro, self.loop)
        try:
            return future.result(timeout)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise

    def call(self, fn: Callable[..., T], *args: Any, timeout: float = WAIT) -> T:
        async def call() -> T:
            return fn(*args)

        return self.run(call(), timeout)


# -- a live respcore server --------------------------------------------------------------------


@dataclass
class Live:
    """A running server: ``port``, ``url``, the ``server`` itself and its ``thread``."""

    server: Server
    thread: LoopThread
    host: str = "127.0.0.1"

    @property
    def port(self) -> int:
        return self.server.port

    @property
    def url(self) -> str:
        return self.server.url

    def connection_count(self) -> int:
        return self.thread.call(lambda: len(self.server.connections))


@contextmanager
def live_server(
    app: Any, loop: str = "uvloop", *, allow_loop_errors: bool = False, **options: Any
) -> Iterator[Live]:
    """``start_server(app, "127.0.0.1", 0, **options)`` on a ``loop`` event loop in a thread;
    yields a :class:`Live`; shuts the server down (bounded) and stops the loop at exit."""
    with LoopThread(loop, allow_loop_errors=allow_loop_errors) as thread:
        server = thread.run(start_server(app, "127.0.0.1", 0, **options))
        try:
            yield Live(server, thread)
        finally:
            thread.run(server.shutdown(grace=SHUTDOWN_GRACE), timeout=SHUTDOWN_GRACE + WAIT)


# -- raw sockets -------------------------------------------------------------------------------


def connect(port: int, *, rcvbuf: int | None = None, timeout: float = WAIT) -> socket.socket:
    """A TCP connection to 127.0.0.1:``port``; ``rcvbuf`` sets SO_RCVBUF before connecting
    (it caps the TCP window, so a client that does not read stalls the server quickly)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        if rcvbuf is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        sock.settimeout(timeout)
        sock.connect(("127.0.0.1", port))
    except BaseException:
        sock.close()
        raise
    return sock


def request(
    method: str = "GET",
    target: str = "/",
    *,
    version: str = "1.1",
    headers: list[tuple[str, str]] | None = None,
    body: bytes = b"",
) -> bytes:
    """A request's bytes: Host is added; Content-Length when there is a body."""
    lines = [f"{method} {target} HTTP/{version}", "Host: 127.0.0.1"]
    lines += [f"{name}: {value}" for name, value in headers or []]
    if body and not any(name.lower() == "transfer-encoding" for name, _ in headers or []):
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def recv_exactly(sock: socket.socket, n: int, timeout: float = WAIT) -> bytes:
    """Exactly ``n`` bytes (fewer only if the connection ends first)."""
    deadline = time.monotonic() + timeout
    parts: list[bytes] = []
    got = 0
    while got < n:
        sock.settimeout(max(0.001, deadline - time.monotonic()))
        try:
            data = sock.recv(min(n - got, 1 << 20))
        except ConnectionResetError:
            break
        except TimeoutError:
            raise TimeoutError(f"{got} of {n} bytes arrived within {timeout} s") from None
        if not data:
            break
        parts.append(data)
        got += len(data)
    return b"".join(parts)


def recv_until(sock: socket.socket, marker: bytes, timeout: float = WAIT) -> bytes:
    """Bytes up to and including ``marker`` (possibly a little more)."""
    deadline = time.monotonic() + timeout
    data = b""
    while marker not in data:
        sock.settimeout(max(0.001, deadline - time.monotonic()))
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            raise TimeoutError(f"{marker!r} did not arrive within {timeout} s") from None
        if not chunk:
            raise ConnectionError(f"closed before {marker!r}; got {data[:200]!r}")
        data += chunk
    return data


@dataclass
class Closed:
    """What :func:`recv_until_close` read: the bytes, whether the connection ended with a
    reset rather than a FIN, and how long it took."""

    data: bytes
    reset: bool
    elapsed: float


def recv_until_close(sock: socket.socket, timeout: float = WAIT) -> Closed:
    """Read until the peer closes (FIN or RST); ``TimeoutError`` if it is still open after
    ``timeout`` seconds."""
    start = time.monotonic()
    deadline = start + timeout
    parts: list[bytes] = []
    reset = False
    while True:
        sock.settimeout(max(0.001, deadline - time.monotonic()))
        try:
            data = sock.recv(1 << 20)
        except (ConnectionResetError, ConnectionAbortedError):
            reset = True
            break
        except TimeoutError:
            got = sum(map(len, parts))
            raise TimeoutError(f"still open after {timeout} s ({got} bytes read)") from None
        if not data:
            break
        parts.append(data)
    return Closed(b"".join(parts), reset, time.monotonic() - start)


def readable(sock: socket.socket, timeout: float = 0.0) -> bool:
    return bool(select.select([sock], [], [], timeout)[0])


# -- h11 as the client -------------------------------------------------------------------------


@dataclass
class Message:
    """One response as h11 parsed it. ``complete`` is False when the message broke off;
    ``error`` then says what h11 made of it."""

    status: int
    reason: bytes
    http_version: bytes
    headers: list[tuple[bytes, bytes]]
    body: bytes = b""
    complete: bool = False
    informational: list[int] = field(default_factory=list)
    error: str | None = None
    trailers: list[tuple[bytes, bytes]] = field(default_factory=list)

    def header(self, name: str) -> str | None:
        values = self.header_list(name)
        return values[0] if values else None

    def header_list(self, name: str) -> list[str]:
        wanted = name.lower().encode("latin-1")
        return [v.decode("latin-1") for n, v in self.headers if n.lower() == wanted]

    def head_without_date(self) -> list[tuple[bytes, bytes]]:
        return [(n, v) for n, v in self.headers if n.lower() != b"date"]


class ResponseReader:
    """Parses the responses to a sequence of requests with h11, as the client that sent them.

    Reads from ``sock`` when given (each :meth:`read` bounded by ``timeout``), else from what
    :meth:`feed` handed over. Tell :meth:`read` the method of the request each response
    answers (HEAD responses have no body).
    """

    def __init__(self, sock: socket.socket | None = None, timeout: float = WAIT) -> None:
        self.sock = sock
        self.timeout = timeout
        self.conn = h11.Connection(our_role=h11.CLIENT, max_incomplete_event_size=1 << 20)
        self.eof = False
        self.reset = False

    def feed(self, data: bytes, *, eof: bool = False) -> None:
        self.conn.receive_data(data)
        if eof:
            self.conn.receive_data(b"")
            self.eof = True

    def _more(self, deadline: float) -> bool:
        """Hand h11 more bytes from the socket; False when there is nothing more to read. A
        reset is not handed over as the end of the stream: it ends no message."""
        if self.sock is None or self.eof or self.reset:
            return False
        self.sock.settimeout(max(0.001, deadline - time.monotonic()))
        try:
            data = self.sock.recv(1 << 20)
        except (ConnectionResetError, ConnectionAbortedError):
            self.reset = True
            return False
        except TimeoutError:
            raise TimeoutError(f"no complete response within {self.timeout} s") from None
        self.conn.receive_data(data)
        if not data:
            self.eof = True
        return True

    def read(self, method: str = "GET", target: str = "/") -> Message:
        conn = self.conn
        if conn.our_state is h11.DONE and conn.their_state is h11.DONE:
            conn.start_next_cycle()
        if conn.our_state is not h11.IDLE:
            raise AssertionError(f"no further response can follow: h11 is {conn.states}")
        conn.send(h11.Request(method=method, target=target, headers=[("Host", "127.0.0.1")]))
        conn.send(h11.EndOfMessage())
        deadline = time.monotonic() + self.timeout
        informational: list[int] = []
        message = Message(0, b"", b"", [], informational=informational)
        body = bytearray()
        while True:
            try:
                event = conn.next_event()
            except h11.RemoteProtocolError as exc:
                message.error = str(exc) or type(exc).__name__
                break
            if event is h11.NEED_DATA:
                if not self._more(deadline):
                    message.error = "connection reset" if self.reset else "no more data"
                    break
                continue
            if isinstance(event, h11.InformationalResponse):
                informational.append(event.status_code)
            elif isinstance(event, h11.Response):
                message = Message(
                    event.status_code,
                    event.reason,
                    event.http_version,
                    list(event.headers.raw_items()),
                    informational=informational,
                )
            elif isinstance(event, h11.Data):
                body += event.data
            elif isinstance(event, h11.EndOfMessage):
                message.complete = True
                message.trailers = list(event.headers.raw_items())
                break
            elif isinstance(event, h11.ConnectionClosed):
                message.error = "connection closed"
                break
        message.body = bytes(body)
        return message

    def expect_close(self, timeout: float = WAIT) -> float:
        """Wait until the server closes the connection, sending nothing more; the seconds
        it took."""
        start = time.monotonic()
        leftover, _ = self.conn.trailing_data
        assert leftover == b"", f"bytes after the last response: {bytes(leftover)[:200]!r}"
        if self.eof:
            return 0.0
        assert self.sock is not None
        closed = recv_until_close(self.sock, timeout)
        assert closed.data == b"", f"bytes after the last response: {closed.data[:200]!r}"
        self.eof = True
        return time.monotonic() - start


def parse_responses(data: bytes, methods: list[str], *, eof: bool = True) -> list[Message]:
    """The responses in ``data`` to requests with ``methods``, in order, parsed by h11
    (``eof``: the connection ended after ``data`` with a FIN; not after a reset, which ends
    no close-delimited body)."""
    reader = ResponseReader()
    reader.feed(data, eof=eof)
    messages = []
    for method in methods:
        message = reader.read(method)
        messages.append(message)
        if not message.complete:
            break
    return messages


def parse_closed(closed: Closed, methods: list[str]) -> list[Message]:
    """:func:`parse_responses` for what :func:`recv_until_close` read."""
    return parse_responses(closed.data, methods, eof=not closed.reset)
