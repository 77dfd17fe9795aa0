"""Content codings: the compression policy, Accept-Encoding negotiation and the codecs.

:class:`Compression` is a policy: which codings the server offers and in which order of
preference, their levels, the smallest body worth compressing and the media types worth it.
A response follows its own policy (``Response(..., compression=...)``, ``res.compression``) or
the module-wide one (:func:`set_default_compression`); there is none unless one is set.

Every sending path asks the same functions here: :meth:`Compression.choose` decides whether a
response is compressed and with which coding, :func:`coded_fields` and :func:`vary_fields`
give the header fields to send (never changing the application's), and the codecs turn the
body into the coded one: all at once for bytes, chunk by chunk, each flushed, for streams.

gzip comes from the standard library; ``br`` needs the ``brotli`` package and ``zstd`` the
``zstandard`` package (or the standard library's ``compression.zstd`` from Python 3.14 on):
``pip install respcore[compression]``. A coding whose package is missing is not offered.
"""

from __future__ import annotations

import asyncio
import importlib
import os
import re
import stat
import zlib
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from typing import Any

from ._bodies import chunk_bytes, stop_stream

__all__ = [
    "AVAILABLE",
    "CODINGS",
    "MEDIA_TYPES",
    "SUFFIXES",
    "Compression",
    "StreamCoder",
    "accept_encoding",
    "coded_etag",
    "coded_fields",
    "coded_stream",
    "negotiate",
    "parse_accept_encoding",
    "precompressed_sibling",
    "vary_fields",
]

CODINGS = ("zstd", "br", "gzip")
"""Every content coding respcore can apply, in its default order of preference."""

# Media types worth compressing: text, and the structured formats that are text underneath
# (``+json``/``+xml`` are RFC 6839 structured syntax suffixes). Images, audio, video, fonts
# and archives are compressed already.
MEDIA_TYPES = (
    "text/*",
    "application/json",
    "application/x-ndjson",
    "application/javascript",
    "application/ecmascript",
    "application/xml",
    "application/xhtml+xml",
    "image/svg+xml",
    "application/wasm",
    "+json",
    "+xml",
)

_LEVELS = {"gzip": (0, 9), "br": (0, 11), "zstd": (1, 22)}
_DEFAULT_LEVELS = {"gzip": 6, "br": 4, "zstd": 3}


# -- codecs ------------------------------------------------------------------------------------


class StreamCoder:
    """One coded stream: :meth:`compress` returns the coded bytes of a chunk, flushed so
    the client can decode everything sent so far (a sync flush); :meth:`feed` codes a chunk
    without flushing (what the codec is ready to give, maybe nothing); :meth:`finish` ends
    the coded stream. Memory stays bounded by the codec's window. ``off_loop``: the chunk
    size from which a sending path codes a chunk in a thread rather than on the event loop
    while other coded streams are in flight (about a millisecond of work at the default
    levels); a lone stream hands off from four times that (see :func:`coded_stream`)."""

    __slots__ = ("_feed", "_finish", "_step", "off_loop")

    def __init__(
        self,
        step: Callable[[bytes], bytes],
        feed: Callable[[bytes], bytes],
        finish: Callable[[], bytes],
        off_loop: int = 1 << 16,
    ) -> None:
        self._step = step
        self._feed = feed
        self._finish = finish
        self.off_loop = off_loop

    def compress(self, data: bytes) -> bytes:
        return self._step(data)

    def feed(self, data: bytes) -> bytes:
        return self._feed(data)

    def finish(self) -> bytes:
        return self._finish()


def _gzip(data: bytes, level: int) -> bytes:
    # wbits 31: the gzip container (RFC 1952) with a zero MTIME, so equal bodies give equal
    # bytes.
    coder = zlib.compressobj(level, zlib.DEFLATED, 31)
    return coder.compress(data) + coder.flush()


