"""Compression: the policy, Accept-Encoding negotiation (RFC 9110 §12.5.3) and compressed
bytes bodies and streams on every sending path. Bodies are decoded by the real codecs
(zlib/gzip, brotli, zstandard) and by real clients: curl ``--compressed``, httpx and
aiohttp's client, against respcore's live server and a real uvicorn."""

from __future__ import annotations

import asyncio
import gzip
import json
import subprocess
import sys
import threading
import zlib
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import aiohttp
import brotli
import h11
import httpx
import pytest
import zstandard
from _live import POSIX_ONLY, WAIT, Live, ResponseReader, connect, live_server, request
from _servers import Routes as AsgiRoutes
from _servers import curl
from _servers import serve as serve_asgi
from hypothesis import given, settings
from hypothesis import strategies as st

from respcore import (
    Compression,
    EventSourceResponse,
    HtmlResponse,
    JsonResponse,
    Response,
    StreamingResponse,
    TextResponse,
    set_default_compression,
)
from respcore.compression import AVAILABLE, negotiate, parse_accept_encoding
from respcore.server import Request

POLICY = Compression(minimum_size=64)
BIG = {"items": [{"id": n, "name": f"item {n}", "tags": ["a", "b", "c"]} for n in range(200)]}
BIG_BYTES = json.dumps(BIG, separators=(",", ":"), ensure_ascii=False).encode()
TEXT = "compress me, " * 100


def decode(coding: str | None, data: bytes) -> bytes:
    """``data`` decoded by the codec's own library."""
    if coding is None:
        return data
    if coding == "gzip":
        return gzip.decompress(data)
    if coding == "br":
        return brotli.decompress(data)
    if coding == "zstd":
        return zstandard.ZstdDecompressor().decompressobj().decompress(data)
    raise AssertionError(f"unexpected coding {coding!r}")


def parse(data: bytes, method: str = "GET") -> Any:
    reader = ResponseReader()
    reader.feed(data, eof=True)
    return reader.read(method)


@pytest.fixture
def default_policy() -> Iterator[Compression]:
    policy = Compression(minimum_size=64)
    previous = set_default_compression(policy)
    try:
        yield policy
    finally:
        set_default_compression(previous)


# -- the policy --------------------------------------------------------------------------------


def test_policy_defaults() -> None:
    policy = Compression()
    assert policy.minimum_size == 512
    assert policy.encodings == ("zstd", "br", "gzip")
    assert (policy.gzip_level, policy.br_level, policy.zstd_level) == (6, 4, 3)
    assert policy.offered == ("zstd", "br", "gzip")  # brotli and zstandard are installed


@pytest.mark.parametrize(
    "media_type",
    [
        "text/plain; charset=utf-8",
        "text/html",
        "text/css",
        "text/event-stream",
        "application/json",
        "application/javascript",
        "application/xml",
        "image/svg+xml",
        "application/wasm",
        "application/problem+json",
        "application/atom+xml",
        "Application/JSON",
    ],
)
def test_policy_compresses_text_and_structured_types(media_type: str) -> None:
    assert Compression().compressible(media_type)


@pytest.mark.parametrize(
    "media_type", ["image/png", "application/octet-stream", "video/mp4", "application/zip", None]
)
def test_policy_leaves_other_media_types(media_type: str | None) -> None:
    assert not Compression().compressible(media_type)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"encodings": ("gzip", "deflate")}, "encodings"),
        ({"encodings": ("gzip", "gzip")}, "encodings"),
        ({"encodings": ()}, "encodings"),
        ({"encodings": "gzip"}, "encodings"),
        ({"minimum_size": -1}, "minimum_size"),
        ({"minimum_size": 1.5}, "minimum_size"),
        ({"minimum_size": True}, "minimum_size"),
        ({"gzip_level": 10}, "gzip_level"),
        ({"gzip_level": -1}, "gzip_level"),
        ({"br_level": 12}, "br_level"),
        ({"zstd_level": 0}, "zstd_level"),
        ({"zstd_level": 23}, "zstd_level"),
        ({"zstd_level": "3"}, "zstd_level"),
        ({"media_types": ["json"]}, "media_types"),
        ({"media_types": "text/*"}, "media_types"),
    ],
)
def test_bad_policy_raises_naming_the_field(kwargs: dict[str, Any], field: str) -> None:
    with pytest.raises(ValueError, match=field):
        Compression(**kwargs)


