"""Responses: ``Response`` for both styles (return one, or mutate ``res``), and the
convenience constructors over it.

A response holds a status, header fields and one body: bytes, a stream or a file. Sending it
(``encode()``, or the ASGI call) asks :func:`respcore.framing.decide` how to frame it and never
changes the response, so the same object can be sent again.
"""

from __future__ import annotations

import asyncio
import datetime
import errno
import functools
import inspect
import json
import mimetypes
import os
import stat
import time
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterable
from typing import Any, ClassVar, Literal, Union, overload
from urllib.parse import quote

from . import _background, asgi, sse
from ._background import Background, check_background
from ._bodies import as_bytes
from ._date import format_http_date
from ._rules import check_status
from .compression import (
    CODINGS,
    Compression,
    StreamCoder,
    accept_encoding,
    check_compression,
    coded_fields,
    coded_stream,
    precompressed_sibling,
    vary_fields,
)
from .cookies import delete_cookie_value, set_cookie_value
from .encoder import LAST_CHUNK, check_field, content_disposition, encode_chunk, encode_head
from .framing import HEADS, BodyKind, Framing, decide, plain_head, plan
from .headers import Headers, HeadersInit, parsed_headers
from .ranges import FileSelection, select
from .trailers import Trailers, check_trailers
from .trailers import trailer_fields as check_trailer_fields

__all__ = [
    "EventSourceResponse",
    "FileResponse",
    "HTMLResponse",
    "HtmlResponse",
    "JSONResponse",
    "JsonDumps",
    "JsonResponse",
    "PlainTextResponse",
    "RedirectResponse",
    "Response",
    "StreamSource",
    "StreamingResponse",
    "TextResponse",
    "set_default_compression",
    "set_json_dumps",
]

Chunk = Union[str, bytes]
StreamFunction = Callable[[], AsyncIterator[Any]]
StreamSource = Union[StreamFunction, AsyncIterable[Any], Iterable[Any]]
JsonDumps = Callable[[Any], Union[str, bytes]]

TEXT = "text/plain; charset=utf-8"
HTML = "text/html; charset=utf-8"
JSON = "application/json"
_time = time.time
_OK = 200
_URL_SAFE = ":/?#[]@!$&'()*+,;=%~"


# -- JSON --------------------------------------------------------------------------------------


def _default(value: object) -> object:
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


# Compact UTF-8 JSON: ensure_ascii=False, no spaces, no NaN (not JSON, RFC 8259 §6). The C
# encoder of the standard library is built once and reused: building a JSONEncoder per call
# costs more than encoding a small document. markers=None: no per-call dict of ids, so a
# cycle ends in RecursionError.
_c_make_encoder = getattr(json.encoder, "c_make_encoder", None)
if _c_make_encoder is not None:
    _c_encode = _c_make_encoder(
        None, _default, json.encoder.encode_basestring, None, ":", ",", False, False, False
    )

else:  # pragma: no cover - CPython always has the C encoder
    _encoder = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False)

    def _c_encode(value: Any, level: int) -> list[str]:
        return [_encoder.encode(value)]


def _std_dumps(value: Any) -> str:
    return "".join(_c_encode(value, 0))


_dumps: JsonDumps = _std_dumps


def set_json_dumps(dumps: JsonDumps | None) -> JsonDumps:
    """Make ``dumps`` the module-wide JSON serializer (``None`` restores the standard one);
    return the previous one. ``dumps(value)`` may return str or bytes (e.g. ``orjson.dumps``).
    A response's own ``dumps=`` takes precedence."""
    global _dumps
    if dumps is not None and not callable(dumps):
        raise TypeError(f"dumps must be callable or None, got {type(dumps).__name__}")
    previous = _dumps
    _dumps = _std_dumps if dumps is None else dumps
    return previous


def _json_bytes(data: Any, dumps: JsonDumps | None) -> bytes:
    try:
        out = (dumps or _dumps)(data)
    except (TypeError, ValueError, RecursionError) as exc:
        raise TypeError(f"json: the value cannot be serialized: {exc}") from exc
    if type(out) is bytes:
        return out
    return _json_out(out)


def _json_out(out: object) -> bytes:
    if isinstance(out, str):
        return out.encode("utf-8")
    if isinstance(out, (bytes, bytearray, memoryview)):
        return bytes(out)
    raise TypeError(f"json: dumps returned {type(out).__name__}, expected str or bytes")


# -- compression (compression.py) -------------------------------------------------------------


def set_default_compression(policy: Compression | None) -> Compression | None:
    """Make ``policy`` the module-wide compression policy (``None``: no compression, the
    default); return the previous one. A response's own ``compression`` takes precedence
    (``False`` refuses compression whatever the default)."""
    if policy is not None and not isinstance(policy, Compression):
        raise TypeError(
            f"set_default_compression takes a Compression or None, got {type(policy).__name__}"
        )
    previous = Response._compression
    # The default is the class attribute every response reads until it sets its own: the
    # sending paths look at one attribute whether or not compression is in force.
    Response._compression = policy
    return previous if isinstance(previous, Compression) else None


