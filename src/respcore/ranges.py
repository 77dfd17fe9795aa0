"""What a file response sends for a request's conditional and range header fields.

RFC 9110 §13 (conditional requests) and §14 (range requests), as a pure decision: no I/O.
:func:`select` takes the request's header fields, the response's status and fields and the
file's size, and returns a :class:`FileSelection`: the status to send (200, 206, 304, 412 or
416), the header fields to send (before framing adds Content-Length, Date and Connection)
and the body as segments, each either literal bytes or an ``(offset, count)`` span of the
file.

The helpers it is built from are public too: :func:`parse_http_date`,
:func:`parse_entity_tag`, :func:`parse_entity_tags`, :func:`parse_range` and
:func:`multipart_segments`.
"""

from __future__ import annotations

import calendar
import re
import secrets
import time
from bisect import bisect_left, bisect_right
from typing import Union

from .headers import Headers

__all__ = [
    "FileSelection",
    "Segment",
    "multipart_segments",
    "parse_entity_tag",
    "parse_entity_tags",
    "parse_http_date",
    "parse_range",
    "select",
]

Segment = Union[bytes, tuple[int, int]]
"""A piece of a body: literal bytes, or an ``(offset, count)`` span of the file."""

EntityTag = tuple[bool, str]
"""A parsed entity-tag: ``(weak, opaque)``, ``opaque`` without its double quotes."""

_WS = " \t"

# -- HTTP-date (RFC 9110 §5.6.7) ---------------------------------------------------------------

_DAY = "(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)"
_DAY_L = "(?:Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday)"
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_MONTH = "(" + "|".join(_MONTHS) + ")"
_TIME = "([0-9]{2}):([0-9]{2}):([0-9]{2})"
# HTTP-date is case-sensitive and its separators are single spaces (RFC 9110 §5.6.7).
_IMF_FIXDATE = re.compile(_DAY + ", ([0-9]{2}) " + _MONTH + " ([0-9]{4}) " + _TIME + " GMT")
_RFC850_DATE = re.compile(_DAY_L + ", ([0-9]{2})-" + _MONTH + "-([0-9]{2}) " + _TIME + " GMT")
_ASCTIME_DATE = re.compile(_DAY + " " + _MONTH + " ([0-9]{2}| [0-9]) " + _TIME + " ([0-9]{4})")
_MONTH_NUMBER = {name: number for number, name in enumerate(_MONTHS, 1)}


def _timestamp(year: int, month: int, day: int, hour: int, minute: int, second: int) -> int | None:
    if year < 1 or hour > 23 or minute > 59 or second > 60:  # 60: a leap second
        return None
    if not 1 <= day <= calendar.monthrange(year, month)[1]:
        return None
    return calendar.timegm((year, month, day, hour, minute, second))


def parse_http_date(value: str, now: float | None = None) -> int | None:
    """The seconds since the epoch that an HTTP-date states, or ``None`` if ``value`` is not
    one.

    Accepts the three formats RFC 9110 §5.6.7 requires a recipient to accept, exactly as
    that grammar writes them (case-sensitive, single spaces): IMF-fixdate (``Sun, 06 Nov 1994
    08:49:37 GMT``), the obsolete RFC 850 form (``Sunday, 06-Nov-94 08:49:37 GMT``) and
    asctime (``Sun Nov  6 08:49:37 1994``). A two-digit RFC 850 year that would be more than
    50 years after ``now`` (``time.time()`` if ``None``) is taken as the most recent such year
    in the past. The day name is not checked against the date; an impossible date (31 Apr,
    hour 24) is not an HTTP-date.
    """
    match = _IMF_FIXDATE.fullmatch(value)
    if match is not None:
        day, month, year, hour, minute, second = match.groups()
        return _timestamp(
            int(year), _MONTH_NUMBER[month], int(day), int(hour), int(minute), int(second)
        )
    match = _RFC850_DATE.fullmatch(value)
    if match is not None:
        day, month, yy, hour, minute, second = match.groups()
        this_year = time.gmtime(time.time() if now is None else now).tm_year
        year = this_year - this_year % 100 + int(yy)
        if year > this_year + 50:
            year -= 100
        return _timestamp(year, _MONTH_NUMBER[month], int(day), int(hour), int(minute), int(second))
    match = _ASCTIME_DATE.fullmatch(value)
    if match is not None:
        month, day, hour, minute, second, year = match.groups()
        return _timestamp(
            int(year), _MONTH_NUMBER[month], int(day), int(hour), int(minute), int(second)
        )
    return None