def _gzip_stream(level: int) -> StreamCoder:
    coder = zlib.compressobj(level, zlib.DEFLATED, 31)
    return StreamCoder(
        lambda data: coder.compress(data) + coder.flush(zlib.Z_SYNC_FLUSH),
        coder.compress,
        coder.flush,
        32 << 10,
    )


def _optional(name: str) -> Any:
    try:
        return importlib.import_module(name)
    except ImportError:
        return None


_brotli = _optional("brotli")
_zstd_std = _optional("compression.zstd")
_zstandard: Any = None if _zstd_std is not None else _optional("zstandard")


def _br(data: bytes, level: int) -> bytes:
    return _brotli.compress(data, quality=level)  # type: ignore[no-any-return]


def _br_stream(level: int) -> StreamCoder:
    coder = _brotli.Compressor(quality=level)
    return StreamCoder(
        lambda data: coder.process(data) + coder.flush(), coder.process, coder.finish, 128 << 10
    )


def _zstd(data: bytes, level: int) -> bytes:
    if _zstd_std is not None:
        return _zstd_std.compress(data, level=level)  # type: ignore[no-any-return]
    return _zstandard.ZstdCompressor(level=level).compress(data)  # type: ignore[no-any-return]


def _zstd_stream(level: int) -> StreamCoder:
    if _zstd_std is not None:
        std = _zstd_std.ZstdCompressor(level=level)
        block = _zstd_std.ZstdCompressor.FLUSH_BLOCK
        return StreamCoder(
            lambda data: std.compress(data, block),
            std.compress,
            lambda: std.flush(_zstd_std.ZstdCompressor.FLUSH_FRAME),
            512 << 10,
        )
    coder = _zstandard.ZstdCompressor(level=level).compressobj()
    flush_block = _zstandard.COMPRESSOBJ_FLUSH_BLOCK
    return StreamCoder(
        lambda data: coder.compress(data) + coder.flush(flush_block),
        coder.compress,
        coder.flush,
        512 << 10,
    )


_ONE_SHOT: dict[str, Callable[[bytes, int], bytes]] = {"gzip": _gzip}
_STREAMS: dict[str, Callable[[int], StreamCoder]] = {"gzip": _gzip_stream}
if _brotli is not None:
    _ONE_SHOT["br"] = _br
    _STREAMS["br"] = _br_stream
if _zstd_std is not None or _zstandard is not None:
    _ONE_SHOT["zstd"] = _zstd
    _STREAMS["zstd"] = _zstd_stream

AVAILABLE = frozenset(_ONE_SHOT)
"""The codings this installation can apply (gzip always; br and zstd with their packages)."""


# -- Accept-Encoding (RFC 9110 §12.5.3) --------------------------------------------------------

# codings [ weight ]; codings = content-coding / "identity" / "*"; content-coding = token;
# weight = OWS ";" OWS "q=" qvalue; qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] )
# Matched against a member stripped of its surrounding whitespace, with no two adjacent
# repeats able to take the same characters: linear time whatever a client sends.
_MEMBER = re.compile(
    r"([!#$%&'*+.^_`|~0-9A-Za-z-]+)"
    r"(?:[ \t]*;[ \t]*[qQ]=(0(?:\.[0-9]{0,3})?|1(?:\.0{0,3})?))?"
)
# RFC 9110 §8.4.1.3: a recipient SHOULD consider "x-gzip" to be equivalent to "gzip".
_ALIASES = {"x-gzip": "gzip"}


def _weight(qvalue: str | None) -> int:
    """A qvalue in thousandths (exact: no float rounding between 0.001 and 0.0011)."""
    if qvalue is None:
        return 1000
    whole, _, fraction = qvalue.partition(".")
    return int(whole) * 1000 + int((fraction + "000")[:3])


