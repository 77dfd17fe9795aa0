# cython: language_level=3, boundscheck=False, wraparound=False
"""Compiled twin of ``respcore._pyprotocol``: the server's per-request path (the request
object, the httptools callbacks, the call into the app, the one write of a bytes response).

Read ``respcore._pyprotocol`` for what each step does and why; this file does the same
steps in the same order. What differs is only how: typed state, a request built without
``__init__``, and the app's coroutine stepped with ``PyIter_Send``, which gives the value it
returns without raising ``StopIteration``.
"""

from cpython.object cimport PyObject
from cpython.ref cimport Py_XDECREF

import collections
import logging
import time
from urllib.parse import unquote

import httptools

from respcore import _background
from respcore._pyprotocol import (
    BAD_REQUEST,
    HOST_OCTETS,
    SERVER_ERROR,
    TOO_LARGE_BODY,
    TOO_LARGE_HEAD,
    head_fault,
)
from respcore.compression import accept_encoding as _accept_encoding
from respcore.framing import HEADS, plain_head
from respcore.headers import parsed_headers
from respcore.responses import Response

cdef extern from "Python.h":
    ctypedef enum PySendResult:
        PYGEN_RETURN
        PYGEN_ERROR
        PYGEN_NEXT
    PySendResult PyIter_Send(object iter, object arg, PyObject **presult) except PYGEN_ERROR
    bint PyCoro_CheckExact(object op)

log = logging.getLogger("respcore.server")

cdef Py_ssize_t _MAX_QUEUED = 32
cdef dict _METHODS = {
    m.encode(): m for m in ("GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH")
}
cdef object _new = object.__new__
cdef object _time = time.time
cdef object _ParserError = httptools.HttpParserError
cdef object _ParserUpgrade = httptools.HttpParserUpgrade
cdef object _HEADS = HEADS
cdef object _plain_head = plain_head
cdef object _start = _background.start
# HOST_OCTETS as a table, consulted byte by byte.
cdef unsigned char _HOST_OK[256]
for _c in range(256):
    _HOST_OK[_c] = _c in HOST_OCTETS


cdef inline bint _host_ok(bytes value):
    cdef const unsigned char* p = <const unsigned char*>(<char*>value)
    cdef Py_ssize_t i
    for i in range(len(value)):
        if not _HOST_OK[p[i]]:
            return False
    return True


cdef class Request:
    """What the app gets as ``req``: ``method``, ``path`` (percent-decoded), ``raw_path``,
    ``query_string`` (undecoded), ``headers`` (a :class:`Headers`), ``version`` (``"1.0"``
    or ``"1.1"``), ``keep_alive``, and ``await req.body()``."""

    cdef public object method
    cdef public bytes url
    cdef public object version
    cdef public bint keep_alive
    cdef public list _fields
    cdef public object _headers
    cdef public object _body
    cdef public object _path
    cdef public str _query

    def __init__(self, method, url, fields, version, keep_alive):
        self.method = method
        self.url = url
        self._fields = fields
        self._headers = None
        self.version = version
        self.keep_alive = keep_alive
        self._body = b""
        self._path = None
        self._query = ""

    cdef bytes _split(self):
        cdef bytes url = self.url
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
    def raw_path(self):
        return self._path if self._path is not None else self._split()

    @property
    def path(self):
        return unquote(self.raw_path.decode("latin-1"), errors="surrogateescape")

    @property
    def query_string(self):
        if self._path is None:
            self._split()
        return self._query

    @property
    def headers(self):
        headers = self._headers
        if headers is None:
            # The parser has checked the fields; they are not checked again.
            headers = self._headers = parsed_headers(self._fields)
        return headers

    async def body(self):
        """The whole request body (the request was read to its end before the app ran)."""
        body = self._body
        if not isinstance(body, bytes):
            body = self._body = b"".join(body)
        return body

    def __repr__(self):
        return f"<Request {self.method} {self.url.decode('latin-1')!r} HTTP/{self.version}>"