def _single_date(values: list[str] | None) -> int | None:
    """The date of a field whose value must be one HTTP-date, else ``None`` (the field is then
    ignored: RFC 9110 §13.1.3 and §13.1.4, "not a valid HTTP-date", "more than one member",
    "appears to be a list of dates")."""
    if values is None or len(values) != 1:
        return None
    return parse_http_date(values[0])


# -- entity-tags (RFC 9110 §8.8.3) -------------------------------------------------------------

# entity-tag = [ %s"W/" ] DQUOTE *etagc DQUOTE; etagc = %x21 / %x23-7E / obs-text
_ENTITY_TAG = re.compile(r'(W/)?"([\x21\x23-\x7e\x80-\xff]*)"')


def parse_entity_tag(value: str) -> EntityTag | None:
    """``value`` as one entity-tag, ``(weak, opaque)``, or ``None`` if it is not one."""
    match = _ENTITY_TAG.fullmatch(value)
    if match is None:
        return None
    return match.group(1) is not None, match.group(2)


def parse_entity_tags(value: str) -> list[EntityTag] | None:
    """``value`` as ``#entity-tag`` (RFC 9110 §5.6.1: OWS around commas, empty elements
    tolerated), or ``None`` if it is not such a list. An opaque-tag may hold commas."""
    tags: list[EntityTag] = []
    index = 0
    end = len(value)
    while True:
        while index < end and value[index] in " \t,":
            index += 1
        if index == end:
            return tags
        match = _ENTITY_TAG.match(value, index)
        if match is None:
            return None
        tags.append((match.group(1) is not None, match.group(2)))
        index = match.end()
        while index < end and value[index] in _WS:
            index += 1
        if index < end and value[index] != ",":
            return None


def _strong_match(a: EntityTag, b: EntityTag) -> bool:
    # RFC 9110 §8.8.3.2: both strong, opaque-tags identical.
    return not a[0] and not b[0] and a[1] == b[1]


def _weak_match(a: EntityTag, b: EntityTag) -> bool:
    # RFC 9110 §8.8.3.2: opaque-tags identical, either or both may be weak.
    return a[1] == b[1]


def _if_match(value: str, current: EntityTag | None) -> bool:
    """The If-Match condition (RFC 9110 §13.1.1) for a representation that exists."""
    if value.strip(_WS) == "*":
        return True
    tags = parse_entity_tags(value)
    # "Otherwise, the condition is false": also when the value is not a list of entity-tags.
    if tags is None or current is None:
        return False
    return any(_strong_match(tag, current) for tag in tags)


def _if_none_match(value: str, current: EntityTag | None) -> bool:
    """The If-None-Match condition (RFC 9110 §13.1.2) for a representation that exists."""
    if value.strip(_WS) == "*":
        return False
    tags = parse_entity_tags(value)
    # "Otherwise, the condition is true": also when the value is not a list of entity-tags.
    if tags is None or current is None:
        return True
    return not any(_weak_match(tag, current) for tag in tags)


# -- Range (RFC 9110 §14.1) --------------------------------------------------------------------

_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_INT_RANGE = re.compile(r"([0-9]*)-([0-9]*)")
# Numbers longer than this saturate: no file is that large, and int() of a very long digit
# string costs time quadratic in its length (and fails past sys.get_int_max_str_digits()).
_MAX_DIGITS = 30
_HUGE = 10**_MAX_DIGITS