def parse_accept_encoding(value: str) -> dict[str, int]:
    """The weight, in thousandths, that an Accept-Encoding field value gives each coding it
    names (lowercase; ``"*"`` and ``"identity"`` included). Members that do not follow the
    grammar of RFC 9110 §12.5.3 are ignored; when a coding is named twice the first member
    counts. Never raises for a ``str``."""
    weights: dict[str, int] = {}
    for member in value.split(","):
        match = _MEMBER.fullmatch(member.strip(" \t"))
        if match is None:
            continue  # a malformed member, or an empty list element (RFC 9110 §5.6.1)
        coding = match.group(1).lower()
        coding = _ALIASES.get(coding, coding)
        if coding not in weights:
            weights[coding] = _weight(match.group(2))
    return weights


def negotiate(value: str | None, offered: Sequence[str]) -> str | None:
    """The coding of ``offered`` (in the server's order of preference) to answer a request
    whose Accept-Encoding is ``value``, or ``None`` for identity.

    RFC 9110 §12.5.3: without the field no coding is chosen (identity is what every client
    understands); an empty field asks for none. A coding is acceptable when the field gives
    it, or ``*`` when it does not name it, a weight above 0; the highest weight wins and the
    server's order breaks ties. Identity competes with the weight the field gives it (or
    ``*``) and loses ties; when nothing acceptable is offered, identity is sent anyway.
    """
    if not value:
        return None
    weights = parse_accept_encoding(value)
    star = weights.get("*")
    best = None
    best_weight = 0
    for coding in offered:
        weight = weights.get(coding, star)
        if weight is not None and weight > best_weight:
            best, best_weight = coding, weight
    if best is None:
        return None
    identity = weights.get("identity", star)
    if identity is not None and identity > best_weight:
        return None
    return best


def accept_encoding(request_headers: object) -> str | None:
    """The Accept-Encoding of a request given as a ``Headers``, a mapping, or (name, value)
    pairs of str or bytes (an ASGI scope's, a parser's); several fields are joined as one
    list (RFC 9110 §5.3). ``None`` when there is none."""
    if request_headers is None:
        return None
    getall = getattr(request_headers, "getall", None)
    if getall is not None:
        values = getall("accept-encoding", None)
        return None if values is None else ", ".join(values)
    items: Iterable[Any] = (
        request_headers.items() if isinstance(request_headers, Mapping) else request_headers  # type: ignore[assignment]
    )
    found: list[str] = []
    for name, value in items:
        if isinstance(name, (bytes, bytearray)):
            if name.lower() == b"accept-encoding":
                found.append(bytes(value).decode("latin-1"))
        elif isinstance(name, str) and name.lower() == "accept-encoding":
            found.append(value.decode("latin-1") if isinstance(value, bytes) else str(value))
    return ", ".join(found) if found else None


# -- the policy --------------------------------------------------------------------------------

_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_CACHE_MAX = 256
_CACHE_VALUE_MAX = 256


def _check_level(name: str, value: object, coding: str) -> int:
    low, high = _LEVELS[coding]
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name} must be an int from {low} to {high}, got {value!r}")
    if not low <= value <= high:
        raise ValueError(f"{name} must be from {low} to {high}, got {value}")
    return value


def _check_media_types(value: object) -> tuple[str, ...]:
    if isinstance(value, str) or not isinstance(value, Iterable):
        raise ValueError(f"media_types must be a sequence of media types, got {value!r}")
    out = []
    for item in value:
        if not isinstance(item, str):
            raise ValueError(f"media_types: {item!r} is not a str")
        entry = item.strip().lower()
        if entry.startswith("+"):
            ok = _TOKEN.fullmatch(entry[1:]) is not None
        else:
            kind, slash, sub = entry.partition("/")
            ok = bool(slash) and _TOKEN.fullmatch(kind) is not None
            ok = ok and (sub == "*" or _TOKEN.fullmatch(sub) is not None)
        if not ok:
            raise ValueError(
                f"media_types: {item!r} is not a type/subtype, a type/* or a +suffix entry"
            )
        out.append(entry)
    return tuple(out)