cdef class Core:
    """One client connection's per-request path (see ``respcore._pyprotocol.Core``)."""

    cdef public Py_ssize_t _body_size
    cdef public object _body_since
    cdef public bint _busy
    cdef Py_ssize_t _hosts
    cdef bint _bad_host
    cdef bint _transfer_encoding
    cdef public bint _closing
    # A Connection or Proxy-Connection field in the head being read (llhttp reads both).
    cdef bint _connection_field
    cdef public bint _expect
    cdef public list _fields
    cdef public object _head_since
    cdef public Py_ssize_t _head_size
    cdef public bint _in_head
    cdef public bint _owe_continue
    cdef public Py_ssize_t _pending
    cdef public object _queue
    cdef public bint _reading
    cdef public object _refusal
    cdef public bytes _url
    cdef public bint access_log
    cdef public object app
    cdef public object body
    cdef public bint lost
    cdef public Py_ssize_t max_body_size
    cdef public Py_ssize_t max_head_size
    cdef public object parser
    cdef public object seen
    cdef public object server
    cdef public object writer
    cdef object _transport
    # Bound methods looked up once per connection, not once per request.
    cdef object _write
    cdef object _get_method
    cdef object _get_version
    cdef object _keep_alive
    cdef object _upgrade

    def __init__(self, server):
        self.server = server
        self.app = server.app
        self.max_head_size = server.max_head_size
        self.max_body_size = server.max_body_size
        self.access_log = server.access_log
        self.parser = parser = httptools.HttpRequestParser(self)
        self._get_method = parser.get_method
        self._get_version = parser.get_http_version
        self._keep_alive = parser.should_keep_alive
        self._upgrade = parser.should_upgrade
        self._queue = collections.deque()
        self._busy = False
        self._closing = False
        self._connection_field = False
        self._expect = False
        self._owe_continue = False
        self._reading = True
        self._in_head = False
        self._head_size = 0
        self._head_since = -1
        self._body_since = -1
        self._hosts = 0
        self._bad_host = False
        self._transfer_encoding = False
        self._pending = 0
        self._body_size = 0
        self._refusal = None
        self._url = b""
        self._fields = []
        self.body = None
        self.lost = False
        self.seen = server.tick
        self._transport = None
        self._write = None
        self.writer = None

    @property
    def transport(self):
        return self._transport

    @transport.setter
    def transport(self, transport):
        self._transport = transport
        self._write = transport.write

    # -- reading --------------------------------------------------------------------------

    def data_received(self, bytes data):
        if self._closing:
            return
        self.seen = self.server.tick
        if self._pending == 0:
            self._head_since = self.seen
        self._pending += len(data)
        try:
            self.parser.feed_data(data)
        except _ParserUpgrade:
            (<object>self)._refuse(None)
            return
        except _ParserError as exc:
            log.debug("bad request: %s", exc)
            (<object>self)._refuse(BAD_REQUEST)
            return
        cdef Py_ssize_t limit
        if self._in_head or self._refusal is not None:
            # The head's size: what the parser handed over, or, for a head still unfinished,
            # every byte read since the last request ended.
            limit = self.max_head_size
            if self._refusal is None and (self._head_size > limit or self._pending > limit):
                self._refusal = TOO_LARGE_HEAD
            if self._refusal is not None:
                (<object>self)._refuse(self._refusal)

    # -- parser callbacks -----------------------------------------------------------------

    def on_url(self, bytes url):
        self._in_head = True
        self._url += url
        self._head_size += len(url)

    def on_header(self, bytes name, bytes value):
        self._head_size += len(name) + len(value) + 4
        self._fields.append((name, value))
        cdef Py_ssize_t size = len(name)
        if size == 4 and name.lower() == b"host":
            self._hosts += 1
            if not _host_ok(value):
                self._bad_host = True
        elif size == 17 and name.lower() == b"transfer-encoding":
            self._transfer_encoding = True
        elif size == 6 and name.lower() == b"expect":
            self._expect = value.strip(b" \t").lower() == b"100-continue"
        elif (size == 10 or size == 16) and not self._connection_field:
            lowered = name.lower()
            self._connection_field = lowered == b"connection" or lowered == b"proxy-connection"

    def on_headers_complete(self):
        self._in_head = False
        self._head_since = -1
        self._body_since = self.seen
        if self._hosts != 1 or self._bad_host or self._transfer_encoding:
            fault = head_fault(
                self._hosts, self._bad_host, self._transfer_encoding, self._get_version()
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
            (<object>self)._expected()

    def on_body(self, bytes body):
        self._body_size += len(body)
        if self._body_size > self.max_body_size:
            self._refusal = TOO_LARGE_BODY
        elif self.body is None:
            self.body = [body]
        else:
            self.body.append(body)

    def on_message_complete(self):
        method = self._get_method()
        cdef Request request = Request.__new__(Request)
        request.method = _METHODS.get(method) or method.decode("latin-1")
        request.url = self._url
        request._fields = self._fields
        request._headers = None
        keep_alive = self._keep_alive()
        # llhttp keeps a connection alive without a Connection field only for HTTP/1.1 (the
        # one version it accepts with a minor number above 0): the version is known without
        # asking the parser to format it, the costliest call of a request.
        if keep_alive and not self._connection_field:
            request.version = "1.1"
        else:
            request.version = self._get_version()
        request.keep_alive = keep_alive
        request._body = b""
        request._path = None
        request._query = ""
        self._url = b""
        self._fields = []
        self._head_size = 0
        self._pending = 0
        self._body_since = -1
        self._owe_continue = False
        # llhttp's upgrade: a CONNECT, or an Upgrade that a Connection field names.
        if (self._connection_field or method == b"CONNECT") and self._upgrade():
            # An Upgrade or CONNECT request: answered with Connection: close, then closed.
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
                self._transport.pause_reading()
        else:
            self._answer(request)

    # -- answering ------------------------------------------------------------------------

    def _answer(self, Request request):
        """Run the app for ``request`` and send what it answers; without a task when the app
        and the response need no waiting."""
        cdef PyObject *out = NULL
        cdef PySendResult step
        cdef bint persist
        res = _new(Response)
        try:
            coro = self.app(request, res)
            if PyCoro_CheckExact(coro):
                step = PyIter_Send(coro, None, &out)
                value = <object>out
                Py_XDECREF(out)
            else:
                try:
                    value = coro.send(None)
                    step = PYGEN_NEXT
                except StopIteration as stop:
                    value = stop.value
                    step = PYGEN_RETURN
        except Exception:
            log.exception("app raised for %r", request)
            value = SERVER_ERROR
            step = PYGEN_RETURN
        if step == PYGEN_NEXT:
            self._busy = True
            self.server.spawn((<object>self)._finish(request, res, coro, value))
            return
        response = res if value is None else self._chosen(request, value)
        if response._kind != 0:
            self._busy = True
            self.server.spawn((<object>self)._send(request, response))
            return
        try:
            data = _wire(
                response, request.method, request.version, request.keep_alive, request._fields,
                &persist,
            )
        except Exception:
            # Raised while framing, before anything was written.
            log.exception("the response to %r cannot be sent", request)
            response = SERVER_ERROR
            data = _wire(
                response, request.method, request.version, False, request._fields, &persist
            )
        if self.lost:
            return
        self._write(data)
        background = response._background
        if background is not None:
            _start(background)
        if self.access_log:
            (<object>self)._log_access(request, response._status, len(response._body))
        if not persist:
            (<object>self)._close()

    def _chosen(self, request, result):
        if isinstance(result, Response):
            return result
        log.error(
            "app returned %s %r for %r; it must return a respcore Response or None",
            type(result).__name__,
            result,
            request,
        )
        return SERVER_ERROR


cdef bytes _wire(response, method, version, bint keep_alive, list fields, bint *persist):
    """A bytes response's whole message; ``persist``: whether the connection may persist.
    Under a compression policy the request's Accept-Encoding chooses the coding."""
    if response._compression:
        data, persist[0] = response._wire(method, version, keep_alive, _accept_encoding(fields))
        return data
    if response._headers is not None:
        data, persist[0] = response._wire(method, version, keep_alive)
        return data
    cdef bytes body = response._body
    key = (response._status, response._content_type, len(body), method, version, keep_alive)
    entry = _HEADS.heads.get(key) if _time() < _HEADS.expires else None
    if entry is None:
        entry = _plain_head(key)
    delimit, head = entry
    persist[0] = keep_alive
    if delimit == "length" or delimit == "close":
        return head + body
    if delimit == "none":
        return head
    data, persist[0] = response._wire(method, version, keep_alive)
    return data