def _number(digits: str) -> int:
    if len(digits) <= _MAX_DIGITS:
        return int(digits)
    digits = digits.lstrip("0")
    return int(digits or "0") if len(digits) <= _MAX_DIGITS else _HUGE


def _digits_key(digits: str) -> tuple[int, str]:
    digits = digits.lstrip("0")
    return len(digits), digits


def parse_range(value: str, size: int, max_ranges: int = 64) -> list[tuple[int, int]] | None:
    """The byte ranges a ``Range`` field value selects from a representation of ``size``
    bytes (RFC 9110 §14.1.1, §14.1.2), coalesced, as ``(first, last)`` inclusive offsets in the
    order the parts are to be sent.

    Returns ``None`` when the Range field is to be ignored (the whole representation is
    sent): a unit other than ``bytes``, a malformed value (``bytes=5-4``, non-digits, an empty
    set), more than ``max_ranges`` disjoint ranges needed at any point of the scan, or a
    zero-length representation with a satisfiable suffix-range. Returns ``[]`` when no
    range-spec is satisfiable (a 416).

    Overlapping and adjacent ranges are merged as the specs are read; the merged ranges are
    kept sorted, at most ``max_ranges`` of them, so the work is linear in the number of specs.
    Parts are ordered by the position of the first spec that contributed to them (RFC 9110
    §14.6: in the order of the range-specs, less those coalesced into others).
    """
    unit, equals, range_set = value.partition("=")
    # RFC 9110 §14.1: range-unit "=" range-set, with no whitespace around "=".
    if not equals or _TOKEN.fullmatch(unit) is None or unit.lower() != "bytes":
        return None
    if range_set[:1] in (" ", "\t"):
        return None
    starts: list[int] = []  # the merged ranges, sorted and disjoint, as [start, end)
    ends: list[int] = []
    orders: list[int] = []  # the index of each merged range's first contributing spec
    seen = False
    suffix_on_empty = False
    for order, element in enumerate(range_set.split(",")):
        spec = element.strip(_WS)
        if not spec:
            continue  # RFC 9110 §5.6.1: empty list elements are tolerated
        match = _INT_RANGE.fullmatch(spec)
        if match is None:
            return None
        first_digits, last_digits = match.groups()
        seen = True
        if first_digits:
            first = _number(first_digits)
            if last_digits:
                last = _number(last_digits)
                if last < first or (
                    last == first == _HUGE and _digits_key(last_digits) < _digits_key(first_digits)
                ):
                    return None  # RFC 9110 §14.1.1: last-pos less than first-pos is invalid
                end = min(last + 1, size)
            else:
                end = size
            if first >= size:
                continue  # unsatisfiable (RFC 9110 §14.1.2)
            start = first
        elif last_digits:
            length = _number(last_digits)
            if length == 0:
                continue  # a zero suffix-length is unsatisfiable (RFC 9110 §14.1.2)
            if size == 0:
                suffix_on_empty = True
                continue
            start = max(size - length, 0)
            end = size
        else:
            return None  # "-" alone is no range-spec
        # Merge with every range it overlaps or touches: those with end >= start and
        # start <= end.
        low = bisect_left(ends, start)
        high = bisect_right(starts, end)
        if low < high:
            start = min(start, starts[low])
            end = max(end, ends[high - 1])
            order = min(order, *orders[low:high])
            starts[low:high] = [start]
            ends[low:high] = [end]
            orders[low:high] = [order]
        else:
            if len(starts) == max_ranges:
                return None
            starts.insert(low, start)
            ends.insert(low, end)
            orders.insert(low, order)
    if not seen:
        return None  # range-set = 1#range-spec: at least one
    if suffix_on_empty:
        # RFC 9110 §14.1.2: on a zero-length representation a suffix-range with a non-zero
        # length is satisfiable, yet no Content-Range can state an empty range (§14.4), so
        # the Range field is ignored (§14.2: a server MAY ignore it) and the 200 is sent.
        return None
    ranked = sorted(zip(orders, starts, ends, strict=True))
    return [(start, end - 1) for _, start, end in ranked]


