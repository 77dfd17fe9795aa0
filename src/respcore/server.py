"""A small HTTP/1.1 server: uvloop, httptools request parsing, a :class:`TransportWriter` per
connection. It runs the demo and the benchmarks, and serves ``async def app(req, res)``.

``app`` mutates ``res`` (a :class:`respcore.Response`) or returns a response to send instead.
Requests on a connection are answered one at a time, in the order they arrived (pipelining).
An app that finishes without waiting on anything is run to completion inside the read
callback, without a task; one that waits goes on in a task from where it stopped.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import signal
import sys
from collections.abc import Callable, Coroutine, Generator
from typing import Any, Union
from urllib.parse import unquote

import httptools

from .headers import Headers, parsed_headers
from .responses import Response, TextResponse
from .writer import TransportWriter, reset

__all__ = ["App", "Request", "Server", "serve", "start_server"]

log = logging.getLogger("respcore.server")

App = Callable[["Request", Response], Coroutine[Any, Any, Union[Response, None]]]

_STREAM = 1
_FILE = 2
# How many complete requests a connection may queue behind the one being answered before
# the server stops reading from it.
_MAX_QUEUED = 32


class Request:
    """What the app gets as ``req``: ``method``, ``path`` (percent-decoded), ``raw_path``,
    ``query_string`` (undecoded), ``headers`` (a :class:`Headers`), ``version`` (``"1.0"``
    or ``"1.1"``), ``keep_alive``, and ``await req.body()``."""

    __slots__ = (
        "_body",
        "_fields",
        "_headers",
        "_path",
        "_query",
        "keep_alive",
        "method",
        "url",
        "version",
    )

    def __init__(
        self,
        method: str,
        url: bytes,
        fields: list[tuple[bytes, bytes]],
        version: str,
        keep_alive: bool,
    ) -> None:
        self.method = method
        self.url = url
        self._fields = fields
        self._headers: Headers | None = None
        self.version = version
        self.keep_alive = keep_alive
        self._body: list[bytes] | bytes = b""
        self._path: bytes | None = None
        self._query = ""

    def _split(self) -> bytes:
        url = self.url
        if url[:1] == b"/":
            path, _, query = url.partition(b"?")
        else:
            # absolute-form (RFC 9112 §3.2.2) or asterisk-form
            parsed = httptools.parse_url(url) if url != b"*" else None
            path = b"*" if parsed is None else (parsed.path or b"/")
            query = b"" if parsed is None else (parsed.query or b"")
        self._path = path
        self._query = query.decode("latin-1")
        return path

    @property
    def raw_path(self) -> bytes:
        return self._path if self._path is not None else self._split()

    @property
    def path(self) -> str:
        return unquote(self.raw_path.decode("latin-1"), errors="surrogateescape")

    @property
    def query_string(self) -> str:
        if self._path is None:
            self._split()
        return self._query

    @property
    def headers(self) -> Headers:
        headers = self._headers
        if headers is None:
            # The parser has checked the fields; they are not checked again.
            headers = self._headers = parsed_headers(self._fields)
        return headers

    async def body(self) -> bytes:
        """The whole request body (the request was read to its end before the app ran)."""
        body = self._body
        if not isinstance(body, bytes):
            body = self._body = b"".join(body)
        return body

    def __repr__(self) -> str:
        return f"<Request {self.method} {self.url.decode('latin-1')!r} HTTP/{self.version}>"


class _Resume:
    """Awaiting this goes on with a coroutine that was started outside a task and stopped at
    ``signal`` (the future it waits on): the task that awaits it drives the coroutine from
    there, exactly as if it had run it from the start."""

    __slots__ = ("coro", "signal")

    def __init__(self, coro: Coroutine[Any, Any, Any], signal: Any) -> None:
        self.coro = coro
        self.signal = signal

    def __await__(self) -> Generator[Any, Any, Any]:
        coro = self.coro
        signal = self.signal
        while True:
            try:
                value = yield signal
            except BaseException as exc:
                try:
                    signal = coro.throw(exc)
                except StopIteration as stop:
                    return stop.value
            else:
                try:
                    signal = coro.send(value)
                except StopIteration as stop:
                    return stop.value


_BAD_REQUEST = TextResponse("Bad Request\n", 400)
_TOO_LARGE_HEAD = TextResponse("Request Header Fields Too Large\n", 431)
_TOO_LARGE_BODY = TextResponse("Content Too Large\n", 413)
_SERVER_ERROR = TextResponse("Internal Server Error\n", 500)


class _Refusal:
    """A queued answer to a request that cannot be served; the connection closes after it."""

    __slots__ = ("response",)

    def __init__(self, response: Response) -> None:
        self.response = response


_CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
_METHODS = {m.encode(): m for m in ("GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH")}
_new = object.__new__


class _Connection(asyncio.Protocol):
    """One client connection. Parser callbacks collect a request; a complete request is
    answered at once when nothing is ahead of it, else queued behind the one in progress."""

    __slots__ = (
        "_body_size",
        "_busy",
        "_closing",
        "_expect",
        "_fields",
        "_head_size",
        "_in_head",
        "_owe_continue",
        "_pending",
        "_queue",
        "_reading",
        "_refusal",
        "_url",
        "app",
        "body",
        "lost",
        "parser",
        "seen",
        "server",
        "transport",
        "writer",
    )

    def __init__(self, server: Server) -> None:
        self.server = server
        self.app = server.app
        self.parser = httptools.HttpRequestParser(self)
        self._queue: collections.deque[Request | _Refusal] = collections.deque()
        self._busy = False
        self._closing = False
        self._expect = False
        self._owe_continue = False
        self._reading = True
        self._in_head = False
        self._head_size = 0
        self._pending = 0
        self._body_size = 0
        self._refusal: Response | None = None
        self._url = b""
        self._fields: list[tuple[bytes, bytes]] = []
        self.body: list[bytes] | None = None
        self.lost = False
        self.seen = server.tick

    # -- transport callbacks --------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses; they have its methods.
        # Both loops turn Nagle's algorithm off on TCP transports.
        self.transport: asyncio.Transport = transport  # type: ignore[assignment]
        self.writer = TransportWriter(transport, zero_copy=self.server.zero_copy)
        self.server.connections.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self._closing = True
        self.lost = True
        self._queue.clear()
        self.writer.connection_lost(exc)
        self.server.connections.discard(self)

    def pause_writing(self) -> None:
        self.writer.pause_writing()

    def resume_writing(self) -> None:
        self.writer.resume_writing()

    def data_received(self, data: bytes) -> None:
        if self._closing:
            return
        self.seen = self.server.tick
        self._pending += len(data)
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._refuse(None)
            return
        except httptools.HttpParserError as exc:
            log.debug("bad request: %s", exc)
            self._refuse(_BAD_REQUEST)
            return
        if self._in_head or self._refusal is not None:
            # The head's size: what the parser handed over, or, for a head still unfinished,
            # every byte read since the last request ended (a header line that never ends
            # hands nothing over).
            limit = self.server.max_head_size
            if self._refusal is None and (self._head_size > limit or self._pending > limit):
                self._refusal = _TOO_LARGE_HEAD
            if self._refusal is not None:
                self._refuse(self._refusal)

    def _refuse(self, response: Response | None) -> None:
        """Read no more; answer ``response`` after the requests before it, then close.
        ``None``: the last request asked for a protocol switch; nothing more is answered."""
        self._closing = True
        if self._reading:
            self._reading = False
            self.transport.pause_reading()
        if response is None:
            # After an Upgrade or CONNECT request, answered (or being answered) already.
            if not self._busy:
                self._close()
            return
        if self._busy:
            self._queue.append(_Refusal(response))
        else:
            self._write_refusal(response)

    def _write_refusal(self, response: Response) -> None:
        self.writer.write_bytes(response, "GET", "1.1", False)
        self._close()

    # -- parser callbacks -----------------------------------------------------------------

    def on_url(self, url: bytes) -> None:
        self._in_head = True
        self._url += url
        self._head_size += len(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._head_size += len(name) + len(value) + 4
        self._fields.append((name, value))
        if len(name) == 6 and name.lower() == b"expect":
            self._expect = value.strip(b" \t").lower() == b"100-continue"

    def on_headers_complete(self) -> None:
        self._in_head = False
        if self._head_size > self.server.max_head_size:
            self._refusal = _TOO_LARGE_HEAD
        elif self._expect:
            self._expect = False
            self._expected()

    def _expected(self) -> None:
        """``Expect: 100-continue`` (RFC 9110 §10.1.1): the client may wait for a 100 before
        it sends the body. A body announced over the limit gets the final 413 at once; else
        the 100 goes out now, or once the responses ahead of this request are sent."""
        if self.parser.get_http_version() != "1.1":
            return
        limit = self.server.max_body_size
        for name, value in self._fields:
            declared = value.strip()
            if name.lower() == b"content-length" and declared.isdigit() and int(declared) > limit:
                self._refusal = _TOO_LARGE_BODY
                return
        if self._busy:
            self._owe_continue = True
        else:
            self.transport.write(_CONTINUE)

    def on_body(self, body: bytes) -> None:
        self._body_size += len(body)
        if self._body_size > self.server.max_body_size:
            self._refusal = _TOO_LARGE_BODY
        elif self.body is None:
            self.body = [body]
        else:
            self.body.append(body)

    def on_message_complete(self) -> None:
        parser = self.parser
        method = parser.get_method()
        request = Request(
            _METHODS.get(method) or method.decode("latin-1"),
            self._url,
            self._fields,
            parser.get_http_version(),
            parser.should_keep_alive(),
        )
        self._url = b""
        self._fields = []
        self._head_size = 0
        self._pending = 0
        self._owe_continue = False
        if parser.should_upgrade():
            # An Upgrade or CONNECT request: there is no protocol switch here. It is answered,
            # with Connection: close, then the connection closes (the parser stops after it).
            request.keep_alive = False
        if self.body is not None:
            request._body = self.body
            self.body = None
            self._body_size = 0
        if self._closing or self._refusal is not None:
            return
        if self._busy:
            queue = self._queue
            queue.append(request)
            if len(queue) > _MAX_QUEUED and self._reading:
                self._reading = False
                self.transport.pause_reading()
        else:
            self._answer(request)

    # -- answering ------------------------------------------------------------------------

    def _answer(self, request: Request) -> None:
        """Run the app for ``request`` and send what it answers; without a task when the app
        and the response need no waiting."""
        res: Response = _new(Response)
        try:
            coro = self.app(request, res)
            signal = coro.send(None)
        except StopIteration as stop:
            result = stop.value
        except Exception:
            log.exception("app raised for %r", request)
            result = _SERVER_ERROR
        else:
            self._busy = True
            self.server.spawn(self._finish(request, res, _Resume(coro, signal)))
            return
        response = res if result is None else self._chosen(request, result)
        if response._kind != 0:
            self._busy = True
            self.server.spawn(self._send(request, response))
            return
        writer = self.writer
        try:
            persist = writer.write_bytes(
                response, request.method, request.version, request.keep_alive, request._fields
            )
        except Exception:
            # Raised while framing, before anything was written.
            log.exception("the response to %r cannot be sent", request)
            persist = writer.write_bytes(_SERVER_ERROR, request.method, request.version, False)
        if not persist:
            self._close()

    def _chosen(self, request: Request, result: object) -> Response:
        if isinstance(result, Response):
            return result
        log.error(
            "app returned %s %r for %r; it must return a respcore Response or None",
            type(result).__name__,
            result,
            request,
        )
        return _SERVER_ERROR

    async def _finish(self, request: Request, res: Response, resume: _Resume) -> None:
        try:
            result = await resume
        except Exception:
            log.exception("app raised for %r", request)
            result = _SERVER_ERROR
        await self._send(request, res if result is None else self._chosen(request, result))

    async def _send(self, request: Request, response: Response) -> None:
        writer = self.writer
        try:
            persist = await writer.send(
                response,
                request.method,
                request.version,
                request.keep_alive,
                request.headers if response._kind == _FILE else request._fields,
            )
        except Exception:
            if self.lost or self.transport.is_closing():
                log.exception("sending the response to %r failed; connection aborted", request)
                persist = False
            else:
                # Nothing went out: the fault is answered with a 500.
                log.exception("the response to %r failed before its head was sent", request)
                persist = writer.write_bytes(_SERVER_ERROR, request.method, request.version, False)
        self._busy = False
        if not persist:
            self._close()
            return
        self.seen = self.server.tick
        queue = self._queue
        while queue and not self._busy and not self.lost:
            item = queue.popleft()
            if type(item) is _Refusal:
                self._write_refusal(item.response)
                return
            self._answer(item)  # type: ignore[arg-type]
        if self._busy or self.lost:
            return
        if self._closing:
            # After an Upgrade request, or a refusal already written: nothing more is read.
            self._close()
            return
        if self._owe_continue:
            self._owe_continue = False
            self.transport.write(_CONTINUE)
        if not self._reading:
            self._reading = True
            self.transport.resume_reading()

    def _close(self) -> None:
        self._closing = True
        self._queue.clear()
        self.transport.close()

    def close_if_idle(self) -> bool:
        """Close the connection unless a response is in progress; ``True`` if closed."""
        if self._busy or self._queue:
            return False
        self._close()
        return True


class Server:
    """A listening server (see :func:`start_server`). ``port`` is the port it listens on."""

    def __init__(
        self,
        app: App,
        *,
        max_head_size: int = 65536,
        max_body_size: int = 16 * 1024 * 1024,
        keep_alive_timeout: float = 5.0,
        zero_copy: bool = True,
    ) -> None:
        if not callable(app):
            raise TypeError(f"app must be an async function app(req, res), got {app!r}")
        for name, value in (("max_head_size", max_head_size), ("max_body_size", max_body_size)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive int, got {value!r}")
        if (
            isinstance(keep_alive_timeout, bool)
            or not isinstance(keep_alive_timeout, (int, float))
            or keep_alive_timeout <= 0
        ):
            raise ValueError(f"keep_alive_timeout must be seconds > 0, got {keep_alive_timeout!r}")
        self.app = app
        self.max_head_size = max_head_size
        self.max_body_size = max_body_size
        self.keep_alive_timeout = float(keep_alive_timeout)
        self.zero_copy = zero_copy
        self.connections: set[_Connection] = set()
        # The sweep's clock, in ticks: a connection notes the tick of its last read.
        self.tick = 0
        self.tasks: set[asyncio.Task[None]] = set()
        self._sweep_every = min(1.0, self.keep_alive_timeout / 4)
        self._sweeper: asyncio.TimerHandle | None = None
        self._listener: asyncio.base_events.Server | None = None
        self.host = ""
        self.port = 0

    def spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def listen(self, host: str, port: int) -> None:
        loop = asyncio.get_running_loop()
        listener = await loop.create_server(
            lambda: _Connection(self), host, port, backlog=2048, reuse_address=True
        )
        self._listener = listener
        self.host, self.port = listener.sockets[0].getsockname()[:2]
        self._sweeper = loop.call_later(self._sweep_every, self._sweep)

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def _sweep(self) -> None:
        """Close connections that read nothing for ``keep_alive_timeout`` while no response
        was in progress (idle keep-alive connections, and heads that never finish)."""
        self.tick += 1
        limit = self.tick - max(1, round(self.keep_alive_timeout / self._sweep_every))
        for connection in list(self.connections):
            if connection.seen <= limit:
                connection.close_if_idle()
        self._sweeper = asyncio.get_running_loop().call_later(self._sweep_every, self._sweep)

    async def shutdown(self, grace: float = 10.0) -> None:
        """Stop listening, close idle connections, give responses in flight ``grace``
        seconds to finish, then close what is left."""
        if self._listener is not None:
            self._listener.close()
        if self._sweeper is not None:
            self._sweeper.cancel()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + grace
        while True:
            busy = [c for c in list(self.connections) if not c.close_if_idle()]
            if not busy or loop.time() >= deadline:
                break
            await asyncio.sleep(0.05)
        for connection in list(self.connections):
            # A reset: a response cut here must not read as complete.
            reset(connection.transport)
        for task in list(self.tasks):
            task.cancel()
        if self.tasks:
            await asyncio.wait(list(self.tasks), timeout=1.0)
        if self._listener is not None:
            await self._listener.wait_closed()


async def start_server(
    app: App, host: str = "127.0.0.1", port: int = 8000, **options: Any
) -> Server:
    """Start serving ``app`` on the running loop; return the :class:`Server` (``port=0``
    picks a free port: read ``server.port``). Options: ``max_head_size`` (bytes of request
    head, default 64 KiB, larger → 431), ``max_body_size`` (default 16 MiB, larger → 413),
    ``keep_alive_timeout`` (seconds an idle connection is kept, default 5), ``zero_copy``."""
    server = Server(app, **options)
    await server.listen(host, port)
    return server


def _new_loop() -> asyncio.AbstractEventLoop:
    try:
        import uvloop
    except ImportError:  # pragma: no cover - platforms without uvloop
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


def serve(app: App, host: str = "127.0.0.1", port: int = 8000, **options: Any) -> None:
    """Serve ``app`` on uvloop until SIGINT or SIGTERM, then shut down cleanly (see
    :meth:`Server.shutdown`). Logs the address it listens on."""
    loop = _new_loop()
    asyncio.set_event_loop(loop)
    try:
        loop.run_until_complete(_serve(app, host, port, options))
    finally:
        loop.run_until_complete(loop.shutdown_asyncgens())
        asyncio.set_event_loop(None)
        loop.close()


async def _serve(app: App, host: str, port: int, options: dict[str, Any]) -> None:
    loop = asyncio.get_running_loop()
    server = await start_server(app, host, port, **options)
    stop = asyncio.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(signum, stop.set)
    log.info("respcore serving on %s (press Ctrl+C to stop)", server.url)
    sys.stderr.flush()
    try:
        await stop.wait()
    finally:
        log.info("respcore shutting down")
        await server.shutdown()