class Compression:
    """A compression policy.

    ``minimum_size``: bytes and file bodies smaller than this are sent as they are (a
    stream's size is not known: it is always compressed). ``encodings``: the codings to
    offer, in the server's order of preference (any of ``"zstd"``, ``"br"``, ``"gzip"``;
    those whose package is missing are left out). ``gzip_level`` (0-9, default 6),
    ``br_level`` (0-11, default 4), ``zstd_level`` (1-22, default 3). ``media_types``:
    what is worth compressing, each entry ``type/subtype``, ``type/*`` or a structured
    syntax suffix such as ``+json`` (default :data:`MEDIA_TYPES`).

    A bad field raises ``ValueError`` naming it.
    """

    __slots__ = (
        "_cache",
        "_exact",
        "_levels",
        "_suffixes",
        "_types",
        "br_level",
        "encodings",
        "gzip_level",
        "media_types",
        "minimum_size",
        "offered",
        "zstd_level",
    )

    def __init__(
        self,
        minimum_size: int = 512,
        encodings: Sequence[str] = CODINGS,
        *,
        gzip_level: int = _DEFAULT_LEVELS["gzip"],
        br_level: int = _DEFAULT_LEVELS["br"],
        zstd_level: int = _DEFAULT_LEVELS["zstd"],
        media_types: Iterable[str] = MEDIA_TYPES,
    ) -> None:
        if isinstance(minimum_size, bool) or not isinstance(minimum_size, int):
            raise ValueError(f"minimum_size must be an int >= 0, got {minimum_size!r}")
        if minimum_size < 0:
            raise ValueError(f"minimum_size must be >= 0, got {minimum_size}")
        if isinstance(encodings, str) or not isinstance(encodings, Iterable):
            raise ValueError(f"encodings must be a sequence of coding names, got {encodings!r}")
        names = tuple(encodings)
        for name in names:
            if name not in _LEVELS:
                raise ValueError(
                    f"encodings: unknown coding {name!r}; respcore offers " + ", ".join(CODINGS)
                )
        if len(set(names)) != len(names):
            raise ValueError(f"encodings: a coding is named twice in {names!r}")
        if not names:
            raise ValueError("encodings must name at least one coding")
        self.minimum_size = minimum_size
        self.encodings = names
        self.gzip_level = _check_level("gzip_level", gzip_level, "gzip")
        self.br_level = _check_level("br_level", br_level, "br")
        self.zstd_level = _check_level("zstd_level", zstd_level, "zstd")
        self.media_types = _check_media_types(media_types)
        self._levels = {"gzip": self.gzip_level, "br": self.br_level, "zstd": self.zstd_level}
        self.offered = tuple(name for name in names if name in AVAILABLE)
        self._exact = frozenset(entry for entry in self.media_types if "/" in entry)
        self._types = frozenset(entry[:-2] for entry in self.media_types if entry.endswith("/*"))
        self._suffixes = tuple(entry for entry in self.media_types if entry.startswith("+"))
        self._cache: dict[str, str | None] = {}

    def __repr__(self) -> str:
        return (
            f"Compression(minimum_size={self.minimum_size!r}, encodings={self.encodings!r}, "
            f"gzip_level={self.gzip_level!r}, br_level={self.br_level!r}, "
            f"zstd_level={self.zstd_level!r})"
        )

    # -- decisions ------------------------------------------------------------------------

    def compressible(self, content_type: str | None) -> bool:
        """Whether a body of this Content-Type is worth compressing."""
        if content_type is None:
            return False
        media = content_type.partition(";")[0].strip(" \t").lower()
        if media in self._exact:
            return True
        kind, _, sub = media.partition("/")
        if kind in self._types:
            return True
        return any(sub.endswith(suffix) for suffix in self._suffixes)

    def negotiate(self, value: str | None) -> str | None:
        """:func:`negotiate` over the codings this policy offers (remembered per value)."""
        if not value:
            return None
        cache = self._cache
        try:
            return cache[value]
        except KeyError:
            pass
        coding = negotiate(value, self.offered)
        if len(value) <= _CACHE_VALUE_MAX and len(cache) < _CACHE_MAX:
            cache[value] = coding
        return coding

    def eligible(self, status: int, fields: Sequence[tuple[str, str]], size: int | None) -> bool:
        """Whether this policy could compress a response with ``status`` and ``fields`` whose
        body is ``size`` bytes (``None``: a stream). Such a response varies with the
        request's Accept-Encoding. Not eligible: 1xx, 204 and 304 (no content) and 206 (a
        range is a part of the identity representation); a body below ``minimum_size``; an
        application Content-Encoding (already coded), Content-Range, or Content-Length (the
        application fixed the bytes on the wire); a media type outside the policy."""
        if status < 200 or status == 204 or status == 304 or status == 206:
            return False
        if size is not None and size < self.minimum_size:
            return False
        content_type = None
        for name, value in fields:
            lowered = name.lower()
            if lowered == "content-type":
                if content_type is None:
                    content_type = value
            elif lowered in _FIXED:
                return False
        return self.compressible(content_type)

    def choose(
        self,
        status: int,
        fields: Sequence[tuple[str, str]],
        size: int | None,
        accept: str | None,
    ) -> tuple[bool, str | None]:
        """``(eligible, coding)``: whether the response could be compressed (see
        :meth:`eligible`), and the coding the request's Accept-Encoding ``accept`` chose
        (``None``: identity)."""
        if not self.eligible(status, fields, size):
            return False, None
        return True, self.negotiate(accept)

    # -- codecs ---------------------------------------------------------------------------

    def compress(self, coding: str, data: bytes) -> bytes:
        """``data`` coded with ``coding`` at this policy's level, as one coded stream."""
        return _ONE_SHOT[coding](data, self._levels[coding])

    def stream_coder(self, coding: str) -> StreamCoder:
        """A new :class:`StreamCoder` for ``coding`` at this policy's level."""
        return _STREAMS[coding](self._levels[coding])