# -- multipart/byteranges (RFC 9110 §14.6, RFC 2046 §5.1.1) -----------------------------------

_BCHARS = re.compile(r"[0-9A-Za-z'()+_,\-./:=? ]{0,69}[0-9A-Za-z'()+_,\-./:=?]")
_TOKEN_BOUNDARY = re.compile(r"[0-9A-Za-z'+_\-.]+")


def _boundary_parameter(boundary: str) -> str:
    if _TOKEN_BOUNDARY.fullmatch(boundary):
        return boundary
    return f'"{boundary}"'  # bchars hold no DQUOTE or backslash


def multipart_segments(
    ranges: list[tuple[int, int]], size: int, content_type: str | None, boundary: str
) -> list[Segment]:
    """The body of a ``multipart/byteranges`` response for ``ranges`` (inclusive
    ``(first, last)`` offsets) of a ``size``-byte file.

    Each part is ``--boundary CRLF``, its Content-Type (when ``content_type`` is not
    ``None``) and Content-Range, a blank line and the span; the CRLF that follows a span
    belongs to the next delimiter (RFC 2046 §5.1.1), and the body ends with the close
    delimiter ``--boundary--`` and a CRLF.
    """
    segments: list[Segment] = []
    pending = b""
    type_line = "" if content_type is None else f"Content-Type: {content_type}\r\n"
    for first, last in ranges:
        head = f"--{boundary}\r\n{type_line}Content-Range: bytes {first}-{last}/{size}\r\n\r\n"
        segments.append(pending + head.encode("latin-1"))
        segments.append((first, last - first + 1))
        pending = b"\r\n"
    segments.append(pending + f"--{boundary}--\r\n".encode("latin-1"))
    return segments


# -- the selection -----------------------------------------------------------------------------

# RFC 9110 §15.4.5: a 304 carries no representation metadata except what guides cache updates.
_DROP_304 = frozenset(
    {
        "content-type",
        "content-encoding",
        "content-language",
        "content-length",
        "content-disposition",
        "content-range",
        "transfer-encoding",
        "accept-ranges",
    }
)
# A 412 or 416 has no (or another) content: the file's type, disposition and length are not
# its own.
_DROP_NO_FILE = frozenset({"content-type", "content-disposition", "content-length"})
# RFC 9110 §13.2.1: preconditions do not apply to methods that do not select a representation.
_NO_PRECONDITIONS = frozenset({"CONNECT", "OPTIONS", "TRACE"})


class FileSelection:
    """What :func:`select` decided.

    ``status``: 200, 206, 304, 412 or 416 (or the response's own status when it was not 200);
    ``fields``: the header fields to send, before framing adds Content-Length, Date and
    Connection; ``segments``: the body in order, literal bytes or ``(offset, count)`` spans
    of the file (``[]`` for 304, 412 and 416); ``length``: the body's size in bytes.
    """

    __slots__ = ("fields", "length", "segments", "status")

    def __init__(
        self, status: int, fields: list[tuple[str, str]], segments: list[Segment], length: int
    ) -> None:
        self.status = status
        self.fields = fields
        self.segments = segments
        self.length = length

    def __repr__(self) -> str:
        return (
            f"FileSelection(status={self.status!r}, fields={self.fields!r}, "
            f"segments={self.segments!r}, length={self.length!r})"
        )


def _whole(status: int, fields: list[tuple[str, str]], size: int) -> FileSelection:
    return FileSelection(status, fields, [(0, size)] if size else [], size)


def _without(fields: list[tuple[str, str]], names: frozenset[str]) -> list[tuple[str, str]]:
    return [field for field in fields if field[0].lower() not in names]


