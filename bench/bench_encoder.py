"""Micro benchmark of respcore's encoder against the head serializers of other HTTP stacks.

Run with ``make bench``: it writes ``bench/results/encoder.json`` and ``bench/report.py`` prints
the median ns/call of each contender and its ratio to respcore compiled.

Group "head": every contender produces the head of one reference response (221 bytes)::

    HTTP/1.1 200 OK
    content-type: application/json
    content-length: 27
    server: x
    date: Sun, 06 Nov 1994 08:49:37 GMT
    x-request-id: <36-character UUID>
    cache-control: no-cache
    set-cookie: a=b; Path=/

Group "chunk": one chunked-transfer frame around a 1 KiB body piece.

Before anything is timed, this module checks that every contender's output is equivalent to
the reference head (byte for byte where the format allows, else field for field after parsing
with httptools), and each test checks the value its timed call returned, so the benchmark
cannot silently measure something else. The compiled contenders must really be compiled.
"""

from __future__ import annotations

import http
import re
import types
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import aiohttp._http_writer as aiohttp_c_writer
import aiohttp.http_writer as aiohttp_writer
import h11
import httptools
import pytest
from multidict import CIMultiDict
from starlette.responses import Response as StarletteResponse

import respcore
from respcore import _encoder, _pyencoder

# -- the reference response ------------------------------------------------------------------

STATUS = 200
STATUS_LINE = "HTTP/1.1 200 OK"
DATE = "Sun, 06 Nov 1994 08:49:37 GMT"  # the RFC 9110 §5.6.7 example date
REQUEST_ID = "0b8f5f8e-6c9a-4f4e-9a55-2f1d3c4b5a69"
BODY = b'{"message": "Hello, world"}'
MEDIA_TYPE = "application/json"
HEAD_LENGTH = 221

# The fields besides the two a framework derives from the body and the media type.
OTHER_FIELDS: list[tuple[str, str]] = [
    ("server", "x"),
    ("date", DATE),
    ("x-request-id", REQUEST_ID),
    ("cache-control", "no-cache"),
    ("set-cookie", "a=b; Path=/"),
]
PAIRS: list[tuple[str, str]] = [
    ("content-type", MEDIA_TYPE),
    ("content-length", str(len(BODY))),
    *OTHER_FIELDS,
]
HEADERS = respcore.Headers(PAIRS)
MULTIDICT: CIMultiDict[str] = CIMultiDict(PAIRS)
STARLETTE_HEADERS: dict[str, str] = dict(OTHER_FIELDS)

CHUNK = bytes(range(256)) * 4  # 1 KiB

HEAD_BENCH = pytest.mark.benchmark(
    group="head", min_rounds=50, max_time=1.0, min_time=20e-6, warmup=True
)
CHUNK_BENCH = pytest.mark.benchmark(
    group="chunk", min_rounds=50, max_time=1.0, min_time=20e-6, warmup=True
)
H11_ROUNDS = 20_000
H11_WARMUP_ROUNDS = 1_000


def _require(condition: bool, message: str) -> None:
    # Not ``assert``: these checks must hold under ``python -O`` too.
    if not condition:
        raise RuntimeError(f"bench_encoder: {message}")


def _is_compiled(module: types.ModuleType) -> bool:
    return (module.__file__ or "").endswith((".so", ".pyd"))


_require(_is_compiled(_encoder), f"respcore._encoder is not compiled: {_encoder.__file__}")
_require(
    _is_compiled(aiohttp_c_writer),
    f"aiohttp._http_writer is not compiled: {aiohttp_c_writer.__file__}",
)
aiohttp_c_serialize = aiohttp_c_writer._serialize_headers
aiohttp_py_serialize = aiohttp_writer._py_serialize_headers
_require(
    not isinstance(aiohttp_c_serialize, types.FunctionType),
    f"aiohttp._http_writer._serialize_headers is a Python function: {aiohttp_c_serialize!r}",
)
_require(len(BODY) == 27, f"the body is {len(BODY)} bytes, not 27")


# -- hand-written contenders ------------------------------------------------------------------

_NAIVE_STATUS_LINES = {
    s.value: f"HTTP/1.1 {s.value} {s.phrase}\r\n".encode() for s in http.HTTPStatus
}


def naive_head(status: int, pairs: Iterable[tuple[str, str]]) -> bytes:
    """What a typical hand-rolled serializer does: no validation, one f-string a field."""
    return (
        _NAIVE_STATUS_LINES[status]
        + b"".join([f"{name}: {value}\r\n".encode("latin-1") for name, value in pairs])
        + b"\r\n"
    )