_FIXED = frozenset({"content-encoding", "content-range", "content-length"})


# -- what a coded response sends ---------------------------------------------------------------


def _vary_lists(value: str) -> bool:
    return any(item.strip(" \t").lower() in ("accept-encoding", "*") for item in value.split(","))


def vary_fields(fields: Sequence[tuple[str, str]]) -> list[tuple[str, str]]:
    """``fields`` with ``Accept-Encoding`` in Vary (RFC 9110 §12.5.5): added to the first
    Vary field the application set, or as a new one; unchanged when Vary already lists it
    or ``*``."""
    out = list(fields)
    first = None
    for index, (name, value) in enumerate(out):
        if name.lower() == "vary":
            if _vary_lists(value):
                return out
            if first is None:
                first = index
    if first is None:
        out.append(("Vary", "Accept-Encoding"))
    else:
        name, value = out[first]
        value = value.strip(" \t")
        out[first] = (name, f"{value}, Accept-Encoding" if value else "Accept-Encoding")
    return out


def coded_etag(value: str, coding: str) -> str:
    """An entity-tag for the ``coding`` representation, distinct from the identity one's
    (RFC 9110 §8.8.3: a strong validator changes with the content coding): the coding is
    appended inside the quotes. A value that is not an entity-tag is kept."""
    stripped = value.strip(" \t")
    if len(stripped) >= 2 and stripped.endswith('"') and stripped.startswith(('"', 'W/"')):
        return f'{stripped[:-1]}-{coding}"'
    return value


