"""Trailer fields (RFC 9110 §6.5, RFC 9112 §7.1.2): fields a chunked stream sends after its
last chunk, for what is only known once the body is out (a digest, a timing, a final status).

A response announces the names it will send in a ``Trailer`` field (RFC 9110 §6.6.2), so a
recipient knows to look for them; the application's ``trailers()`` function is called once the
stream has ended, and what it returns must be among the announced names. Without chunked
framing (an HTTP/1.0 request, a close-delimited or Content-Length stream, HEAD) there is no
trailer section: the function is not called and nothing is sent after the body.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, Union

from ._rules import TOKEN_CHARS
from .encoder import LAST_CHUNK, encode_head
from .headers import Headers, HeadersInit

__all__ = [
    "PROHIBITED",
    "Trailers",
    "announced_names",
    "check_trailers",
    "trailer_fields",
    "trailer_section",
]

Trailers = Callable[[], HeadersInit]

# RFC 9110 §6.5.1: a sender MUST NOT generate a trailer field unless it knows the recipient may
# use it after the content; the fields needed for framing, routing, request modifiers,
# authentication, response control data and processing the content are never sent there.
PROHIBITED = frozenset(
    {
        # framing (§6.1, RFC 9112 §6) and connection management (§7.6)
        "content-length",
        "transfer-encoding",
        "trailer",
        "te",
        "connection",
        "keep-alive",
        "proxy-connection",
        "upgrade",
        # routing (§7.2)
        "host",
        # request modifiers and controls (§7.6.2, §10.1)
        "expect",
        "max-forwards",
        "range",
        "if-match",
        "if-none-match",
        "if-modified-since",
        "if-unmodified-since",
        "if-range",
        # authentication (§11)
        "authorization",
        "proxy-authorization",
        "www-authenticate",
        "proxy-authenticate",
        # response control data (§10.2, RFC 9111 §5)
        "age",
        "cache-control",
        "expires",
        "pragma",
        "date",
        "location",
        "retry-after",
        "vary",
        # how to process the content (§8)
        "content-encoding",
        "content-type",
        "content-range",
        "content-disposition",
        # state management: cookies must be known before the content (RFC 6265bis §5.6)
        "set-cookie",
        "cookie",
    }
)

_TOKEN = frozenset(TOKEN_CHARS)
# The status line encode_head writes for 200: cut off to leave the encoded field lines.
_STATUS_LINE = len(b"HTTP/1.1 200 OK\r\n")


def _prohibited(name: str, where: str) -> ValueError:
    return ValueError(
        f"{where}: {name!r} cannot be sent as a trailer field (RFC 9110 §6.5.1: it is needed "
        "before the content)"
    )


def announced_names(values: Iterable[str]) -> frozenset[str]:
    """The lowercase field names a response's ``Trailer`` field values list; ``ValueError``
    for a member that is not a token or names a prohibited field."""
    names = set()
    for value in values:
        for member in value.split(","):
            name = member.strip(" \t")
            if not name:
                continue
            if not set(name) <= _TOKEN:
                raise ValueError(f"header 'Trailer': {name!r} is not a field name")
            if name.lower() in PROHIBITED:
                raise _prohibited(name, "header 'Trailer'")
            names.add(name.lower())
    return frozenset(names)


def check_trailers(fn: object, announced: Iterable[str]) -> Trailers:
    """``fn`` when it is callable and the response announces at least one allowed name."""
    if not callable(fn):
        raise TypeError(f"trailers must be a no-argument callable, got {fn!r}")
    if not announced_names(announced):
        raise ValueError(
            "trailers: announce the trailer field names in a Trailer header first "
            "(RFC 9110 §6.6.2), e.g. headers={'Trailer': 'Server-Timing'}"
        )
    return fn


def trailer_fields(fn: Trailers, announced: Iterable[str]) -> list[tuple[str, str]]:
    """The fields ``fn()`` returns (a ``Headers``, a mapping or pairs), validated like any
    field. ``ValueError`` when one is malformed, prohibited, or was not announced in
    ``Trailer`` (a recipient would not expect it)."""
    names = announced_names(announced)
    fields: Union[Headers, Any] = fn()
    checked = Headers(fields)._fields
    for name, _ in checked:
        lowered = name.lower()
        if lowered in PROHIBITED:
            raise _prohibited(name, "trailers")
        if lowered not in names:
            raise ValueError(
                f"trailers: {name!r} was not announced in the Trailer header "
                f"({', '.join(sorted(names))})"
            )
    return checked


def trailer_section(fn: Trailers, announced: Iterable[str]) -> bytes:
    """The end of a chunked body: the last chunk, the trailer fields of :func:`trailer_fields`
    and the final CRLF (RFC 9112 §7.1.2)."""
    fields = trailer_fields(fn, announced)
    if not fields:
        return LAST_CHUNK
    return b"0\r\n" + encode_head(200, fields)[_STATUS_LINE:]