# -- checks ------------------------------------------------------------------------------------


def _check_status(value: object) -> int:
    if type(value) is int and 100 <= value <= 999:
        return value
    return check_status(value, "status_code")


def _content_bytes(value: object, field: str) -> bytes:
    data = as_bytes(value)
    if data is None:
        raise TypeError(f"{field} must be bytes or str, got {type(value).__name__} {value!r}")
    return data


def _check_stream_function(fn: object) -> None:
    if not inspect.isasyncgenfunction(fn):
        raise TypeError(f"stream must be a no-argument async generator function, got {fn!r}")
    required = [
        param.name
        for param in inspect.signature(fn).parameters.values()
        if param.default is param.empty
        and param.kind in (param.POSITIONAL_ONLY, param.POSITIONAL_OR_KEYWORD, param.KEYWORD_ONLY)
    ]
    if required:
        raise TypeError(
            f"stream must be a no-argument async generator function; {fn!r} requires "
            f"{', '.join(required)}"
        )


def _check_timeout(value: object, field: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise TypeError(f"{field} must be seconds (a number >= 0) or None, got {value!r}")
    return float(value)


class _Sequence:
    """A plain iterable of chunks as an async iterator (iterated on the event loop)."""

    __slots__ = ("_items",)

    def __init__(self, items: Iterable[Any]) -> None:
        self._items = iter(items)

    def __aiter__(self) -> _Sequence:
        return self

    async def __anext__(self) -> Any:
        for item in self._items:
            return item
        raise StopAsyncIteration


def _opener(source: StreamSource) -> StreamFunction:
    """A function that starts one pass over ``source``."""
    if inspect.isasyncgenfunction(source):
        return source
    if isinstance(source, AsyncIterable):
        iterable = source
        return lambda: aiter(iterable)
    if isinstance(source, Iterable) and not isinstance(source, (str, bytes, bytearray)):
        items = source
        return lambda: _Sequence(items)
    raise TypeError(
        "stream must be an async generator function, an async iterable or an iterable of str "
        f"or bytes, got {type(source).__name__}"
    )


class _File:
    __slots__ = ("chunk_size", "path", "precompressed")

    def __init__(self, path: str, chunk_size: int, precompressed: bool) -> None:
        self.path = path
        self.chunk_size = chunk_size
        self.precompressed = precompressed


def _etag(st: os.stat_result) -> str:
    # Strong: the bytes change whenever size or modification time does (RFC 9110 §8.8.3).
    return f'"{st.st_mtime_ns:x}-{st.st_size:x}"'


# -- Response ----------------------------------------------------------------------------------

_BYTES = 0
_STREAM = 1
_FILE = 2


class Response:
    """A response: status, headers and one body (bytes, a stream or a file).

    ``Response(content=None, status_code=200, headers=None, media_type=None)``. ``media_type``
    becomes Content-Type unless ``headers`` carry one (``text/*`` gets ``charset=utf-8``).
    """

    media_type: ClassVar[str | None] = None

    # Defaults of what most responses never set, read from the class until set.
    _status = 200
    _headers: Headers | None = None
    _content_type: str | None = None
    _kind = _BYTES
    _body = b""
    _stream: StreamFunction | None = None
    _file: _File | None = None
    _attachment: str | None = None
    dumps: JsonDumps | None = None
    chunk_timeout: float | None = None
    complete_timeout: float | None = None
    raise_on_disconnect = False
    # Run by every sending path after the last byte went to the transport (_background.py).
    _background: Background | None = None
    # Called after a chunked stream's last chunk for its trailer fields (trailers.py).
    _trailers: Trailers | None = None
    # The compression policy: the response's own, False (never), or the module-wide default
    # (this class attribute, set by set_default_compression).
    _compression: Compression | Literal[False] | None = None

    def __init__(
        self,
        content: bytes | str | None = None,
        status_code: int = 200,
        headers: HeadersInit = None,
        media_type: str | None = None,
        background: Background | None = None,
        compression: Compression | Literal[False] | None = None,
    ) -> None:
        if status_code is not _OK:
            self._status = _check_status(status_code)
        if headers is not None:
            self._headers = Headers(headers)
        if content is not None:
            self._body = _content_bytes(content, "content")
        media = self.media_type if media_type is None else media_type
        if media is not None:
            self._set_media_type(media)
        if background is not None:
            self._background = check_background(background)
        if compression is not None:
            self.compression = compression

    def _set_media_type(self, media: str) -> None:
        # An explicit Content-Type in ``headers`` wins over the media type.
        if self._headers is None or "content-type" not in self._headers:
            if media.startswith("text/") and "charset" not in media:
                media += "; charset=utf-8"
            self._content_type = media

    # -- background work ------------------------------------------------------------------

    @property
    def background(self) -> Background | None:
        """A no-argument callable (sync or async) run after the response's last byte went to
        the transport, on every sending path; never after an abort. What it raises is
        logged, never sent. ``None`` (the default): nothing runs."""
        return self._background

    @background.setter
    def background(self, fn: Background | None) -> None:
        self._background = check_background(fn)

    # -- compression (compression.py) ----------------------------------------------------

    @property
    def compression(self) -> Compression | Literal[False] | None:
        """The compression policy in force: the response's own ``Compression``, ``False``
        (never compressed), or the module-wide default (see :func:`set_default_compression`;
        ``None`` when there is none). Setting ``None`` returns to the default."""
        return self._compression

    @compression.setter
    def compression(self, value: Compression | Literal[False] | None) -> None:
        policy = check_compression(value)
        if policy is None:
            self.__dict__.pop("_compression", None)
        else:
            self._compression = policy  # type: ignore[assignment]

    def _coded_body(
        self, policy: Compression, accept: str | None
    ) -> tuple[list[tuple[str, str]], bytes]:
        """The fields and body a bytes response sends to a request accepting ``accept``."""
        fields = self._fields()
        body = self._body
        eligible, coding = policy.choose(self._status, fields, len(body), accept)
        if coding is not None:
            return coded_fields(fields, coding), policy.compress(coding, body)
        return (vary_fields(fields) if eligible else fields), body

    def _stream_body(self, accept: str | None) -> tuple[list[tuple[str, str]], StreamFunction]:
        """The fields and the stream opener a stream response sends to a request accepting
        ``accept``: the stream coded chunk by chunk when the policy compresses it."""
        fields = self._fields()
        stream = self._stream
        assert stream is not None
        policy = self._compression
        if not policy:
            return fields, stream
        eligible, coding = policy.choose(self._status, fields, None, accept)
        if coding is None:
            return (vary_fields(fields) if eligible else fields), stream
        name = coding
        return coded_fields(fields, name), lambda: coded_stream(stream(), policy.stream_coder(name))

    # -- status and headers ---------------------------------------------------------------

    @property
    def status_code(self) -> int:
        return self._status

    @status_code.setter
    def status_code(self, value: int) -> None:
        self._status = _check_status(value)

    @property
    def headers(self) -> Headers:
        headers = self._headers
        if headers is None:
            headers = self._headers = Headers()
            if self._content_type is not None:
                # A new, empty Headers: the pending Content-Type is its first field.
                headers._fields.append(check_field("Content-Type", self._content_type))
                self._content_type = None
            return headers
        if self._content_type is not None:
            headers["Content-Type"] = self._content_type
            self._content_type = None
        return headers

    @headers.setter
    def headers(self, value: HeadersInit) -> None:
        self._headers = Headers(value)
        self._content_type = None

    def _fields(self) -> list[tuple[str, str]]:
        headers = self._headers
        if headers is None:
            content_type = self._content_type
            return [] if content_type is None else [("Content-Type", content_type)]
        if self._content_type is not None:
            # Where the pending Content-Type lands once ``headers`` is read.
            return [*headers._fields, ("Content-Type", self._content_type)]
        return headers._fields

    def _set_content_type(self, value: str) -> None:
        if self._headers is None:
            self._content_type = value
        else:
            self._headers["Content-Type"] = value

    # -- bytes bodies ---------------------------------------------------------------------

    def _set_body(self, body: bytes) -> None:
        self._kind = _BYTES
        self._body = body
        self._stream = None
        self._file = None

    @property
    def content(self) -> bytes | None:
        """The bytes body, or ``None`` when the body is a stream or a file. Setting it (bytes,
        or str sent as UTF-8) replaces any body and leaves Content-Type alone."""
        return self._body if self._kind == _BYTES else None

    @content.setter
    def content(self, value: bytes | str | None) -> None:
        self._set_body(b"" if value is None else _content_bytes(value, "content"))

    def _text_body(self) -> str | None:
        return self._body.decode("utf-8") if self._kind == _BYTES else None

    def _set_text(self, value: object, field: str, content_type: str) -> None:
        if not isinstance(value, str):
            raise TypeError(f"{field} must be str, got {type(value).__name__} {value!r}")
        self._set_body(value.encode("utf-8"))
        self._set_content_type(content_type)

    @property
    def text(self) -> str | None:
        """The body as text; setting it sends ``text/plain; charset=utf-8``."""
        return self._text_body()

    @text.setter
    def text(self, value: str) -> None:
        self._set_text(value, "text", TEXT)

    @property
    def html(self) -> str | None:
        """The body as text; setting it sends ``text/html; charset=utf-8``."""
        return self._text_body()

    @html.setter
    def html(self, value: str) -> None:
        self._set_text(value, "html", HTML)

    @property
    def json(self) -> Any:
        """The body parsed as JSON; setting it serializes with ``dumps`` (the response's,
        else the module's) and sends ``application/json``. A value that cannot be serialized
        raises ``TypeError`` here, before anything is sent."""
        return json.loads(self._body) if self._kind == _BYTES else None

    @json.setter
    def json(self, value: Any) -> None:
        self._set_body(_json_bytes(value, self.dumps))
        self._set_content_type(JSON)

    # -- cookies (cookies.py) -------------------------------------------------------------

    def set_cookie(
        self,
        key: str,
        value: str = "",
        max_age: int | None = None,
        expires: datetime.datetime | float | str | None = None,
        path: str | None = "/",
        domain: str | None = None,
        secure: bool = False,
        httponly: bool = False,
        samesite: str | None = "lax",
        partitioned: bool = False,
    ) -> None:
        """Add one ``Set-Cookie`` field (RFC 6265bis): ``key=value`` with its attributes.

        ``expires``: an aware ``datetime``, seconds from now, or an HTTP-date string, sent as
        an IMF-fixdate; ``max_age`` in seconds; ``samesite`` ``"strict"``, ``"lax"``,
        ``"none"`` or ``None`` (no attribute). Anything a browser would store differently or
        drop raises ``ValueError`` naming the field (see :func:`respcore.cookies.set_cookie_value`).
        """
        # The value is made of cookie-octets and attribute characters, a subset of what a
        # field value may hold (RFC 9110 §5.5): it is appended as it is, not checked again.
        value = set_cookie_value(
            key, value, max_age, expires, path, domain, secure, httponly, samesite, partitioned
        )
        self.headers._fields.append(("Set-Cookie", value))

    def delete_cookie(
        self,
        key: str,
        path: str | None = "/",
        domain: str | None = None,
        secure: bool = False,
        httponly: bool = False,
        samesite: str | None = "lax",
        partitioned: bool = False,
    ) -> None:
        """Add a ``Set-Cookie`` field that removes the cookie ``key`` (set with the same
        ``path`` and ``domain``): an empty value, ``Max-Age=0`` and an Expires in 1970."""
        value = delete_cookie_value(key, path, domain, secure, httponly, samesite, partitioned)
        self.headers._fields.append(("Set-Cookie", value))

    # -- framing headers as attributes ----------------------------------------------------

    @property
    def chunked(self) -> bool:
        """``True`` exactly when the final transfer coding is ``chunked``."""
        codings = self._headers.getall("transfer-encoding", []) if self._headers else []
        items = [item.strip(" \t").lower() for value in codings for item in value.split(",")]
        return bool(items) and items[-1] == "chunked"

    @chunked.setter
    def chunked(self, value: bool) -> None:
        if value:
            self.headers["Transfer-Encoding"] = "chunked"
        elif self._headers is not None:
            self._headers.pop("transfer-encoding", None)

    @property
    def attachment(self) -> str | None:
        """The attachment's filename, or ``None``. Setting a name sends
        ``Content-Disposition: attachment; filename=…``; ``None`` removes the field."""
        if self._headers is None or "content-disposition" not in self._headers:
            return None
        return self._attachment

    @attachment.setter
    def attachment(self, filename: str | os.PathLike[str] | None) -> None:
        if filename is None:
            if self._headers is not None:
                self._headers.pop("content-disposition", None)
            self._attachment = None
            return
        if not isinstance(filename, (str, os.PathLike)):
            raise TypeError(f"attachment must be a filename or None, got {type(filename).__name__}")
        self.headers["Content-Disposition"] = content_disposition(filename, "attachment")
        self._attachment = os.path.basename(os.fspath(filename))

    # -- stream bodies --------------------------------------------------------------------

    def _set_stream(self, source: StreamSource, raise_on_disconnect: bool) -> None:
        self._use_stream(_opener(source), raise_on_disconnect)

    def _use_stream(self, stream: StreamFunction, raise_on_disconnect: bool) -> None:
        self._stream = stream
        self._kind = _STREAM
        self._body = b""
        self._file = None
        self.raise_on_disconnect = bool(raise_on_disconnect)

    @overload
    def stream(
        self, fn: StreamFunction, /, *, raise_on_disconnect: bool = False
    ) -> StreamFunction: ...
    @overload
    def stream(
        self, fn: None = None, /, *, raise_on_disconnect: bool = False
    ) -> Callable[[StreamFunction], StreamFunction]: ...
    def stream(
        self, fn: StreamFunction | None = None, /, *, raise_on_disconnect: bool = False
    ) -> StreamFunction | Callable[[StreamFunction], StreamFunction]:
        """Decorate a no-argument async generator function to make it the body:
        ``@res.stream`` or ``@res.stream(raise_on_disconnect=True)``. It is called once per
        send and may yield str (sent as UTF-8) or bytes. Not chunked unless ``res.chunked``
        is set: without a Content-Length the body ends when the connection closes."""
        if fn is None:

            def decorate(function: StreamFunction) -> StreamFunction:
                _check_stream_function(function)
                self._set_stream(function, raise_on_disconnect)
                return function

            return decorate
        _check_stream_function(fn)
        self._set_stream(fn, raise_on_disconnect)
        return fn

    # -- event streams (sse.py) -----------------------------------------------------------

    def _set_event_stream(
        self, source: StreamSource, ping: float | None, raise_on_disconnect: bool
    ) -> None:
        ping = _check_timeout(ping, "ping")
        opener = _opener(source)
        self._use_stream(lambda: sse.events(opener, ping), raise_on_disconnect)
        headers = self.headers
        headers["Content-Type"] = sse.EVENT_STREAM
        for name, value in sse.SSE_HEADERS:
            headers[name] = value
        if "content-length" not in headers and "transfer-encoding" not in headers:
            headers["Transfer-Encoding"] = "chunked"

    @overload
    def event_stream(
        self, fn: StreamFunction, /, *, ping: float | None = 15, raise_on_disconnect: bool = False
    ) -> StreamFunction: ...
    @overload
    def event_stream(
        self, fn: None = None, /, *, ping: float | None = 15, raise_on_disconnect: bool = False
    ) -> Callable[[StreamFunction], StreamFunction]: ...
    def event_stream(
        self,
        fn: StreamFunction | None = None,
        /,
        *,
        ping: float | None = 15,
        raise_on_disconnect: bool = False,
    ) -> StreamFunction | Callable[[StreamFunction], StreamFunction]:
        """Decorate a no-argument async generator function yielding events
        (``ServerSentEvent``, ``dict`` of its fields, or ``str`` data) to make the body a
        ``text/event-stream``: ``@res.event_stream`` or ``@res.event_stream(ping=5,
        raise_on_disconnect=True)``. Sent chunked, one chunk per event, with a ``: ping``
        comment after ``ping`` seconds without an event (``None``/``0``: no pings)."""

        def decorate(function: StreamFunction) -> StreamFunction:
            _check_stream_function(function)
            self._set_event_stream(function, ping, raise_on_disconnect)
            return function

        return decorate if fn is None else decorate(fn)

    # -- file bodies ----------------------------------------------------------------------

    def file(
        self,
        path: str | os.PathLike[str],
        attach: bool = True,
        filename: str | None = None,
        media_type: str | None = None,
        chunk_size: int = 65536,
        precompressed: bool = False,
    ) -> None:
        """Send the file at ``path``, read in ``chunk_size`` pieces, never whole.

        As an attachment named ``filename`` (default: the file's name) unless
        ``attach=False``; Content-Type from ``media_type`` or guessed from the name.
        Content-Length, Last-Modified and ETag are taken from the file when it is sent.

        ``precompressed=True``: when the request accepts it, a sibling ``path.zst``,
        ``path.br`` or ``path.gz`` that is not older than the file is sent instead (in the
        policy's order of preference, else zstd, br, gzip), zero-copy, with its
        Content-Encoding; ranges and conditional requests apply to that representation.
        Without a usable sibling a compression policy may compress the file on the way
        (off the event loop), except for range requests.
        """
        path = os.fspath(path)
        if not isinstance(path, str):
            raise TypeError(f"file: path must be a str or os.PathLike[str], got {path!r}")
        if isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size < 1:
            raise ValueError(f"file: chunk_size must be a positive int, got {chunk_size!r}")
        mode = os.stat(path).st_mode  # FileNotFoundError here, at the call
        if stat.S_ISDIR(mode):
            raise IsADirectoryError(errno.EISDIR, "file: the path is a directory", path)
        if not stat.S_ISREG(mode):
            raise ValueError(f"file: {path!r} is not a regular file")
        name = os.path.basename(path) if filename is None else filename
        if media_type is None:
            media_type = mimetypes.guess_type(name)[0] or "application/octet-stream"
        headers = self.headers
        headers["Content-Type"] = media_type
        if attach:
            self.attachment = name
        elif filename is not None:
            headers["Content-Disposition"] = content_disposition(filename, "inline")
            self._attachment = None
        else:
            self.attachment = None
        self._file = _File(path, chunk_size, bool(precompressed))
        self._kind = _FILE
        self._body = b""
        self._stream = None

    def _file_fields(self, st: os.stat_result) -> list[tuple[str, str]]:
        fields = self._fields()
        headers = self._headers
        extra = []
        if headers is None or "accept-ranges" not in headers:
            extra.append(("Accept-Ranges", "bytes"))
        if headers is None or "last-modified" not in headers:
            extra.append(("Last-Modified", format_http_date(st.st_mtime)))
        if headers is None or "etag" not in headers:
            extra.append(("ETag", _etag(st)))
        return [*fields, *extra]

    def _select(self, st: os.stat_result, method: str, request: Headers | None) -> FileSelection:
        """What a file body sends for a request with header fields ``request``: the whole
        file, a range, or a 304/412/416 (see ``respcore.ranges``)."""
        return select(method, request, self._status, self._file_fields(st), st.st_size)

    def _file_accept(self, request: Headers | None) -> str | None:
        """The request's Accept-Encoding when this file body may be coded, else ``None``."""
        file = self._file
        policy = self._compression
        if policy is False or not (policy or (file is not None and file.precompressed)):
            return None
        return accept_encoding(request)

    def _file_source(self, accept: str | None) -> tuple[str, str | None]:
        """The path to open and its precompressed coding (``None``: the file itself).
        Blocking: it stats the siblings."""
        file = self._file
        assert file is not None
        policy = self._compression
        if not file.precompressed or policy is False:
            return file.path, None
        return precompressed_sibling(file.path, accept, policy.encodings if policy else CODINGS)

    def _file_selection(
        self,
        st: os.stat_result,
        method: str,
        request: Headers | None,
        accept: str | None,
        precoded: str | None,
    ) -> tuple[FileSelection, StreamCoder | None]:
        """What a file body sends (see :meth:`_select`) when the opened file (``st``) is the
        ``precoded`` sibling or the file itself, and the coder that compresses it on the
        way when the policy does. A range request gets the identity representation (a
        range of a coding made on the fly could not be served again)."""
        fields = self._file_fields(st)
        status = self._status
        if precoded is not None:
            return select(method, request, status, coded_fields(fields, precoded), st.st_size), None
        policy = self._compression
        # An empty file has nothing to compress (and no coded form to keep it empty).
        if policy and st.st_size and policy.eligible(status, fields, st.st_size):
            ranged = method == "GET" and request is not None and "range" in request
            coding = None if ranged else policy.negotiate(accept)
            if coding is not None:
                chosen = select(method, request, status, coded_fields(fields, coding), st.st_size)
                if chosen.status != 200:
                    return chosen, None
                return chosen, policy.stream_coder(coding)
            fields = vary_fields(fields)
        elif policy is not False and self._file is not None and self._file.precompressed:
            fields = vary_fields(fields)
        return select(method, request, status, fields, st.st_size), None

    # -- sending --------------------------------------------------------------------------

    def framing(
        self,
        method: str = "GET",
        version: str = "1.1",
        keep_alive: bool = True,
        accept_encoding: str | None = None,
    ) -> Framing:
        """How this response would be framed for such a request (see ``respcore.framing``),
        whose Accept-Encoding is ``accept_encoding``. A file body is stat'ed now."""
        policy = self._compression
        if self._kind == _BYTES:
            if policy:
                fields, body = self._coded_body(policy, accept_encoding)
            else:
                fields, body = self._fields(), self._body
            return decide(self._status, fields, "bytes", len(body), method, version, keep_alive)
        if self._kind == _STREAM:
            fields = self._stream_body(accept_encoding)[0]
            return decide(self._status, fields, "stream", None, method, version, keep_alive)
        assert self._file is not None
        st = os.stat(self._file.path)
        return decide(
            self._status, self._file_fields(st), "file", st.st_size, method, version, keep_alive
        )

    def encode(
        self,
        method: str = "GET",
        version: str = "1.1",
        keep_alive: bool = True,
        accept_encoding: str | None = None,
    ) -> bytes:
        """The whole response to a ``method`` request of HTTP/``version`` as one ``bytes``.

        Only for bytes bodies (``TypeError`` for a stream or a file, which a writer sends).
        The status line is always HTTP/1.1, the version this encoder implements (RFC 9110
        §6.2); ``version`` decides the framing. ``accept_encoding``: the request's
        Accept-Encoding, read when a compression policy is in force.
        """
        if self._kind != _BYTES:
            kind = "stream" if self._kind == _STREAM else "file"
            raise TypeError(f"encode() sends bytes bodies only; this response has a {kind} body")
        return self._wire(method, version, keep_alive, accept_encoding)[0]

    def _wire(
        self, method: str, version: str, keep_alive: bool, accept: str | None = None
    ) -> tuple[bytes, bool]:
        """A bytes body's whole message, and whether the connection may persist after it;
        ``accept`` is the request's Accept-Encoding (read only under a compression policy)."""
        body = self._body
        policy = self._compression
        if policy:
            status = self._status
            fields, body = self._coded_body(policy, accept)
            delimit, _, persist, fields, _, _ = plan(
                status, fields, "bytes", len(body), method, version, keep_alive
            )
            head = encode_head(status, fields)
        elif self._headers is None:
            # Only a Content-Type: the head is likely cached for this second, and with no
            # Connection or Transfer-Encoding field persistence is what the request allows.
            key = (self._status, self._content_type, len(body), method, version, keep_alive)
            entry = HEADS.heads.get(key) if _time() < HEADS.expires else None
            delimit, head = plain_head(key) if entry is None else entry
            persist = keep_alive
        else:
            status = self._status
            delimit, _, persist, fields, _, _ = plan(
                status, self._fields(), "bytes", len(body), method, version, keep_alive
            )
            head = encode_head(status, fields)
        if delimit == "length" or delimit == "close":
            return head + body, persist
        if delimit == "chunked":
            if body:
                return head + encode_chunk(body) + LAST_CHUNK, persist
            return head + LAST_CHUNK, persist
        return head, persist

    async def __call__(self, scope: asgi.Scope, receive: asgi.Receive, send: asgi.Send) -> None:
        """Send this response as an ASGI application."""
        policy = self._compression
        if (
            self._kind == _BYTES
            and self._headers is None
            and not policy
            and scope.get("http_version") != "1.0"
        ):
            # Only a Content-Type, to an HTTP/1.1 request: the framed fields are cached.
            body = self._body
            key = (self._status, self._content_type, len(body), scope.get("method") == "HEAD")
            framed, raw = asgi.PLAIN_STARTS.get(key) or asgi.plain_start(key)
            await send({"type": "http.response.start", "status": key[0], "headers": list(raw)})
            await send({"type": "http.response.body", "body": b"" if framed == "none" else body})
            if self._background is not None:
                await _background.run(self._background)
            return
        method = scope.get("method", "GET")
        version = asgi.request_version(scope)
        keep_alive = version == "1.1" or asgi.request_keep_alive(scope, version)
        status = self._status
        kind = self._kind
        accept = accept_encoding(scope.get("headers")) if policy else None
        if kind == _BYTES:
            if policy:
                fields, body = self._coded_body(policy, accept)
            else:
                fields, body = self._fields(), self._body
            delimit, _, _, fields, _, _ = plan(
                status, fields, "bytes", len(body), method, version, keep_alive, False
            )
            await asgi.send_bytes(send, status, fields, b"" if delimit == "none" else body)
            complete = True
        elif kind == _STREAM:
            fields, opener = self._stream_body(accept)
            framing = decide(status, fields, "stream", None, method, version, keep_alive, False)
            trailers = self._trailers
            if trailers is not None and framing.body == "chunked" and asgi.offers_trailers(scope):
                announced = self.headers.getall("trailer", [])
                trailer_fields: asgi.TrailerFields | None = functools.partial(
                    check_trailer_fields, trailers, announced
                )
            else:
                # No trailer section to put them in: they are not sent (trailers.py).
                trailer_fields = None
            complete = await asgi.send_stream(
                receive,
                send,
                status,
                framing,
                opener,
                raise_on_disconnect=self.raise_on_disconnect,
                chunk_timeout=self.chunk_timeout,
                complete_timeout=self.complete_timeout,
                trailers=trailer_fields,
            )
        else:
            file = self._file
            assert file is not None
            request = parsed_headers(scope.get("headers", ()))
            file_accept = self._file_accept(request)
            path, precoded = file.path, None
            if file.precompressed:
                loop = asyncio.get_running_loop()
                path, precoded = await loop.run_in_executor(None, self._file_source, file_accept)

            def frame(st: os.stat_result) -> asgi.FileFrame:
                chosen, coder = self._file_selection(st, method, request, file_accept, precoded)
                fields = chosen.fields
                kind: BodyKind = "file"
                length: int | None = chosen.length
                if coder is not None:
                    # Compressed on the way: the length is known at the end only.
                    fields = [*fields, ("Transfer-Encoding", "chunked")]
                    kind, length = "stream", None
                framing = decide(
                    chosen.status, fields, kind, length, method, version, keep_alive, False
                )
                return chosen.status, framing, chosen.segments, coder

            complete = await asgi.send_file(
                scope,
                receive,
                send,
                path,
                frame,
                chunk_size=file.chunk_size,
                chunk_timeout=self.chunk_timeout,
                complete_timeout=self.complete_timeout,
            )
        if complete and self._background is not None:
            await _background.run(self._background)

    def __repr__(self) -> str:
        kind = ("bytes", "stream", "file")[self._kind]
        return f"<{type(self).__name__} {self._status} {kind} body>"


# -- constructors ------------------------------------------------------------------------------


class TextResponse(Response):
    """A ``text/plain; charset=utf-8`` response."""

    media_type = TEXT


class HtmlResponse(Response):
    """A ``text/html; charset=utf-8`` response."""

    media_type = HTML


class JsonResponse(Response):
    """``data`` as compact UTF-8 JSON (``application/json``), serialized now with ``dumps``
    (default: the module-wide serializer, see :func:`set_json_dumps`)."""

    media_type = JSON
    _content_type: str | None = JSON

    def __init__(
        self,
        data: Any,
        status_code: int = 200,
        headers: HeadersInit = None,
        media_type: str | None = None,
        dumps: JsonDumps | None = None,
        background: Background | None = None,
        compression: Compression | Literal[False] | None = None,
    ) -> None:
        # Response.__init__ written out, and class defaults where they fit: this constructor
        # is on the hot path.
        if status_code is not _OK:
            self._status = _check_status(status_code)
        if dumps is not None:
            self.dumps = dumps
        try:
            if dumps is None and _dumps is _std_dumps:
                out: str | bytes = "".join(_c_encode(data, 0)).encode()
            else:
                out = (dumps or _dumps)(data)
        except (TypeError, ValueError, RecursionError) as exc:
            raise TypeError(f"json: the value cannot be serialized: {exc}") from exc
        self._body = out if type(out) is bytes else _json_out(out)
        if headers is not None:
            self._headers = Headers(headers)
            self._content_type = None
            self._set_media_type(JSON if media_type is None else media_type)
        elif media_type is not None:
            self._set_media_type(media_type)
        if background is not None:
            self._background = check_background(background)
        if compression is not None:
            self.compression = compression


class StreamingResponse(Response):
    """A body from ``stream``: an async generator function (called with no arguments on each
    send), an async iterable, or an iterable of str or bytes. Sent chunked unless ``headers``
    carry a Content-Length.

    ``trailers``: a no-argument callable returning header fields to send after the last
    chunk; the names must be announced in a ``Trailer`` header (see ``respcore.trailers``).
    Without chunked framing (HTTP/1.0, HEAD, a Content-Length) no trailers are sent."""

    def __init__(
        self,
        stream: StreamSource,
        status_code: int = 200,
        headers: HeadersInit = None,
        media_type: str | None = None,
        chunk_timeout: float | None = 10,
        complete_timeout: float | None = 30,
        raise_on_disconnect: bool = False,
        background: Background | None = None,
        trailers: Trailers | None = None,
        compression: Compression | Literal[False] | None = None,
    ) -> None:
        super().__init__(None, status_code, headers, media_type, background, compression)
        self._set_stream(stream, raise_on_disconnect)
        self.chunk_timeout = _check_timeout(chunk_timeout, "chunk_timeout")
        self.complete_timeout = _check_timeout(complete_timeout, "complete_timeout")
        fields = self._headers
        if fields is None or ("content-length" not in fields and "transfer-encoding" not in fields):
            self.chunked = True
        if trailers is not None:
            announced = self.headers.getall("trailer", [])
            self._trailers = check_trailers(trailers, announced)


class FileResponse(Response):
    """The file at ``path`` (see :meth:`Response.file`)."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        attach: bool = True,
        filename: str | None = None,
        status_code: int = 200,
        headers: HeadersInit = None,
        media_type: str | None = None,
        chunk_size: int = 65536,
        chunk_timeout: float | None = None,
        complete_timeout: float | None = None,
        background: Background | None = None,
        compression: Compression | Literal[False] | None = None,
        precompressed: bool = False,
    ) -> None:
        super().__init__(None, status_code, headers, background=background, compression=compression)
        self.file(path, attach, filename, media_type, chunk_size, precompressed)
        self.chunk_timeout = _check_timeout(chunk_timeout, "chunk_timeout")
        self.complete_timeout = _check_timeout(complete_timeout, "complete_timeout")


class RedirectResponse(Response):
    """A redirect to ``url`` (307 by default: the method and body are kept, RFC 9110 §15.4.8)."""

    def __init__(
        self,
        url: str,
        status_code: int = 307,
        headers: HeadersInit = None,
        background: Background | None = None,
        compression: Compression | Literal[False] | None = None,
    ) -> None:
        super().__init__(None, status_code, headers, background=background, compression=compression)
        # RFC 3986 §2.1: characters outside the URI syntax are sent percent-encoded.
        self.headers["Location"] = quote(url, safe=_URL_SAFE)


class EventSourceResponse(Response):
    """A ``text/event-stream`` of server-sent events from ``events``: an async generator
    function, an async iterable or an iterable yielding ``ServerSentEvent``, ``dict`` (its
    fields) or ``str`` (data). Sent chunked, one chunk per event, with ``Cache-Control:
    no-cache`` and ``X-Accel-Buffering: no``; a ``: ping`` comment goes out after ``ping``
    seconds without an event (``None``/``0``: never). Disconnects and timeouts end it as
    they end any stream."""

    def __init__(
        self,
        events: StreamSource,
        ping: float | None = 15,
        headers: HeadersInit = None,
        chunk_timeout: float | None = 10,
        complete_timeout: float | None = None,
        *,
        status_code: int = 200,
        raise_on_disconnect: bool = False,
        background: Background | None = None,
        compression: Compression | Literal[False] | None = None,
    ) -> None:
        super().__init__(None, status_code, headers, background=background, compression=compression)
        self._set_event_stream(events, ping, raise_on_disconnect)
        self.chunk_timeout = _check_timeout(chunk_timeout, "chunk_timeout")
        self.complete_timeout = _check_timeout(complete_timeout, "complete_timeout")


JSONResponse = JsonResponse
HTMLResponse = HtmlResponse
PlainTextResponse = TextResponse