def _check_arguments(
    method: object,
    request: object,
    status: object,
    fields: object,
    size: object,
    max_ranges: object,
    now: object,
    boundary: object,
) -> None:
    if not isinstance(method, str):
        raise TypeError(f"method must be a str, got {type(method).__name__}")
    if request is not None and not isinstance(request, Headers):
        raise TypeError(f"request must be a Headers or None, got {type(request).__name__}")
    if not isinstance(status, int) or isinstance(status, bool):
        raise TypeError(f"status must be an int, got {type(status).__name__}")
    if not isinstance(fields, list):
        raise TypeError(
            f"fields must be a list of (name, value) pairs, got {type(fields).__name__}"
        )
    for field in fields:
        if (
            not isinstance(field, tuple)
            or len(field) != 2
            or not isinstance(field[0], str)
            or not isinstance(field[1], str)
        ):
            raise TypeError(f"fields must hold (str, str) pairs, got {field!r}")
    if not isinstance(size, int) or isinstance(size, bool):
        raise TypeError(f"size must be an int, got {type(size).__name__}")
    if size < 0:
        raise ValueError(f"size must be >= 0, got {size}")
    if not isinstance(max_ranges, int) or isinstance(max_ranges, bool):
        raise TypeError(f"max_ranges must be an int, got {type(max_ranges).__name__}")
    if max_ranges < 1:
        raise ValueError(f"max_ranges must be >= 1, got {max_ranges}")
    if now is not None and (not isinstance(now, (int, float)) or isinstance(now, bool)):
        raise TypeError(f"now must be a float or None, got {type(now).__name__}")
    if boundary is not None:
        if not isinstance(boundary, str):
            raise TypeError(f"boundary must be a str or None, got {type(boundary).__name__}")
        if _BCHARS.fullmatch(boundary) is None:
            raise ValueError(
                f"boundary must be 1 to 70 RFC 2046 bchars, not ending in a space: {boundary!r}"
            )


