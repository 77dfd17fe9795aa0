"""The per-request path of respcore's server, in plain Python: the request object, the
httptools callbacks, the call into the app and the single write of a bytes response.

``respcore._protocol`` is the compiled twin; ``respcore.protocol`` picks one. Both behave the
same for every input: the whole test suite runs on each. What is not a per-request cost for a
bytes body (streams, files, refusals, 100-continue, shutdown) is in ``respcore.server``, in
the connection class built on :class:`Core`.
"""

from __future__ import annotations

import collections
import logging
import time
from typing import TYPE_CHECKING, Any, Union
from urllib.parse import unquote

import httptools

from . import _background
from .compression import accept_encoding
from .framing import HEADS, plain_head
from .headers import Headers, parsed_headers
from .responses import Response, TextResponse

if TYPE_CHECKING:
    import asyncio

    from .writer import TransportWriter

__all__ = [
    "BAD_REQUEST",
    "HOST_OCTETS",
    "SERVER_ERROR",
    "TOO_LARGE_BODY",
    "TOO_LARGE_HEAD",
    "Core",
    "Refusal",
    "Request",
    "head_fault",
]

log = logging.getLogger("respcore.server")

BAD_REQUEST = TextResponse("Bad Request\n", 400)
TOO_LARGE_HEAD = TextResponse("Request Header Fields Too Large\n", 431)
TOO_LARGE_BODY = TextResponse("Content Too Large\n", 413)
SERVER_ERROR = TextResponse("Internal Server Error\n", 500)

# How many complete requests a connection may queue behind the one being answered before
# the server stops reading from it.
_MAX_QUEUED = 32
# RFC 9112 §3.2 / RFC 3986 §3.2.2: the octets a Host value (uri-host [":" port]) is made of.
HOST_OCTETS = frozenset(
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~%!$&'()*+,;=:[]"
)


def head_fault(hosts: int, bad_host: bool, transfer_encoding: bool, version: str) -> str | None:
    """What makes a request head unacceptable as a whole, or None; both protocols ask this
    once a head is complete and something in it was unusual."""
    if hosts > 1:
        return "more than one Host field (RFC 9112 §3.2)"
    if bad_host:
        return "a Host value that is not a host (RFC 9112 §3.2)"
    if hosts == 0 and version == "1.1":
        return "an HTTP/1.1 request without Host (RFC 9112 §3.2)"
    if transfer_encoding and version == "1.0":
        return "Transfer-Encoding in an HTTP/1.0 request: its framing is faulty (RFC 9112 §6.1)"
    return None


_METHODS = {m.encode(): m for m in ("GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH")}
_new = object.__new__
_time = time.time


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


class Refusal:
    """A queued answer to a request that cannot be served; the connection closes after it."""

    __slots__ = ("response",)

    def __init__(self, response: Response) -> None:
        self.response = response