def coded_fields(fields: Sequence[tuple[str, str]], coding: str) -> list[tuple[str, str]]:
    """The fields of the ``coding`` representation: ``Content-Encoding``, a distinct ETag
    and ``Vary: Accept-Encoding``; the application's other fields as they are."""
    out = [
        (name, coded_etag(value, coding)) if name.lower() == "etag" else (name, value)
        for name, value in fields
    ]
    out.append(("Content-Encoding", coding))
    return vary_fields(out)


# Coded streams begun and not yet ended in this process: a hint for coded_stream, which hands
# big chunks to a thread so that concurrent streams are coded on several cores.
_streams_in_flight = 0

# A lone stream codes on the loop up to this many times its coder's off_loop, giving the loop
# a turn after each such chunk: the hand-off to a thread (about 0.15 ms a chunk on a 2-core
# machine) buys nothing while no other stream waits, and the loop pauses a few milliseconds
# at most.
_ALONE_FACTOR = 4


async def coded_stream(chunks: AsyncIterator[Any], coder: StreamCoder) -> AsyncIterator[bytes]:
    """A stream's chunks coded by ``coder``, each flushed as it comes, then the end of the
    coded stream. Closing it, or throwing into it (a sending path does so at the yield where
    it saw a disconnect or a timeout), closes ``chunks`` the same way."""
    global _streams_in_flight
    _streams_in_flight += 1
    try:
        while True:
            try:
                chunk = await chunks.__anext__()
            except StopAsyncIteration:
                break
            try:
                data = chunk_bytes(chunk)
            except BaseException:
                await stop_stream(chunks)
                raise
            if not data:
                continue
            try:
                size = len(data)
                alone = _streams_in_flight == 1
                if size < coder.off_loop * (_ALONE_FACTOR if alone else 1):
                    coded = coder.compress(data)
                    if size >= coder.off_loop:
                        # A turn of the loop, so that requests waiting on other connections
                        # are read and their streams, once begun, hand off to threads.
                        await asyncio.sleep(0)
                else:
                    # The codecs release the GIL: a big chunk is coded on another core
                    # while the event loop serves the other connections.
                    loop = asyncio.get_running_loop()
                    coded = await loop.run_in_executor(None, coder.compress, data)
            except BaseException:
                await stop_stream(chunks)
                raise
            if not coded:
                continue
            try:
                yield coded
            except BaseException as exc:
                await stop_stream(chunks, None if isinstance(exc, GeneratorExit) else exc)
                raise
        yield coder.finish()
    finally:
        _streams_in_flight -= 1


SUFFIXES = {"zstd": ".zst", "br": ".br", "gzip": ".gz"}
"""The file name suffix of a precompressed sibling, by coding."""


def precompressed_sibling(
    path: str, accept: str | None, order: Sequence[str]
) -> tuple[str, str | None]:
    """The file to send for ``path`` to a request accepting ``accept``: a sibling
    ``path.zst``, ``path.br`` or ``path.gz`` (``order``: the server's preference) that is a
    regular file not older than ``path`` and whose coding the request accepts, as
    ``(sibling, coding)``; else ``(path, None)``. Does blocking ``stat`` calls."""
    if not accept:
        return path, None
    try:
        mtime = os.stat(path).st_mtime_ns
    except OSError:
        return path, None
    fresh = []
    for coding in order:
        try:
            st = os.stat(path + SUFFIXES[coding])
        except OSError:
            continue
        if stat.S_ISREG(st.st_mode) and st.st_mtime_ns >= mtime:
            fresh.append(coding)
    chosen = negotiate(accept, fresh)
    return (path, None) if chosen is None else (path + SUFFIXES[chosen], chosen)


def check_compression(value: object, field: str = "compression") -> Compression | bool | None:
    """A response's ``compression``: a :class:`Compression`, ``False`` (never compressed)
    or ``None`` (the module-wide default)."""
    if value is None or value is False or isinstance(value, Compression):
        return value
    raise TypeError(
        f"{field} must be a Compression, False or None, got {type(value).__name__} {value!r}"
    )