def select(
    method: str,
    request: Headers | None,
    status: int,
    fields: list[tuple[str, str]],
    size: int,
    *,
    max_ranges: int = 64,
    now: float | None = None,
    boundary: str | None = None,
) -> FileSelection:
    """Decide what a file response of ``size`` bytes sends to a ``method`` request whose
    header fields are ``request`` (``None``: no conditionals, no ranges).

    ``status`` and ``fields`` are the response's; ``fields`` carry its validators (``ETag``,
    ``Last-Modified``) and Content-Type, names in any case. Only a 200 is subject to the
    request's conditionals and Range; any other status comes back unchanged, whole file.

    The preconditions are evaluated in the order of RFC 9110 §13.2.2: If-Match (strong
    comparison) or, without it, If-Unmodified-Since, false → 412; If-None-Match (weak
    comparison) false → 304 for GET and HEAD, 412 otherwise; or, without it, for GET and HEAD,
    If-Modified-Since false → 304. Then, for GET only (§14.2), Range (see :func:`parse_range`),
    subject to If-Range (§13.1.5): one range → 206 with Content-Range; several → 206
    ``multipart/byteranges`` (``boundary``, random if ``None``); none satisfiable → 416 with
    ``Content-Range: bytes */size``. ``now`` (``time.time()`` if ``None``) decides whether a
    Last-Modified date is a strong validator for If-Range (§8.8.2.2).
    """
    _check_arguments(method, request, status, fields, size, max_ranges, now, boundary)
    fields = list(fields)
    if status != 200 or request is None:
        return _whole(status, fields, size)

    by_name: dict[str, list[str]] = {}
    for name, value in fields:
        by_name.setdefault(name.lower(), []).append(value)
    etags = by_name.get("etag")
    current = parse_entity_tag(etags[0]) if etags is not None and len(etags) == 1 else None
    modified = _single_date(by_name.get("last-modified"))
    safe = method == "GET" or method == "HEAD"

    if method not in _NO_PRECONDITIONS:
        # RFC 9110 §13.2.2, step 1 and 2.
        if_match = request.getall("If-Match", None)
        if if_match is not None:
            if not _if_match(", ".join(if_match), current):
                return FileSelection(412, _without(fields, _DROP_NO_FILE), [], 0)
        else:
            since = _single_date(request.getall("If-Unmodified-Since", None))
            # §13.1.4: ignored when the representation has no modification date.
            if since is not None and modified is not None and modified > since:
                return FileSelection(412, _without(fields, _DROP_NO_FILE), [], 0)
        # Step 3 and 4.
        if_none_match = request.getall("If-None-Match", None)
        if if_none_match is not None:
            if not _if_none_match(", ".join(if_none_match), current):
                # SPEC.md names only the 304 of GET and HEAD; RFC 9110 §13.2.2 step 3 answers
                # any other method with 412.
                if safe:
                    return FileSelection(304, _without(fields, _DROP_304), [], 0)
                return FileSelection(412, _without(fields, _DROP_NO_FILE), [], 0)
        elif safe:
            since = _single_date(request.getall("If-Modified-Since", None))
            # §13.1.3: ignored when the representation has no modification date.
            if since is not None and modified is not None and modified <= since:
                return FileSelection(304, _without(fields, _DROP_304), [], 0)

    # Step 5: Range, on GET only (§14.2).
    if method != "GET":
        return _whole(200, fields, size)
    range_values = request.getall("Range", None)
    if range_values is None:
        return _whole(200, fields, size)
    if_range = request.getall("If-Range", None)
    if if_range is not None and not _if_range(if_range, current, modified, now):
        return _whole(200, fields, size)
    ranges = parse_range(", ".join(range_values), size, max_ranges)
    if ranges is None:
        return _whole(200, fields, size)
    if not ranges:
        sent = _without(fields, _DROP_NO_FILE | {"content-range"})
        sent.append(("Content-Range", f"bytes */{size}"))
        return FileSelection(416, sent, [], 0)
    if len(ranges) == 1:
        first, last = ranges[0]
        # Content-Length, when the application set one, is the whole file's: not this body's.
        sent = _without(fields, frozenset({"content-range", "content-length"}))
        sent.append(("Content-Range", f"bytes {first}-{last}/{size}"))
        count = last - first + 1
        return FileSelection(206, sent, [(first, count)], count)

    if boundary is None:
        boundary = secrets.token_hex(16)
    types = by_name.get("content-type")
    content_type = None if types is None else types[0]
    multipart = ("Content-Type", f"multipart/byteranges; boundary={_boundary_parameter(boundary)}")
    # The multipart type replaces the response's Content-Type where it stood.
    sent = []
    placed = False
    for field in fields:
        name = field[0].lower()
        if name == "content-type":
            if not placed:
                sent.append(multipart)
                placed = True
        elif name != "content-range" and name != "content-length":
            sent.append(field)
    if not placed:
        sent.append(multipart)
    segments = multipart_segments(ranges, size, content_type, boundary)
    length = sum(len(part) if isinstance(part, bytes) else part[1] for part in segments)
    return FileSelection(206, sent, segments, length)


def _if_range(
    values: list[str], current: EntityTag | None, modified: int | None, now: float | None
) -> bool:
    """The If-Range condition (RFC 9110 §13.1.5). A value that is neither one entity-tag nor
    one HTTP-date matches nothing: the condition is false ("Otherwise, the condition is
    false"), so the Range is ignored rather than honoured unconditionally."""
    if len(values) != 1:
        return False
    value = values[0]
    if value.startswith(('"', 'W/"')):
        tag = parse_entity_tag(value)
        # Step 2: strong comparison; a weak tag on either side never matches.
        return tag is not None and current is not None and _strong_match(tag, current)
    date = parse_http_date(value)
    if date is None or modified is None or date != modified:
        return False
    # Step 1: the date must be a strong validator. §8.8.2.2: the origin server knows the
    # representation did not change twice within the second the date names once that second
    # is over, i.e. Last-Modified is at least one second before now.
    return modified + 1 <= (time.time() if now is None else now)