class Core:
    """One client connection's per-request path. Parser callbacks collect a request; a
    complete request is answered at once when nothing is ahead of it, else queued behind the
    one in progress. A bytes response is framed and written here, in one ``transport.write``.

    The server's connection class adds the rest and must define ``_refuse(response)``,
    ``_expected()``, ``_close()``, ``_finish(request, res, coro, signal)``, ``_send(request,
    response)`` (both coroutines, spawned in a task) and ``_log_access(request, status,
    size)`` (called only when ``access_log`` is true).
    """

    __slots__ = (
        "_bad_host",
        "_body_since",
        "_body_size",
        "_busy",
        "_closing",
        "_connection_field",
        "_expect",
        "_fields",
        "_head_since",
        "_head_size",
        "_hosts",
        "_in_head",
        "_owe_continue",
        "_pending",
        "_queue",
        "_reading",
        "_refusal",
        "_transfer_encoding",
        "_url",
        "access_log",
        "app",
        "body",
        "lost",
        "max_body_size",
        "max_head_size",
        "parser",
        "seen",
        "server",
        "transport",
        "writer",
    )

    # Set by connection_made in the server's connection class.
    transport: asyncio.Transport
    writer: TransportWriter

    def __init__(self, server: Any) -> None:
        self.server = server
        self.app = server.app
        self.max_head_size: int = server.max_head_size
        self.max_body_size: int = server.max_body_size
        self.access_log: bool = server.access_log
        self.parser = httptools.HttpRequestParser(self)
        self._queue: collections.deque[Union[Request, Refusal]] = collections.deque()
        self._busy = False
        self._closing = False
        # A Connection or Proxy-Connection field in the head being read (llhttp reads both).
        self._connection_field = False
        self._expect = False
        self._owe_continue = False
        self._reading = True
        self._in_head = False
        self._head_size = 0
        # The sweep's tick when the head being read began (-1: none is being read), and when
        # the body being read began (-1: none).
        self._head_since = -1
        self._body_since = -1
        # What the head being read says of its Host and Transfer-Encoding fields.
        self._hosts = 0
        self._bad_host = False
        self._transfer_encoding = False
        self._pending = 0
        self._body_size = 0
        self._refusal: Response | None = None
        self._url = b""
        self._fields: list[tuple[bytes, bytes]] = []
        self.body: list[bytes] | None = None
        self.lost = False
        self.seen: int = server.tick

    # -- what the server's connection class provides --------------------------------------

    if TYPE_CHECKING:

        def _refuse(self, response: Response | None) -> None: ...
        def _expected(self) -> None: ...
        def _close(self) -> None: ...
        async def _finish(self, request: Request, res: Response, coro: Any, signal: Any) -> None:
            pass

        async def _send(self, request: Request, response: Response) -> None: ...
        def _log_access(self, request: Request, status: int, size: int | None) -> None: ...

    # -- reading --------------------------------------------------------------------------

    def data_received(self, data: bytes) -> None:
        if self._closing:
            return
        self.seen = self.server.tick
        if self._pending == 0:
            self._head_since = self.seen
        self._pending += len(data)
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._refuse(None)
            return
        except httptools.HttpParserError as exc:
            log.debug("bad request: %s", exc)
            self._refuse(BAD_REQUEST)
            return
        if self._in_head or self._refusal is not None:
            # The head's size: what the parser handed over, or, for a head still unfinished,
            # every byte read since the last request ended (a header line that never ends
            # hands nothing over).
            limit = self.max_head_size
            if self._refusal is None and (self._head_size > limit or self._pending > limit):
                self._refusal = TOO_LARGE_HEAD
            if self._refusal is not None:
                self._refuse(self._refusal)

    # -- parser callbacks -----------------------------------------------------------------

    def on_url(self, url: bytes) -> None:
        self._in_head = True
        self._url += url
        self._head_size += len(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._head_size += len(name) + len(value) + 4
        self._fields.append((name, value))
        size = len(name)
        if size == 4 and name.lower() == b"host":
            self._hosts += 1
            if not HOST_OCTETS.issuperset(value):
                self._bad_host = True
        elif size == 17 and name.lower() == b"transfer-encoding":
            self._transfer_encoding = True
        elif size == 6 and name.lower() == b"expect":
            self._expect = value.strip(b" \t").lower() == b"100-continue"
        elif (size == 10 or size == 16) and not self._connection_field:
            lowered = name.lower()
            self._connection_field = lowered == b"connection" or lowered == b"proxy-connection"

    def on_headers_complete(self) -> None:
        self._in_head = False
        self._head_since = -1
        self._body_since = self.seen
        if self._hosts != 1 or self._bad_host or self._transfer_encoding:
            fault = head_fault(
                self._hosts,
                self._bad_host,
                self._transfer_encoding,
                self.parser.get_http_version(),
            )
            self._hosts = 0
            self._bad_host = self._transfer_encoding = False
            if fault is not None:
                log.debug("bad request: %s", fault)
                self._refusal = BAD_REQUEST
                return
        self._hosts = 0
        if self._head_size > self.max_head_size:
            self._refusal = TOO_LARGE_HEAD
        elif self._expect:
            self._expect = False
            self._expected()

    def on_body(self, body: bytes) -> None:
        self._body_size += len(body)
        if self._body_size > self.max_body_size:
            self._refusal = TOO_LARGE_BODY
        elif self.body is None:
            self.body = [body]
        else:
            self.body.append(body)

    def on_message_complete(self) -> None:
        parser = self.parser
        method = parser.get_method()
        keep_alive = parser.should_keep_alive()
        request = Request(
            _METHODS.get(method) or method.decode("latin-1"),
            self._url,
            self._fields,
            # llhttp keeps a connection alive without a Connection field only for HTTP/1.1
            # (the one version it accepts with a minor number above 0): then the version is
            # known without asking the parser to format it, the costliest call here.
            "1.1" if keep_alive and not self._connection_field else parser.get_http_version(),
            keep_alive,
        )
        self._url = b""
        self._fields = []
        self._head_size = 0
        self._pending = 0
        self._body_since = -1
        self._owe_continue = False
        # llhttp's upgrade: a CONNECT, or an Upgrade that a Connection field names.
        if (self._connection_field or method == b"CONNECT") and parser.should_upgrade():
            # An Upgrade or CONNECT request: there is no protocol switch here. It is answered,
            # with Connection: close, then the connection closes (the parser stops after it).
            request.keep_alive = False
        self._connection_field = False
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
            result = SERVER_ERROR
        else:
            self._busy = True
            self.server.spawn(self._finish(request, res, coro, signal))
            return
        response = res if result is None else self._chosen(request, result)
        if response._kind != 0:
            self._busy = True
            self.server.spawn(self._send(request, response))
            return
        try:
            data, persist = _wire(
                response, request.method, request.version, request.keep_alive, request._fields
            )
        except Exception:
            # Raised while framing, before anything was written.
            log.exception("the response to %r cannot be sent", request)
            response = SERVER_ERROR
            data, persist = _wire(response, request.method, request.version, False, request._fields)
        if self.lost:
            return
        self.transport.write(data)
        if response._background is not None:
            _background.start(response._background)
        if self.access_log:
            self._log_access(request, response._status, len(response._body))
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
        return SERVER_ERROR


def _wire(
    response: Response,
    method: str,
    version: str,
    keep_alive: bool,
    fields: list[tuple[bytes, bytes]],
) -> tuple[bytes, bool]:
    """A bytes response's whole message and whether the connection may persist: from the
    cache of plain heads when its only field is a Content-Type, else ``Response._wire``.
    Under a compression policy the request's Accept-Encoding (read from its ``fields``)
    chooses the coding."""
    if response._compression:
        return response._wire(method, version, keep_alive, accept_encoding(fields))
    if response._headers is not None:
        return response._wire(method, version, keep_alive)
    body = response._body
    key = (response._status, response._content_type, len(body), method, version, keep_alive)
    entry = HEADS.heads.get(key) if _time() < HEADS.expires else None
    delimit, head = plain_head(key) if entry is None else entry
    if delimit == "length" or delimit == "close":
        return head + body, keep_alive
    if delimit == "none":
        return head, keep_alive
    return response._wire(method, version, keep_alive)