# The work uvicorn's httptools protocol does in ``send`` for ``http.response.start``, written
# for this benchmark: a status-line table, a check of each name and value against a pattern of
# forbidden bytes, the lowercase name compared with the framing fields (what it learns is kept
# on the connection, as the protocol does), then one bytes join. uvicorn's own ``server`` and
# ``date`` defaults are taken as disabled: the app sets both.
def _asgi_status_line(code: int) -> bytes:
    try:
        phrase = http.HTTPStatus(code).phrase
    except ValueError:
        phrase = ""
    return b"HTTP/1.1 %d %s\r\n" % (code, phrase.encode())


_ASGI_STATUS_LINES = {code: _asgi_status_line(code) for code in range(100, 600)}
_BAD_NAME = re.compile(rb'[\x00-\x20\x7f"(),/:;<=>?@\[\\\]{}]')
_BAD_VALUE = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f]")


class AsgiConnection:
    __slots__ = ("chunked", "expected_length", "keep_alive", "method")

    def __init__(self) -> None:
        self.method = "GET"
        self.keep_alive = True
        self.chunked: bool | None = None
        self.expected_length = 0


def asgi_server_head(
    conn: AsgiConnection, status: int, raw_headers: Sequence[tuple[bytes, bytes]]
) -> bytes:
    parts = [_ASGI_STATUS_LINES[status]]
    says_close = False
    for raw_name, value in raw_headers:
        if _BAD_NAME.search(raw_name) is not None:
            raise RuntimeError("invalid header name")
        if _BAD_VALUE.search(value) is not None:
            raise RuntimeError("invalid header value")
        name = raw_name.lower()
        if name == b"content-length":
            if conn.chunked is None:
                conn.expected_length = int(value.decode())
                conn.chunked = False
        elif name == b"transfer-encoding":
            if value.lower() == b"chunked":
                conn.expected_length = 0
                conn.chunked = True
        elif name == b"connection" and b"close" in [
            token.strip().lower() for token in value.split(b",")
        ]:
            conn.keep_alive = False
            says_close = True
        parts += (name, b": ", value, b"\r\n")
    if not conn.keep_alive and not says_close:
        parts.append(b"connection: close\r\n")
    if conn.chunked is None and conn.method != "HEAD" and status not in (204, 304):
        conn.chunked = True
        parts.append(b"transfer-encoding: chunked\r\n")
    parts.append(b"\r\n")
    return b"".join(parts)


_ASGI_CONNECTION = AsgiConnection()


def starlette_head() -> bytes:
    """Starlette builds the response (its raw_headers), then the server writes the head."""
    response = StarletteResponse(content=BODY, headers=STARLETTE_HEADERS, media_type=MEDIA_TYPE)
    conn = _ASGI_CONNECTION
    conn.chunked = None  # a new response on the kept-alive connection
    return asgi_server_head(conn, response.status_code, response.raw_headers)


