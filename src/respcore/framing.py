"""The one framing decision: how a response's body is delimited on the wire, and which header
fields that adds or takes away.

Every sending path (``Response.encode``, the ASGI path, a transport writer) asks :func:`decide`
and follows its answer; none re-derives a rule. :func:`decide` reads the response's header
fields and never changes them: it returns the fields to send as a new list.

Body plans, the vocabulary a writer needs:

``"none"``     no body bytes at all (HEAD, 1xx, 204, 304);
``"length"``   exactly ``Framing.content_length`` bytes, announced by Content-Length;
``"chunked"``  the chunked transfer coding, ended by the last chunk (RFC 9112 §7.1);
``"close"``    the body runs until the server closes the connection (RFC 9112 §6.3 item 8).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Literal, Union

from ._date import clock, http_date
from .encoder import encode_head

__all__ = ["HEADS", "BodyKind", "BodyPlan", "Framing", "PlanTuple", "decide", "plain_head", "plan"]

BodyKind = Literal["bytes", "stream", "file"]
BodyPlan = Literal["none", "length", "chunked", "close"]

_CONTENT_LENGTH = 1
_TRANSFER_ENCODING = 2
_CONNECTION = 3
_DATE = 4
_INTERESTING = {
    "content-length": _CONTENT_LENGTH,
    "transfer-encoding": _TRANSFER_ENCODING,
    "connection": _CONNECTION,
    "date": _DATE,
}
_NO_FIELDS: frozenset[str] = frozenset()
_WS = " \t"


class Framing:
    """The answer of :func:`decide`.

    ``body``: the body plan; ``content_length``: the bytes to send when ``body`` is
    ``"length"``, else ``None``; ``keep_alive``: whether the connection may carry another
    response after this one; ``fields``: every header field to send, in order (the
    application's, less ``omit``, then ``add``); ``add``: the fields framing added;
    ``omit``: the lowercase names of the application's fields left out.
    """

    __slots__ = ("add", "body", "content_length", "fields", "keep_alive", "omit")

    def __init__(
        self,
        body: BodyPlan,
        content_length: int | None,
        keep_alive: bool,
        fields: list[tuple[str, str]],
        add: list[tuple[str, str]],
        omit: frozenset[str],
    ) -> None:
        self.body: BodyPlan = body
        self.content_length = content_length
        self.keep_alive = keep_alive
        self.fields = fields
        self.add = add
        self.omit = omit

    def __repr__(self) -> str:
        return (
            f"Framing(body={self.body!r}, content_length={self.content_length!r}, "
            f"keep_alive={self.keep_alive!r}, add={self.add!r}, omit={sorted(self.omit)!r})"
        )


def _tokens(values: list[str]) -> list[str]:
    """The comma-separated list elements of some field values, lowercased (RFC 9110 §5.6.1)."""
    return [item.strip(_WS).lower() for value in values for item in value.split(",")]


def _content_length(values: list[str]) -> int:
    """The one length that the application's Content-Length fields state.

    RFC 9110 §8.6: Content-Length = 1*DIGIT; several fields (or a list) are only acceptable
    when every member is the same number.
    """
    members = {item.strip(_WS) for value in values for item in value.split(",")}
    if len(members) != 1:
        raise ValueError(f"Content-Length: conflicting values {values!r} (RFC 9110 §8.6)")
    member = members.pop()
    if not (member.isascii() and member.isdigit()):
        raise ValueError(f"Content-Length: {member!r} is not a decimal number (RFC 9110 §8.6)")
    return int(member)


PlanTuple = tuple[
    BodyPlan, Union[int, None], bool, list[tuple[str, str]], list[tuple[str, str]], frozenset[str]
]


def decide(
    status: int,
    fields: Sequence[tuple[str, str]],
    kind: BodyKind,
    length: int | None,
    method: str = "GET",
    version: str = "1.1",
    keep_alive: bool = True,
    date: bool = True,
) -> Framing:
    """Decide how a response is framed.

    ``status``, ``fields`` (validated (name, value) str pairs, e.g. ``Headers._fields``) and
    ``kind`` describe the response; ``length`` is the size of a bytes or file body (``None``
    for a stream). ``method`` and ``version`` are the request's; ``keep_alive`` says whether
    the request lets the connection persist (HTTP/1.1 without ``Connection: close``, or
    HTTP/1.0 with ``Connection: keep-alive``). ``date=False`` leaves ``Date`` to someone else
    (an ASGI server adds its own).

    Raises ``ValueError`` when the application's Content-Length is malformed or disagrees
    with a bytes or file body, or when ``version`` is not ``"1.0"`` or ``"1.1"``.
    """
    return Framing(*plan(status, fields, kind, length, method, version, keep_alive, date))


def plan(
    status: int,
    fields: Sequence[tuple[str, str]],
    kind: BodyKind,
    length: int | None,
    method: str = "GET",
    version: str = "1.1",
    keep_alive: bool = True,
    date: bool = True,
) -> PlanTuple:
    """:func:`decide` as a plain tuple, for the hot paths: ``(body, content_length,
    keep_alive, fields, add, omit)``."""
    lengths: list[str] | None = None
    codings: list[str] | None = None
    connection: list[str] | None = None
    has_date = False
    for name, value in fields:
        which = _INTERESTING.get(name.lower())
        if which is None:
            continue
        if which == _CONTENT_LENGTH:
            lengths = [value] if lengths is None else [*lengths, value]
        elif which == _TRANSFER_ENCODING:
            codings = [value] if codings is None else [*codings, value]
        elif which == _CONNECTION:
            connection = [value] if connection is None else [*connection, value]
        else:
            has_date = True

    if (
        lengths is None
        and codings is None
        and connection is None
        and length is not None
        and version == "1.1"
        and keep_alive
        and status >= 200
        and status != 204
        and status != 304
        and method != "HEAD"
    ):
        # The common case, a bytes or file body to a persistent HTTP/1.1 GET: what the
        # general rules below decide, without their bookkeeping.
        if date and not has_date:
            add = [("Content-Length", str(length)), ("Date", http_date())]
        else:
            add = [("Content-Length", str(length))]
        return "length", length, True, [*fields, *add], add, _NO_FIELDS

    if version != "1.1" and version != "1.0":
        raise ValueError(f'HTTP version must be "1.0" or "1.1", got {version!r}')
    declared = None if lengths is None else _content_length(lengths)
    no_body = status < 200 or status == 204 or status == 304
    # In a 304 the application's Content-Length describes the selected representation
    # (RFC 9110 §8.6), not this response's empty body: it is dropped, not checked.
    if no_body and status != 304 and length:
        # RFC 9110 §15.2, §15.3.5: a 1xx or 204 response has no content; dropping the body
        # the application gave would lose it without a word.
        raise ValueError(
            f"status {status}: a {status} response cannot carry content, "
            f"but its {kind} body is {length} bytes (RFC 9110 §15.3.5)"
        )
    if declared is not None and kind != "stream" and declared != length and not no_body:
        # A Content-Length the body does not match would corrupt the message framing.
        raise ValueError(
            f"Content-Length: the application set {declared}, but the {kind} body is {length} bytes"
        )

    add = []
    omit: set[str] = set()
    content_length: int | None = None
    body: BodyPlan
    if no_body:
        # RFC 9110 §8.6, RFC 9112 §6.1: no Content-Length or Transfer-Encoding in a 1xx or
        # 204; for 304 we drop them too (RFC 9110 §15.4.5 permits, never requires them).
        body = "none"
        if lengths is not None:
            omit.add("content-length")
        if codings is not None:
            omit.add("transfer-encoding")
    else:
        if codings is not None:
            if lengths is not None:
                # RFC 9112 §6.2: a sender MUST NOT send Content-Length with Transfer-Encoding.
                omit.add("content-length")
            if version == "1.0":
                # RFC 9112 §6.1: no Transfer-Encoding to a request that is not HTTP/1.1.
                omit.add("transfer-encoding")
                body = "close"
            elif _tokens(codings)[-1] == "chunked":
                body = "chunked"
            else:
                # RFC 9112 §6.3 item 4: chunked not final, the body ends with the connection.
                body = "close"
        elif kind == "stream":
            if declared is None:
                body = "close"
            else:
                body = "length"
                content_length = declared
        else:
            if length is None:
                raise ValueError(f"a {kind} body needs its length to be framed")
            body = "length"
            content_length = length
            if declared is None:
                add.append(("Content-Length", str(length)))
        if method == "HEAD":
            # RFC 9110 §9.3.2: the head a GET would get, without content.
            body = "none"
            content_length = None

    # RFC 9112 §9.3 and §9.6: persistence, and the Connection fields that announce it.
    close_asked = connection is not None and "close" in _tokens(connection)
    persist = keep_alive and not close_asked and body != "close"
    if not persist and not close_asked:
        if connection is not None:
            omit.add("connection")
        add.append(("Connection", "close"))
    elif persist and version == "1.0" and "keep-alive" not in _tokens(connection or []):
        add.append(("Connection", "keep-alive"))

    if date and not has_date and status >= 200:
        # RFC 9110 §6.6.1: an origin server with a clock MUST send Date in 2xx-4xx responses.
        add.append(("Date", http_date()))

    if omit:
        frozen = frozenset(omit)
        sent = [field for field in fields if field[0].lower() not in frozen]
        sent.extend(add)
        return body, content_length, persist, sent, add, frozen
    return body, content_length, persist, [*fields, *add], add, _NO_FIELDS


PlainKey = tuple[int, Union[str, None], int, str, str, bool]


class _Heads:
    """Encoded heads of responses whose only field is Content-Type, for the current second
    (their Date is in them): a server answers the same few such responses over and over."""

    __slots__ = ("expires", "heads")

    def __init__(self) -> None:
        self.expires = 0.0
        self.heads: dict[PlainKey, tuple[BodyPlan, bytes]] = {}


HEADS = _Heads()
_HEADS_MAX = 1024
_time = time.time


def plain_head(key: PlainKey) -> tuple[BodyPlan, bytes]:
    """The body plan and the encoded head of a bytes response whose only header field is
    ``Content-Type``, for ``key`` = ``(status, content_type or None, length, method,
    version, keep_alive)``: what :func:`plan` and ``encode_head`` give, remembered in
    ``HEADS`` until the Date changes. Callers may look in ``HEADS.heads`` first while
    ``time.time() < HEADS.expires``."""
    now = _time()
    heads = HEADS
    if now >= heads.expires:
        if now >= clock.expires:
            clock.refresh(now)
        heads.heads = {}
        heads.expires = clock.expires
    entry = heads.heads.get(key)
    if entry is None:
        status, content_type, length, method, version, keep_alive = key
        fields = [] if content_type is None else [("Content-Type", content_type)]
        body, _, _, sent, _, _ = plan(status, fields, "bytes", length, method, version, keep_alive)
        entry = (body, encode_head(status, sent))
        if len(heads.heads) < _HEADS_MAX:
            heads.heads[key] = entry
    return entry