@pytest.mark.parametrize("value", [True, "gzip", 1])
def test_bad_response_compression_raises_naming_the_field(value: object) -> None:
    with pytest.raises(TypeError, match="compression"):
        Response(b"x", compression=value)  # type: ignore[arg-type]
    res = Response(b"x")
    with pytest.raises(TypeError, match="compression"):
        res.compression = value  # type: ignore[assignment]


def test_bad_default_compression_raises() -> None:
    with pytest.raises(TypeError, match="set_default_compression"):
        set_default_compression("gzip")  # type: ignore[arg-type]


def test_a_coding_whose_package_is_missing_is_not_offered() -> None:
    # A fresh interpreter in which importing brotli and zstandard fails, as when
    # respcore[compression] was not installed.
    code = (
        "import sys; sys.modules['brotli'] = None; sys.modules['zstandard'] = None; "
        "sys.modules['compression.zstd'] = None; import respcore; "
        "from respcore.compression import AVAILABLE; "
        "print(sorted(AVAILABLE), respcore.Compression().offered)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, check=True)
    assert done.stdout.decode().strip() == "['gzip'] ('gzip',)"
    assert {"gzip", "br", "zstd"} <= AVAILABLE


# -- Accept-Encoding (RFC 9110 §12.5.3) --------------------------------------------------------

OFFERED = ("zstd", "br", "gzip")


@pytest.mark.parametrize(
    ("value", "chosen"),
    [
        (None, None),
        ("", None),  # an empty field asks for no coding
        ("gzip", "gzip"),
        ("GZIP", "gzip"),
        ("x-gzip", "gzip"),  # §8.4.1.3
        ("gzip, br", "br"),  # equal weights: the server's order
        ("gzip, br, zstd", "zstd"),
        ("br;q=0.5, gzip", "gzip"),
        ("br;Q=0.9, gzip;q=0.8", "br"),
        ("gzip;q=0", None),  # q=0 refuses
        ("gzip;q=0.000", None),
        ("*", "zstd"),
        ("*;q=0.5, gzip", "gzip"),
        ("*, zstd;q=0", "br"),
        ("*;q=0", None),  # identity is still the fallback
        ("identity", None),
        ("identity;q=0", None),  # nothing else acceptable: identity anyway
        ("gzip;q=0.5, identity", None),  # identity weighs more
        ("gzip, identity", "gzip"),  # a tie with identity goes to the coding
        ("deflate, compress", None),  # nothing offered
        ("gzip;q=1.0", "gzip"),
        ("gzip;q=1.001, br;q=0.1", "br"),  # malformed qvalue: that member is ignored
        ("gzip;q=0.1234, br;q=0.1", "br"),  # at most three decimals
        ("gzip;level=1, br;q=0.1", "br"),  # only q is a parameter
        ("gzip ; q=0.2 , br ; q=0.1", "gzip"),  # OWS around ";" and ","
        (",,gzip,,", "gzip"),  # empty list elements
        ("gzip;q=", None),
        ("gz ip", None),
        ("gzip;q=0.5, gzip;q=0", "gzip"),  # the first member naming a coding counts
        ('"gzip"', None),
        ("\x00\xff;;;q=q", None),
    ],
)
def test_accept_encoding_negotiation(value: str | None, chosen: str | None) -> None:
    assert negotiate(value, OFFERED) == chosen


def test_parse_accept_encoding_weights() -> None:
    assert parse_accept_encoding("gzip;q=0.5, BR, *;q=0, identity;q=0.001") == {
        "gzip": 500,
        "br": 1000,
        "*": 0,
        "identity": 1,
    }


def test_long_whitespace_runs_are_read_in_one_pass() -> None:
    # A pattern with two adjacent optional whitespace runs backtracks quadratically: this
    # value would keep the event loop busy for hours.
    spaces = " " * (1 << 17)
    assert negotiate("gzip" + spaces + "x, br", OFFERED) == "br"
    assert negotiate("gzip" + spaces + ";" + spaces + "x", OFFERED) is None
    assert negotiate(f"gzip;q=0.5{spaces}, br;q=0.1", OFFERED) == "gzip"


@given(st.text(max_size=200))
def test_malformed_accept_encoding_never_raises(value: str) -> None:
    assert negotiate(value, OFFERED) in (*OFFERED, None)


# The reference reading of RFC 9110 §12.5.3, written apart from respcore's: a hand-rolled
# scanner instead of a regular expression, and the choice as a sort over candidates.
_TCHAR = set("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")


def _reference_qvalue(text: str) -> int | None:
    if text in ("0", "1"):
        return int(text) * 1000
    if len(text) < 2 or text[1] != "." or len(text) > 5 or text[0] not in "01":
        return None
    decimals = text[2:]
    if not all(c in "0123456789" for c in decimals):
        return None
    if text[0] == "1":
        return 1000 if set(decimals) <= {"0"} else None
    return int(decimals.ljust(3, "0"))


def _reference_member(member: str) -> tuple[str, int] | None:
    member = member.strip(" \t")
    if not member:
        return None
    name, semicolon, rest = member.partition(";")
    name = name.rstrip(" \t")
    if not name or any(c not in _TCHAR for c in name):
        return None
    if not semicolon:
        return name.lower(), 1000
    rest = rest.lstrip(" \t")
    if rest[:2] not in ("q=", "Q="):
        return None
    q = _reference_qvalue(rest[2:])
    return None if q is None else (name.lower(), q)


def _reference_choice(value: str, offered: tuple[str, ...]) -> str | None:
    weights: dict[str, int] = {}
    for member in value.split(","):
        parsed = _reference_member(member)
        if parsed is not None:
            name = "gzip" if parsed[0] == "x-gzip" else parsed[0]
            weights.setdefault(name, parsed[1])

    def weight(name: str) -> int | None:
        return weights[name] if name in weights else weights.get("*")

    candidates = [
        (weight(name), -rank, name) for rank, name in enumerate(offered) if (weight(name) or 0) > 0
    ]
    if not candidates:
        return None
    best_weight, _, best = max(candidates)  # type: ignore[type-var]
    identity = weight("identity")
    if identity is not None and identity > best_weight:
        return None
    return best


_codings = st.sampled_from(
    ["gzip", "GZip", "x-gzip", "br", "zstd", "ZSTD", "deflate", "identity", "*", "compress", "b r"]
)
_qvalues = st.one_of(
    st.sampled_from(["0", "1", "0.5", "1.0", "1.000", "0.001", "0.0", "1.5", "0.1234", "", "x"]),
    st.integers(0, 1000).map(lambda n: f"{n / 1000:.3f}"),
)
_members = st.tuples(
    _codings,
    st.one_of(st.none(), _qvalues),
    st.sampled_from(["", " ", "\t"]),
    st.sampled_from(["q", "Q", "level"]),
).map(lambda m: m[0] if m[1] is None else f"{m[0]}{m[2]};{m[2]}{m[3]}={m[1]}")
_headers = st.lists(_members, max_size=8).flatmap(
    lambda members: st.sampled_from([",", ", ", " ,", ",,"]).map(lambda sep: sep.join(members))
)


@settings(max_examples=200)
@given(_headers, st.permutations(OFFERED))
def test_negotiation_matches_a_reference_reading_of_rfc_9110(
    value: str, offered: list[str]
) -> None:
    assert negotiate(value, tuple(offered)) == _reference_choice(value, tuple(offered))


# -- bytes bodies ------------------------------------------------------------------------------


def test_compression_is_off_unless_set() -> None:
    message = parse(JsonResponse(BIG).encode(accept_encoding="gzip, br, zstd"))
    assert message.header("content-encoding") is None
    assert message.header("vary") is None
    assert message.body == BIG_BYTES


@pytest.mark.parametrize("coding", ["gzip", "br", "zstd"])
def test_bytes_body_is_compressed_with_exact_content_length(coding: str) -> None:
    res = JsonResponse(BIG, compression=POLICY)
    message = parse(res.encode(accept_encoding=coding))
    assert message.header("content-encoding") == coding
    assert message.header("vary") == "Accept-Encoding"
    assert int(message.header("content-length")) == len(message.body) < len(BIG_BYTES)
    assert decode(coding, message.body) == BIG_BYTES


def test_levels_of_the_policy_are_used() -> None:
    sizes = []
    for level in (0, 9):  # 0: stored blocks, no compression at all
        policy = Compression(minimum_size=0, gzip_level=level)
        body = parse(JsonResponse(BIG, compression=policy).encode(accept_encoding="gzip")).body
        assert gzip.decompress(body) == BIG_BYTES
        sizes.append(len(body))
    assert sizes[1] < len(BIG_BYTES) < sizes[0]


def test_server_order_of_the_policy_breaks_ties() -> None:
    policy = Compression(minimum_size=0, encodings=("gzip", "br"))
    message = parse(TextResponse(TEXT, compression=policy).encode(accept_encoding="zstd, br, gzip"))
    assert message.header("content-encoding") == "gzip"


def test_identity_answer_still_varies_on_accept_encoding() -> None:
    for accept in (None, "identity", "gzip;q=0", "deflate"):
        message = parse(TextResponse(TEXT, compression=POLICY).encode(accept_encoding=accept))
        assert message.header("content-encoding") is None
        assert message.header("vary") == "Accept-Encoding"
        assert message.body == TEXT.encode()


def test_vary_is_merged_into_the_applications() -> None:
    res = TextResponse(TEXT, headers={"Vary": "Cookie"}, compression=POLICY)
    assert parse(res.encode(accept_encoding="gzip")).header_list("vary") == [
        "Cookie, Accept-Encoding"
    ]
    assert parse(res.encode()).header_list("vary") == ["Cookie, Accept-Encoding"]
    for vary in ("accept-encoding", "Cookie, Accept-Encoding", "*"):
        res = TextResponse(TEXT, headers={"Vary": vary}, compression=POLICY)
        assert parse(res.encode(accept_encoding="gzip")).header_list("vary") == [vary]


def test_compressed_etag_differs_from_the_identity_one() -> None:
    res = TextResponse(TEXT, headers={"ETag": '"v1"'}, compression=POLICY)
    assert parse(res.encode()).header("etag") == '"v1"'
    tags = {parse(res.encode(accept_encoding=c)).header("etag") for c in ("gzip", "br", "zstd")}
    assert len(tags) == 3
    assert '"v1"' not in tags
    weak = TextResponse(TEXT, headers={"ETag": 'W/"v1"'}, compression=POLICY)
    assert parse(weak.encode(accept_encoding="gzip")).header("etag") == 'W/"v1-gzip"'


def test_below_minimum_size_is_not_compressed_and_does_not_vary() -> None:
    message = parse(TextResponse("short", compression=POLICY).encode(accept_encoding="gzip"))
    assert message.header("content-encoding") is None
    assert message.header("vary") is None
    assert message.body == b"short"


def test_application_content_encoding_is_left_alone() -> None:
    coded = gzip.compress(TEXT.encode())
    res = Response(
        coded, media_type="text/plain", headers={"Content-Encoding": "gzip"}, compression=POLICY
    )
    message = parse(res.encode(accept_encoding="br"))
    assert message.header_list("content-encoding") == ["gzip"]
    assert message.body == coded


def test_media_types_outside_the_policy_are_not_compressed() -> None:
    res = Response(b"\x89PNG" + b"\0" * 1000, media_type="image/png", compression=POLICY)
    message = parse(res.encode(accept_encoding="gzip"))
    assert message.header("content-encoding") is None
    assert message.header("vary") is None
    untyped = Response(b"x" * 1000, compression=POLICY)
    assert parse(untyped.encode(accept_encoding="gzip")).header("content-encoding") is None


@pytest.mark.parametrize("status", [103, 204, 304])
def test_bodiless_statuses_are_not_compressed(status: int) -> None:
    res = Response(None, status_code=status, media_type="text/plain", compression=POLICY)
    message = parse(res.encode(accept_encoding="gzip"))
    assert message.header("content-encoding") is None
    assert message.header("vary") is None


def test_a_206_is_not_compressed() -> None:
    res = Response(
        TEXT[:200],
        status_code=206,
        media_type="text/plain",
        headers={"Content-Range": f"bytes 0-199/{len(TEXT)}"},
        compression=POLICY,
    )
    message = parse(res.encode(accept_encoding="gzip"))
    assert message.header("content-encoding") is None
    assert message.body == TEXT[:200].encode()


def test_application_content_length_fixes_the_bytes() -> None:
    body = TEXT.encode()
    res = TextResponse(TEXT, headers={"Content-Length": str(len(body))}, compression=POLICY)
    message = parse(res.encode(accept_encoding="gzip"))
    assert message.header("content-encoding") is None
    assert message.body == body


def test_head_gets_the_head_get_would_get() -> None:
    res = JsonResponse(BIG, compression=POLICY)
    get = parse(res.encode("GET", accept_encoding="br"))
    head = parse(res.encode("HEAD", accept_encoding="br"), "HEAD")
    assert head.head_without_date() == get.head_without_date()
    assert head.body == b""


def test_http_1_0_gets_a_compressed_body_with_its_length() -> None:
    res = TextResponse(TEXT, compression=POLICY)
    data = res.encode("GET", "1.0", False, accept_encoding="gzip")
    message = parse(data)
    assert message.header("content-encoding") == "gzip"
    assert gzip.decompress(message.body) == TEXT.encode()


def test_framing_reports_the_compressed_length() -> None:
    res = JsonResponse(BIG, compression=POLICY)
    coded = res.framing(accept_encoding="gzip")
    assert coded.content_length == len(parse(res.encode(accept_encoding="gzip")).body)
    assert ("Content-Encoding", "gzip") in coded.fields
    assert res.framing().content_length == len(BIG_BYTES)


def test_writer_reads_accept_encoding_from_any_form_of_request_headers() -> None:
    async def app(req: Request, res: Response) -> None:
        res.json = BIG
        res.compression = POLICY

    with live_server(app) as server:
        sock = connect(server.port)
        try:
            reader = ResponseReader(sock)
            # Two Accept-Encoding fields are one list (RFC 9110 §5.3).
            sock.sendall(
                request(headers=[("Accept-Encoding", "gzip;q=0.5"), ("accept-encoding", "br")])
            )
            message = reader.read()
        finally:
            sock.close()
    assert message.header("content-encoding") == "br"
    assert brotli.decompress(message.body) == BIG_BYTES


def test_encoding_never_changes_the_response() -> None:
    res = TextResponse(TEXT, headers={"ETag": '"v1"', "Vary": "Cookie"}, compression=POLICY)
    before = list(res.headers.items())
    first = res.encode(accept_encoding="gzip")
    assert list(res.headers.items()) == before
    assert parse(res.encode(accept_encoding="gzip")).body == parse(first).body
    assert parse(res.encode()).body == TEXT.encode()


def test_module_default_and_per_response_refusal(default_policy: Compression) -> None:
    assert Response().compression is default_policy
    assert parse(JsonResponse(BIG).encode(accept_encoding="gzip")).header("content-encoding") == (
        "gzip"
    )
    refused = JsonResponse(BIG, compression=False)
    assert refused.compression is False
    message = parse(refused.encode(accept_encoding="gzip"))
    assert message.header("content-encoding") is None
    assert message.header("vary") is None
    refused.compression = None  # back to the default
    assert refused.compression is default_policy
    own = Compression(minimum_size=0, encodings=("br",))
    res = HtmlResponse("<p>" + TEXT, compression=own)
    assert parse(res.encode(accept_encoding="gzip, br")).header("content-encoding") == "br"


def test_set_default_compression_returns_the_previous_policy() -> None:
    first = Compression()
    assert set_default_compression(first) is None
    try:
        assert set_default_compression(None) is first
    finally:
        set_default_compression(None)
    assert Response().compression is None


# -- real clients, both sending paths ----------------------------------------------------------


async def _app(req: Request, res: Response) -> Response | None:
    if req.path == "/json":
        return JsonResponse(BIG, compression=POLICY)
    if req.path == "/stream":
        return StreamingResponse([TEXT] * 20, media_type="text/plain", compression=POLICY)
    if req.path == "/events":
        return EventSourceResponse(
            [{"data": TEXT, "id": str(n)} for n in range(5)], compression=POLICY
        )
    res.status_code = 404
    return None


@pytest.fixture(scope="module")
def live() -> Iterator[Live]:
    with live_server(_app) as server:
        yield server


def _asgi_routes() -> AsgiRoutes:
    routes = AsgiRoutes()
    routes.add("/json", lambda scope: JsonResponse(BIG, compression=POLICY))
    routes.add(
        "/stream",
        lambda scope: StreamingResponse([TEXT] * 20, media_type="text/plain", compression=POLICY),
    )
    return routes


@pytest.fixture(scope="module")
def asgi_url() -> Iterator[str]:
    with serve_asgi(_asgi_routes()) as url:
        yield url


@pytest.fixture(params=["respcore", "uvicorn"])
def base_url(request: pytest.FixtureRequest, live: Live) -> str:
    if request.param == "respcore":
        return live.url
    return str(request.getfixturevalue("asgi_url"))


@POSIX_ONLY
@pytest.mark.parametrize("coding", ["gzip", "br", "zstd"])
@pytest.mark.parametrize("path", ["/json", "/stream"])
def test_curl_compressed_decodes(base_url: str, coding: str, path: str) -> None:
    done = curl(
        "--compressed", "-H", f"Accept-Encoding: {coding}", "-D", "-", "-o", "-", base_url + path
    )
    assert done.returncode == 0, done.stderr
    head, _, body = done.stdout.partition(b"\r\n\r\n")
    assert f"content-encoding: {coding}".encode() in head.lower()
    expected = BIG_BYTES if path == "/json" else (TEXT * 20).encode()
    assert body == expected


@pytest.mark.parametrize("path", ["/json", "/stream"])
def test_httpx_decodes_and_gets_the_servers_first_choice(base_url: str, path: str) -> None:
    # httpx offers gzip, deflate, br and zstd when brotli and zstandard are installed.
    response = httpx.get(base_url + path, timeout=WAIT)
    assert "zstd" in response.request.headers["accept-encoding"]
    assert response.headers["content-encoding"] == "zstd"
    assert response.headers["vary"] == "Accept-Encoding"
    expected = BIG_BYTES if path == "/json" else (TEXT * 20).encode()
    assert response.content == expected


@pytest.mark.parametrize("coding", ["gzip", "br", "zstd"])
def test_aiohttp_client_decodes(base_url: str, coding: str) -> None:
    async def fetch() -> tuple[str | None, bytes]:
        async with (
            aiohttp.ClientSession() as session,
            session.get(base_url + "/json", headers={"Accept-Encoding": coding}) as response,
        ):
            return response.headers.get("Content-Encoding"), await response.read()

    if coding == "zstd" and not _aiohttp_decodes_zstd():
        pytest.skip("this aiohttp has no zstd decoder")
    encoding, body = asyncio.run(fetch())
    assert encoding == coding
    assert body == BIG_BYTES


def _aiohttp_decodes_zstd() -> bool:
    from aiohttp import compression_utils

    return bool(getattr(compression_utils, "HAS_ZSTD", False))


def test_event_stream_is_compressed_and_parsed(live: Live) -> None:
    with httpx.stream("GET", live.url + "/events", headers={"Accept-Encoding": "br"}) as response:
        assert response.headers["content-encoding"] == "br"
        text = b"".join(response.iter_bytes()).decode()
    assert text.count(f"data: {TEXT}\n") == 5


# -- streams: every chunk flushed --------------------------------------------------------------


class _Gate:
    """A stream that yields one chunk, then waits until the test has decoded it."""

    def __init__(self) -> None:
        self.decoded = threading.Event()
        self.closed = threading.Event()

    async def chunks(self) -> AsyncIterator[str]:
        try:
            yield "first chunk " * 10
            loop = asyncio.get_running_loop()
            if not await loop.run_in_executor(None, self.decoded.wait, WAIT):
                raise RuntimeError("the client never saw the first chunk")
            yield "second chunk " * 10
        finally:
            self.closed.set()


class _Decoder:
    """Decodes a coded body incrementally, as a browser does."""

    def __init__(self, coding: str) -> None:
        if coding == "gzip":
            self._decode = zlib.decompressobj(31).decompress
        elif coding == "br":
            self._decode = brotli.Decompressor().process
        else:
            self._decode = zstandard.ZstdDecompressor().decompressobj().decompress
        self.text = b""

    def feed(self, data: bytes) -> None:
        self.text += self._decode(data)


def _read_until(sock: Any, conn: h11.Connection, decoder: _Decoder, wanted: bytes) -> bool:
    """Feed ``conn`` from ``sock`` and the body to ``decoder`` until ``wanted`` is decoded or
    the message ends; False when the message ended first."""
    while wanted not in decoder.text:
        event = conn.next_event()
        if event is h11.NEED_DATA:
            conn.receive_data(sock.recv(65536))
        elif isinstance(event, h11.Data):
            decoder.feed(bytes(event.data))
        elif isinstance(event, h11.EndOfMessage):
            return wanted in decoder.text
    return True


def _stream_is_flushed(port: int, gate: _Gate, coding: str, path: str = "/gate") -> None:
    sock = connect(port)
    try:
        sock.sendall(request("GET", path, headers=[("Accept-Encoding", coding)]))
        conn = h11.Connection(h11.CLIENT)
        conn.send(h11.Request(method="GET", target=path, headers=[("Host", "x")]))
        decoder = _Decoder(coding)
        event = conn.next_event()
        while event is h11.NEED_DATA:
            conn.receive_data(sock.recv(65536))
            event = conn.next_event()
        assert isinstance(event, h11.Response)
        assert dict(event.headers)[b"content-encoding"] == coding.encode()
        assert dict(event.headers)[b"transfer-encoding"] == b"chunked"
        # The second chunk is not produced until the first one is decoded here.
        assert _read_until(sock, conn, decoder, b"first chunk " * 10)
        gate.decoded.set()
        assert _read_until(sock, conn, decoder, b"second chunk " * 10)
        assert not _read_until(sock, conn, decoder, b"past the end")
        assert decoder.text == b"first chunk " * 10 + b"second chunk " * 10
    finally:
        sock.close()


@pytest.mark.parametrize("coding", ["gzip", "br", "zstd"])
def test_stream_chunks_are_flushed_on_the_server(coding: str) -> None:
    gate = _Gate()

    async def app(req: Request, res: Response) -> Response:
        return StreamingResponse(gate.chunks, media_type="text/plain", compression=POLICY)

    with live_server(app) as server:
        _stream_is_flushed(server.port, gate, coding)
    assert gate.closed.is_set()


@pytest.mark.parametrize("coding", ["gzip", "br", "zstd"])
def test_stream_chunks_are_flushed_under_uvicorn(coding: str) -> None:
    gate = _Gate()
    routes = AsgiRoutes()
    routes.add(
        "/gate",
        lambda scope: StreamingResponse(gate.chunks, media_type="text/plain", compression=POLICY),
    )
    with serve_asgi(routes) as url:
        _stream_is_flushed(int(url.rsplit(":", 1)[1]), gate, coding)


def test_each_event_is_flushed() -> None:
    gate = _Gate()

    async def events() -> AsyncIterator[dict[str, str]]:
        async for chunk in gate.chunks():
            yield {"data": chunk}

    async def app(req: Request, res: Response) -> None:
        res.compression = POLICY
        res.event_stream(events)

    with live_server(app) as server:
        sock = connect(server.port)
        try:
            sock.sendall(request("GET", "/", headers=[("Accept-Encoding", "gzip")]))
            conn = h11.Connection(h11.CLIENT)
            conn.send(h11.Request(method="GET", target="/", headers=[("Host", "x")]))
            decoder = _Decoder("gzip")
            assert _read_until(sock, conn, decoder, b"data: " + b"first chunk " * 10)
            gate.decoded.set()
            assert _read_until(sock, conn, decoder, b"data: " + b"second chunk " * 10)
        finally:
            sock.close()


def test_disconnect_closes_a_compressed_stream() -> None:
    gate = _Gate()

    async def app(req: Request, res: Response) -> Response:
        return StreamingResponse(gate.chunks, media_type="text/plain", compression=POLICY)

    with live_server(app) as server:
        sock = connect(server.port)
        sock.sendall(request("GET", "/", headers=[("Accept-Encoding", "gzip")]))
        sock.recv(65536)
        sock.close()
        gate.decoded.set()
        assert gate.closed.wait(WAIT)


def test_stream_with_application_content_length_is_not_compressed() -> None:
    async def app(req: Request, res: Response) -> Response:
        return StreamingResponse(
            [TEXT],
            media_type="text/plain",
            headers={"Content-Length": str(len(TEXT))},
            compression=POLICY,
        )

    with live_server(app) as server:
        response = httpx.get(server.url, headers={"Accept-Encoding": "gzip"})
    assert "content-encoding" not in response.headers
    assert response.text == TEXT


def test_head_of_a_compressed_stream_gets_the_get_head() -> None:
    started = threading.Event()

    async def chunks() -> AsyncIterator[str]:
        started.set()
        yield TEXT

    async def app(req: Request, res: Response) -> Response:
        return StreamingResponse(chunks, media_type="text/plain", compression=POLICY)

    with live_server(app) as server:
        sock = connect(server.port)
        try:
            reader = ResponseReader(sock)
            sock.sendall(request("HEAD", "/", headers=[("Accept-Encoding", "gzip")]))
            head = reader.read("HEAD")
            sock.sendall(request("GET", "/", headers=[("Accept-Encoding", "gzip")]))
            get = reader.read("GET")
        finally:
            sock.close()
    assert head.header("content-encoding") == get.header("content-encoding") == "gzip"
    assert head.head_without_date() == get.head_without_date()
    assert gzip.decompress(get.body) == TEXT.encode()


def test_compressed_stream_can_be_sent_twice() -> None:
    res = StreamingResponse([TEXT] * 3, media_type="text/plain", compression=POLICY)

    async def app(req: Request, _: Response) -> Response:
        return res

    with live_server(app) as server:
        bodies = [httpx.get(server.url, headers={"Accept-Encoding": c}) for c in ("gzip", "br")]
    assert [b.headers["content-encoding"] for b in bodies] == ["gzip", "br"]
    assert all(b.text == TEXT * 3 for b in bodies)


def test_trailers_follow_a_compressed_stream() -> None:
    async def app(req: Request, res: Response) -> Response:
        return StreamingResponse(
            [TEXT] * 3,
            media_type="text/plain",
            headers={"Trailer": "Server-Timing"},
            trailers=lambda: [("Server-Timing", "db;dur=12")],
            compression=POLICY,
        )

    with live_server(app) as server:
        sock = connect(server.port)
        try:
            reader = ResponseReader(sock)
            sock.sendall(request(headers=[("Accept-Encoding", "zstd")]))
            message = reader.read()
        finally:
            sock.close()
    assert message.complete
    assert message.header("content-encoding") == "zstd"
    assert decode("zstd", message.body) == (TEXT * 3).encode()
    assert [(n.lower(), v) for n, v in message.trailers] == [(b"server-timing", b"db;dur=12")]


def test_head_under_uvicorn_gets_the_get_head(asgi_url: str) -> None:
    with httpx.Client(timeout=WAIT) as client:
        get = client.get(asgi_url + "/json", headers={"Accept-Encoding": "br"})
        head = client.head(asgi_url + "/json", headers={"Accept-Encoding": "br"})
    assert head.headers["content-encoding"] == "br"
    assert head.headers["content-length"] == get.headers["content-length"]
    assert head.content == b""


# 108 KB: coded in a thread by gzip while other coded streams are in flight (32 KiB and up),
# on the loop by every coding in a lone stream. Twenty of them (2.2 MB) are coded in a thread
# by every coding, alone or not (a lone zstd stream hands off from 2 MiB).
BIG_CHUNK = ("".join(f"{n:08d} " for n in range(12000))).encode()


@pytest.mark.parametrize("coding", ["gzip", "br", "zstd"])
def test_big_chunks_coded_in_a_thread_arrive_in_order(coding: str) -> None:
    chunks = [BIG_CHUNK, b"small", BIG_CHUNK[::-1], BIG_CHUNK * 20]
    routes = AsgiRoutes()
    routes.add(
        "/",
        lambda scope: StreamingResponse(chunks, media_type="text/plain", compression=POLICY),
    )

    async def app(req: Request, res: Response) -> Response:
        return StreamingResponse(chunks, media_type="text/plain", compression=POLICY)

    with live_server(app) as server, serve_asgi(routes) as url:
        for base in (server.url, url):
            response = httpx.get(base + "/", headers={"Accept-Encoding": coding}, timeout=WAIT)
            assert response.headers["content-encoding"] == coding
            assert response.content == b"".join(chunks)


def test_concurrent_coded_streams_arrive_whole() -> None:
    # Two gzip streams in flight at once: each hands its 108 KB chunks to a thread, and the
    # two coders run side by side without mixing their output.
    begun: list[int] = []
    big = [BIG_CHUNK, BIG_CHUNK[::-1]]

    async def chunks(n: int) -> AsyncIterator[bytes]:
        begun.append(n)
        yield f"stream {n}\n".encode()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + WAIT
        while len(begun) < 2 and loop.time() < deadline:
            await asyncio.sleep(0.01)
        for _ in range(4):
            yield big[n]

    async def app(req: Request, res: Response) -> Response:
        n = int(req.path.rsplit("/", 1)[1])
        return StreamingResponse(chunks(n), media_type="text/plain", compression=POLICY)

    def fetch(url: str) -> httpx.Response:
        return httpx.get(url, headers={"Accept-Encoding": "gzip"}, timeout=WAIT)

    with live_server(app) as server, ThreadPoolExecutor(2) as pool:
        replies = list(pool.map(fetch, [server.url + "/0", server.url + "/1"]))
    assert sorted(begun) == [0, 1]
    for n, reply in enumerate(replies):
        assert reply.headers["content-encoding"] == "gzip"
        assert reply.content == f"stream {n}\n".encode() + big[n] * 4


def test_stream_closed_while_a_chunk_is_coded_in_a_thread() -> None:
    closed = threading.Event()

    async def chunks() -> AsyncIterator[bytes]:
        try:
            while True:
                yield BIG_CHUNK * 4
        finally:
            closed.set()

    async def app(req: Request, res: Response) -> Response:
        return StreamingResponse(chunks, media_type="text/plain", compression=POLICY)

    with live_server(app) as server:
        sock = connect(server.port)
        sock.sendall(request(headers=[("Accept-Encoding", "gzip")]))
        sock.recv(65536)
        sock.close()
        assert closed.wait(WAIT)