def h11_connection() -> h11.Connection:
    conn = h11.Connection(h11.SERVER)
    conn.receive_data(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    _require(isinstance(conn.next_event(), h11.Request), "h11 did not parse the request")
    return conn


def h11_head(conn: h11.Connection) -> bytes:
    # reason=b"OK": h11 writes an empty reason phrase by default.
    data = conn.send(h11.Response(status_code=STATUS, headers=PAIRS, reason=b"OK"))
    assert data is not None
    return data


def chunk_join(data: bytes) -> bytes:
    return b"".join([b"%x\r\n" % len(data), data, b"\r\n"])


# -- equivalence checks -----------------------------------------------------------------------

Parsed = tuple[str, int, bytes, list[tuple[bytes, bytes]]]


class _HeadCollector:
    def __init__(self) -> None:
        self.reason = b""
        self.fields: list[tuple[bytes, bytes]] = []
        self.complete = False

    def on_status(self, reason: bytes) -> None:
        self.reason += reason

    def on_header(self, name: bytes, value: bytes) -> None:
        self.fields.append((name.lower(), value))

    def on_headers_complete(self) -> None:
        self.complete = True


def parse_head(head: bytes) -> Parsed:
    _require(
        head.find(b"\r\n\r\n") == len(head) - 4,
        f"not exactly one head ending in an empty line: {head!r}",
    )
    collector = _HeadCollector()
    parser = httptools.HttpResponseParser(collector)
    parser.feed_data(head)
    _require(collector.complete, f"httptools did not read a complete head: {head!r}")
    return parser.get_http_version(), parser.get_status_code(), collector.reason, collector.fields


REFERENCE = _encoder.encode_head(STATUS, PAIRS)
_require(len(REFERENCE) == HEAD_LENGTH, f"reference head is {len(REFERENCE)} bytes: {REFERENCE!r}")
REFERENCE_PARSED = parse_head(REFERENCE)
_require(
    ("1.1", 200, b"OK", [(n.encode(), v.encode()) for n, v in PAIRS]) == REFERENCE_PARSED,
    f"reference head does not parse back to the reference response: {REFERENCE_PARSED!r}",
)


def check_head(head: object, *, exact: bool = True) -> None:
    """``exact``: byte for byte the reference head. Otherwise the same status line and the same
    fields, possibly in another order (the reference repeats no name, so order is immaterial)."""
    _require(isinstance(head, bytes), f"head is {type(head).__name__}, not bytes")
    assert isinstance(head, bytes)
    if exact:
        _require(head == REFERENCE, f"head differs from the reference:\n{head!r}\n{REFERENCE!r}")
        return
    _require(len(head) == HEAD_LENGTH, f"head is {len(head)} bytes, not {HEAD_LENGTH}: {head!r}")
    version, status, reason, fields = parse_head(head)
    ref_version, ref_status, ref_reason, ref_fields = REFERENCE_PARSED
    _require(
        (version, status, reason, sorted(fields))
        == (ref_version, ref_status, ref_reason, sorted(ref_fields)),
        f"head is not equivalent to the reference:\n{head!r}\n{REFERENCE!r}",
    )


CHUNK_REFERENCE = b"400\r\n" + CHUNK + b"\r\n"


def check_chunk(frame: object) -> None:
    _require(frame == CHUNK_REFERENCE, "chunk frame differs from the reference")


# Every contender once, before anything is timed.
_ONCE: Mapping[str, tuple[Callable[[], Any], bool]] = {
    "respcore compiled, pairs": (lambda: _encoder.encode_head(STATUS, PAIRS), True),
    "respcore compiled, Headers": (lambda: _encoder.encode_head(STATUS, HEADERS), True),
    "respcore twin, pairs": (lambda: _pyencoder.encode_head(STATUS, PAIRS), True),
    "aiohttp compiled": (lambda: aiohttp_c_serialize(STATUS_LINE, MULTIDICT), True),
    "aiohttp pure": (lambda: aiohttp_py_serialize(STATUS_LINE, MULTIDICT), True),
    "naive join": (lambda: naive_head(STATUS, PAIRS), True),
    "h11": (lambda: h11_head(h11_connection()), True),
    "starlette + uvicorn join": (starlette_head, False),
}
for _label, (_produce, _exact) in _ONCE.items():
    try:
        check_head(_produce(), exact=_exact)
    except RuntimeError as exc:
        raise RuntimeError(f"{_label}: {exc}") from None
for _encode in (_encoder.encode_chunk, _pyencoder.encode_chunk, chunk_join):
    check_chunk(_encode(CHUNK))


# -- group "head" -----------------------------------------------------------------------------


@HEAD_BENCH
def test_head_respcore_compiled_pairs(benchmark: Any) -> None:
    check_head(benchmark(_encoder.encode_head, STATUS, PAIRS))


@HEAD_BENCH
def test_head_respcore_compiled_headers(benchmark: Any) -> None:
    check_head(benchmark(_encoder.encode_head, STATUS, HEADERS))


@HEAD_BENCH
def test_head_respcore_twin_pairs(benchmark: Any) -> None:
    check_head(benchmark(_pyencoder.encode_head, STATUS, PAIRS))


@HEAD_BENCH
def test_head_aiohttp_compiled(benchmark: Any) -> None:
    check_head(benchmark(aiohttp_c_serialize, STATUS_LINE, MULTIDICT))


@HEAD_BENCH
def test_head_aiohttp_pure(benchmark: Any) -> None:
    check_head(benchmark(aiohttp_py_serialize, STATUS_LINE, MULTIDICT))


@HEAD_BENCH
def test_head_naive_join(benchmark: Any) -> None:
    check_head(benchmark(naive_head, STATUS, PAIRS))


@HEAD_BENCH
def test_head_h11(benchmark: Any) -> None:
    # A connection sends one response: each round gets a fresh one from the untimed setup.
    def setup() -> tuple[tuple[h11.Connection], dict[str, Any]]:
        return (h11_connection(),), {}

    head = benchmark.pedantic(
        h11_head,
        setup=setup,
        rounds=H11_ROUNDS,
        iterations=1,
        warmup_rounds=H11_WARMUP_ROUNDS,
    )
    check_head(head)


@HEAD_BENCH
def test_head_starlette_uvicorn(benchmark: Any) -> None:
    check_head(benchmark(starlette_head), exact=False)


# -- group "chunk" ----------------------------------------------------------------------------


@CHUNK_BENCH
def test_chunk_respcore_compiled(benchmark: Any) -> None:
    check_chunk(benchmark(_encoder.encode_chunk, CHUNK))


@CHUNK_BENCH
def test_chunk_join(benchmark: Any) -> None:
    check_chunk(benchmark(chunk_join, CHUNK))


@CHUNK_BENCH
def test_chunk_respcore_twin(benchmark: Any) -> None:
    check_chunk(benchmark(_pyencoder.encode_chunk, CHUNK))
