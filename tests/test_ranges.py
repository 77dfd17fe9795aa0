"""respcore.ranges: conditional requests and byte ranges for file bodies (RFC 9110 §13, §14)."""

from __future__ import annotations

import email
import email.policy
import re
import time
from email.message import Message

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from respcore.headers import Headers
from respcore.ranges import (
    FileSelection,
    multipart_segments,
    parse_entity_tag,
    parse_entity_tags,
    parse_http_date,
    parse_range,
    select,
)

DATA = bytes(range(256)) * 4  # 1024 bytes, every byte value, CR and LF included
LM = "Sun, 06 Nov 1994 08:49:37 GMT"
LM_TS = 784111777
LATER = "Sun, 06 Nov 1994 08:49:38 GMT"
EARLIER = "Sun, 06 Nov 1994 08:49:36 GMT"
NOW = LM_TS + 3600.0
FIELDS = [
    ("Content-Type", "application/octet-stream"),
    ("ETag", '"abc"'),
    ("Last-Modified", LM),
    ("Accept-Ranges", "bytes"),
]


def run(
    request: list[tuple[str, str]] | None,
    method: str = "GET",
    status: int = 200,
    fields: list[tuple[str, str]] | None = None,
    size: int = 100,
    **kwargs: object,
) -> FileSelection:
    kwargs.setdefault("now", NOW)
    headers = None if request is None else Headers(request)
    return select(
        method,
        headers,
        status,
        list(FIELDS if fields is None else fields),
        size,
        **kwargs,  # type: ignore[arg-type]
    )


def body_of(selection: FileSelection, data: bytes = DATA) -> bytes:
    out = b"".join(
        part if isinstance(part, bytes) else data[part[0] : part[0] + part[1]]
        for part in selection.segments
    )
    assert len(out) == selection.length
    return out


def field(selection: FileSelection, name: str) -> list[str]:
    return [value for key, value in selection.fields if key.lower() == name.lower()]


def assert_whole(selection: FileSelection, size: int = 100, fields: list | None = None) -> None:
    assert selection.status == 200
    assert selection.segments == ([(0, size)] if size else [])
    assert selection.length == size
    assert selection.fields == (FIELDS if fields is None else fields)


def parse_multipart(selection: FileSelection, data: bytes = DATA) -> Message:
    (content_type,) = field(selection, "Content-Type")
    raw = f"Content-Type: {content_type}\r\n\r\n".encode() + body_of(selection, data)
    message = email.message_from_bytes(raw, policy=email.policy.HTTP)
    assert message.is_multipart()
    assert message.get_content_type() == "multipart/byteranges"
    assert not message.defects
    return message


# -- status other than 200, no request ---------------------------------------------------------


@pytest.mark.parametrize("status", [201, 203, 404, 500])
def test_status_other_than_200_is_untouched(status: int) -> None:
    request = [("Range", "bytes=0-1"), ("If-None-Match", '"abc"'), ("If-Match", '"zzz"')]
    selection = run(request, status=status)
    assert selection.status == status
    assert selection.fields == FIELDS
    assert selection.segments == [(0, 100)]
    assert selection.length == 100
    assert run(request, status=status, size=0).segments == []


def test_no_request_headers() -> None:
    assert_whole(run(None))
    assert_whole(run([]))
    assert_whole(run(None, size=0), size=0)


def test_fields_argument_not_mutated() -> None:
    fields = list(FIELDS)
    select("GET", Headers([("If-None-Match", '"abc"')]), 200, fields, 100)
    select("GET", Headers([("Range", "bytes=0-1,5-6")]), 200, fields, 100)
    assert fields == FIELDS


# -- single ranges -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "first", "last"),
    [
        ("bytes=0-9", 0, 9),
        ("bytes=10-", 10, 99),
        ("bytes=-10", 90, 99),
        ("bytes=-500", 0, 99),  # a suffix longer than the file: the whole file, as a 206
        ("bytes=90-1000", 90, 99),  # last-pos past the end is clipped
        ("bytes=99-99", 99, 99),
        ("BYTES=3-4", 3, 4),  # the unit is case-insensitive
        ("Bytes=0-0", 0, 0),
        ("bytes=-0, 5-9", 5, 9),  # the unsatisfiable spec is dropped
        ("bytes=,, 5-9 ,", 5, 9),  # empty list elements are tolerated
        ("bytes=0000000000000000000000000000000000000000005-6", 5, 6),
    ],
)
def test_single_range(value: str, first: int, last: int) -> None:
    selection = run([("Range", value)])
    assert selection.status == 206
    assert selection.fields == [*FIELDS, ("Content-Range", f"bytes {first}-{last}/100")]
    assert selection.segments == [(first, last - first + 1)]
    assert selection.length == last - first + 1
    assert body_of(selection) == DATA[first : last + 1]


def test_single_range_replaces_content_range_and_content_length() -> None:
    fields = [("Content-Length", "100"), ("X-App", "1"), ("Content-Range", "bytes 0-99/100")]
    selection = run([("Range", "bytes=1-2")], fields=fields)
    assert selection.fields == [("X-App", "1"), ("Content-Range", "bytes 1-2/100")]


@pytest.mark.parametrize(
    "value",
    [
        "bytes=5-4",
        "bytes=a-b",
        "bytes=1-a",
        "bytes=0x1-2",
        "bytes=\u00b9-2",  # a latin-1 superscript digit is no DIGIT
        "bytes=+1-2",
        "bytes=1 - 2",
        "bytes=-",
        "bytes=--1",
        "bytes=1-2-3",
        "bytes=",
        "bytes=,",
        "bytes= ,",
        "bytes= 0-1",
        "bytes =0-1",
        "bytes 0-1",
        "0-1",
        "=0-1",
        "items=0-1",
        "bytes=0-1;q=1",
        "bytes=0-1, garbage",
        "bytes=0-1, bytes=2-3",
        "garbage",
        "bytes=9" + "9" * 40 + "-1" + "1" * 40,  # huge, last < first
    ],
)
def test_malformed_range_is_ignored(value: str) -> None:
    assert_whole(run([("Range", value)]))
    assert parse_range(value, 100) is None


def test_two_range_fields_are_ignored() -> None:
    assert_whole(run([("Range", "bytes=0-1"), ("Range", "bytes=5-6")]))


@pytest.mark.parametrize("value", ["bytes=-0", "bytes=100-", "bytes=100-200", "bytes=-0,,500-"])
def test_unsatisfiable_is_416(value: str) -> None:
    fields = [*FIELDS, ("Content-Disposition", "attachment"), ("X-App", "1")]
    selection = run([("Range", value)], fields=fields)
    assert selection.status == 416
    assert selection.segments == []
    assert selection.length == 0
    assert selection.fields == [
        ("ETag", '"abc"'),
        ("Last-Modified", LM),
        ("Accept-Ranges", "bytes"),
        ("X-App", "1"),
        ("Content-Range", "bytes */100"),
    ]


def test_zero_length_file() -> None:
    selection = run([("Range", "bytes=0-")], size=0)
    assert selection.status == 416
    assert field(selection, "Content-Range") == ["bytes */0"]
    # RFC 9110 §14.1.2: a non-zero suffix is satisfiable on an empty representation, but no
    # Content-Range can state it: the Range is ignored.
    assert_whole(run([("Range", "bytes=-5")], size=0), size=0)
    assert_whole(run([("Range", "bytes=0-, -1")], size=0), size=0)


def test_huge_numbers() -> None:
    huge = "9" * 5000
    selection = run([("Range", f"bytes=0-{huge}")])
    assert (selection.status, selection.segments) == (206, [(0, 100)])
    assert run([("Range", f"bytes={huge}-")]).status == 416
    assert run([("Range", f"bytes=-{huge}")]).segments == [(0, 100)]
    assert run([("Range", f"bytes={huge}-{huge}")]).status == 416
    assert parse_range(f"bytes={'9' * 40}-1{'0' * 40}", 100) == []
    assert parse_range(f"bytes=1{'0' * 40}-{'9' * 40}", 100) is None


# -- several ranges ----------------------------------------------------------------------------


def test_adjacent_and_overlapping_ranges_merge() -> None:
    selection = run([("Range", "bytes=0-4,5-9")])
    assert (selection.status, selection.segments) == (206, [(0, 10)])
    assert field(selection, "Content-Range") == ["bytes 0-9/100"]
    assert parse_range("bytes=10-20, 15-30, 31-31, 0-9", 100) == [(0, 31)]
    assert parse_range("bytes=0-1, 3-4", 100) == [(0, 1), (3, 4)]  # a gap of one byte stays


def test_parts_in_the_order_of_their_first_spec() -> None:
    assert parse_range("bytes=50-59,0-9", 100) == [(50, 59), (0, 9)]
    assert parse_range("bytes=50-59,0-9,55-70", 100) == [(50, 70), (0, 9)]
    assert parse_range("bytes=80-, 50-59, 0-9, 9-12", 100) == [(80, 99), (50, 59), (0, 12)]
    # The last spec joins all three: one range, so a single-part 206.
    assert parse_range("bytes=50-59,0-9,5-52", 100) == [(0, 59)]
    assert parse_range("bytes=-10, 0-0", 100) == [(90, 99), (0, 0)]
    # A merge takes the earliest position of all it joins, not that of the lowest range.
    assert parse_range("bytes=50-59, 80-89, 0-9, 5-52", 100) == [(0, 59), (80, 89)]


def test_multipart_body_parses_back() -> None:
    fields = [("X-Before", "1"), *FIELDS, ("Content-Disposition", "attachment")]
    selection = run([("Range", "bytes=500-599, 0-12,1000-")], fields=fields, size=len(DATA))
    assert selection.status == 206
    (content_type,) = field(selection, "Content-Type")
    assert re.fullmatch(r"multipart/byteranges; boundary=[0-9a-f]{32}", content_type)
    # Content-Type replaced where it stood; the rest kept in order; nothing else added.
    assert selection.fields == [
        ("X-Before", "1"),
        ("Content-Type", content_type),
        *FIELDS[1:],
        ("Content-Disposition", "attachment"),
    ]
    message = parse_multipart(selection)
    parts = message.get_payload()
    assert isinstance(parts, list)
    spans = [(500, 599), (0, 12), (1000, 1023)]
    assert len(parts) == len(spans)
    for part, (first, last) in zip(parts, spans, strict=True):
        assert part["Content-Range"] == f"bytes {first}-{last}/1024"
        assert part.get_content_type() == "application/octet-stream"
        assert part.get_payload(decode=True) == DATA[first : last + 1]
    assert selection.length == len(body_of(selection))


def test_multipart_exact_layout() -> None:
    selection = run(
        [("Range", "bytes=0-1,4-5")],
        fields=[("Content-Type", "text/plain; charset=utf-8")],
        boundary="XyZ",
    )
    assert selection.fields == [("Content-Type", "multipart/byteranges; boundary=XyZ")]
    data = b"abcdefgh" + bytes(92)
    assert body_of(selection, data) == (
        b"--XyZ\r\nContent-Type: text/plain; charset=utf-8\r\n"
        b"Content-Range: bytes 0-1/100\r\n\r\nab\r\n"
        b"--XyZ\r\nContent-Type: text/plain; charset=utf-8\r\n"
        b"Content-Range: bytes 4-5/100\r\n\r\nef\r\n"
        b"--XyZ--\r\n"
    )
    assert selection.segments[1] == (0, 2)
    assert selection.segments[3] == (4, 2)


def test_multipart_without_content_type() -> None:
    fields = [("ETag", '"abc"')]
    selection = run([("Range", "bytes=0-1,4-5")], fields=fields, boundary="b")
    assert selection.fields == [
        ("ETag", '"abc"'),
        ("Content-Type", "multipart/byteranges; boundary=b"),
    ]
    assert b"Content-Type" not in body_of(selection)
    parts = parse_multipart(selection).get_payload()
    assert isinstance(parts, list)
    assert [part.get_payload(decode=True) for part in parts] == [DATA[0:2], DATA[4:6]]


def test_boundary_with_special_characters_is_quoted() -> None:
    selection = run([("Range", "bytes=0-1,4-5")], boundary="a b:c")
    assert field(selection, "Content-Type") == ['multipart/byteranges; boundary="a b:c"']
    parts = parse_multipart(selection).get_payload()
    assert isinstance(parts, list)
    assert [part["Content-Range"] for part in parts] == ["bytes 0-1/100", "bytes 4-5/100"]


def test_random_boundaries_differ() -> None:
    first = field(run([("Range", "bytes=0-1,4-5")]), "Content-Type")
    second = field(run([("Range", "bytes=0-1,4-5")]), "Content-Type")
    assert first != second


def test_multipart_segments_helper() -> None:
    segments = multipart_segments([(3, 4)], 10, None, "q")
    assert segments == [b"--q\r\nContent-Range: bytes 3-4/10\r\n\r\n", (3, 2), b"\r\n--q--\r\n"]


def test_cap_on_disjoint_ranges() -> None:
    tiny = ",".join(f"{2 * i}-{2 * i}" for i in range(500))
    assert_whole(run([("Range", f"bytes={tiny}")], size=1000), size=1000)
    selection = run([("Range", f"bytes={tiny}")], size=1000, max_ranges=500)
    assert selection.status == 206
    assert [part for part in selection.segments if isinstance(part, tuple)] == [
        (2 * i, 1) for i in range(500)
    ]
    exactly = ",".join(f"{2 * i}-{2 * i}" for i in range(64))
    assert run([("Range", f"bytes={exactly}")], size=1000).status == 206
    assert_whole(run([("Range", f"bytes={exactly},200-200")], size=1000), size=1000)
    # The cap applies while scanning: three disjoint ranges before the fourth joins them.
    assert parse_range("bytes=0-0,2-2,4-4,0-4", 10, max_ranges=2) is None
    assert parse_range("bytes=0-0,2-2,0-4", 10, max_ranges=2) == [(0, 4)]


def test_ten_thousand_overlapping_ranges_are_fast() -> None:
    specs = ",".join(f"{i}-{i + 10}" for i in range(10_000))
    started = time.perf_counter()
    selection = run([("Range", f"bytes={specs}")], size=100_000)
    elapsed = time.perf_counter() - started
    assert selection.status == 206
    assert selection.segments == [(0, 10_010)]
    assert field(selection, "Content-Range") == ["bytes 0-10009/100000"]
    # Ten thousand specs that keep 64 disjoint ranges alive, merged into them again and again.
    many = ",".join(f"{(i % 64) * 100}-{(i % 64) * 100 + i % 7}" for i in range(10_000))
    assert len(parse_range(f"bytes={many}", 10_000) or []) == 64
    assert elapsed < 0.5


# -- If-Match, If-Unmodified-Since -------------------------------------------------------------


PRECONDITION_FAILED_FIELDS = [("ETag", '"abc"'), ("Last-Modified", LM), ("Accept-Ranges", "bytes")]


@pytest.mark.parametrize(
    "value",
    ['"abc"', "*", '"x", "abc"', '"x" ,\t"abc" ,', '"abc", "x"'],
)
def test_if_match_true(value: str) -> None:
    assert_whole(run([("If-Match", value)]))
    assert_whole(run([("If-Match", value)], method="PUT"))


@pytest.mark.parametrize(
    "value",
    ['"x"', 'W/"abc"', '"ABC"', "abc", '"abc', "", '"abc" junk', '*, "abc"'],
)
def test_if_match_false_is_412(value: str) -> None:
    fields = [*FIELDS, ("Content-Disposition", "attachment")]
    selection = run([("If-Match", value)], fields=fields)
    assert selection.status == 412
    assert selection.fields == PRECONDITION_FAILED_FIELDS
    assert (selection.segments, selection.length) == ([], 0)


def test_if_match_strong_comparison() -> None:
    weak = [("ETag", 'W/"abc"')]
    assert run([("If-Match", '"abc"')], fields=weak).status == 412
    assert run([("If-Match", 'W/"abc"')], fields=weak).status == 412
    assert run([("If-Match", "*")], fields=weak).status == 200
    assert run([("If-Match", '"abc"')], fields=[]).status == 412  # no ETag at all
    assert run([("If-Match", "*")], fields=[]).status == 200
    # Several If-Match fields form one list (RFC 9110 §5.3).
    assert run([("If-Match", '"x"'), ("If-Match", '"abc"')]).status == 200


def test_if_match_ignored_for_options() -> None:
    assert_whole(run([("If-Match", '"x"')], method="OPTIONS"))


@pytest.mark.parametrize(("value", "status"), [(EARLIER, 412), (LM, 200), (LATER, 200)])
def test_if_unmodified_since(value: str, status: int) -> None:
    assert run([("If-Unmodified-Since", value)]).status == status
    assert run([("If-Unmodified-Since", value)], method="DELETE").status == status


@pytest.mark.parametrize(
    "request_fields",
    [
        [("If-Unmodified-Since", "yesterday")],
        [("If-Unmodified-Since", "Sun, 06 Nov 1994 08:49:36 gmt")],
        [("If-Unmodified-Since", f"{EARLIER}, {EARLIER}")],
        [("If-Unmodified-Since", EARLIER), ("If-Unmodified-Since", EARLIER)],
    ],
)
def test_if_unmodified_since_invalid_is_ignored(request_fields: list[tuple[str, str]]) -> None:
    assert_whole(run(request_fields))


def test_if_unmodified_since_without_last_modified_is_ignored() -> None:
    fields = [("ETag", '"abc"')]
    assert_whole(run([("If-Unmodified-Since", EARLIER)], fields=fields), fields=fields)


def test_if_match_present_makes_if_unmodified_since_ignored() -> None:
    assert run([("If-Match", '"abc"'), ("If-Unmodified-Since", EARLIER)]).status == 200
    assert run([("If-Match", '"x"'), ("If-Unmodified-Since", LATER)]).status == 412


# -- If-None-Match, If-Modified-Since ----------------------------------------------------------

NOT_MODIFIED_FIELDS = [
    ("Content-Type", "text/html"),
    ("Content-Encoding", "gzip"),
    ("Content-Language", "en"),
    ("Content-Length", "100"),
    ("Content-Disposition", "attachment"),
    ("Content-Range", "bytes 0-99/100"),
    ("Transfer-Encoding", "chunked"),
    ("Accept-Ranges", "bytes"),
    ("cache-control", "max-age=60"),
    ("Content-Location", "/f"),
    ("Date", "Sun, 06 Nov 1994 09:00:00 GMT"),
    ("ETag", '"abc"'),
    ("Expires", "Sun, 06 Nov 1994 10:00:00 GMT"),
    ("LAST-MODIFIED", LM),
    ("Vary", "Accept-Encoding"),
    ("Set-Cookie", "a=1"),
    ("X-App", "1"),
]


@pytest.mark.parametrize("method", ["GET", "HEAD"])
def test_not_modified_fields(method: str) -> None:
    selection = run([("If-None-Match", '"abc"')], method=method, fields=NOT_MODIFIED_FIELDS)
    assert selection.status == 304
    assert (selection.segments, selection.length) == ([], 0)
    assert selection.fields == NOT_MODIFIED_FIELDS[8:]


@pytest.mark.parametrize(
    ("value", "etag"),
    [
        ('"abc"', '"abc"'),
        ('W/"abc"', '"abc"'),  # weak comparison
        ('"abc"', 'W/"abc"'),
        ('W/"abc"', 'W/"abc"'),
        ("*", '"abc"'),
        ('"x", W/"abc"', '"abc"'),
        ('"a,b"', '"a,b"'),  # a comma inside an opaque-tag
    ],
)
def test_if_none_match_matches(value: str, etag: str) -> None:
    fields = [("ETag", etag)]
    assert run([("If-None-Match", value)], fields=fields).status == 304
    assert run([("If-None-Match", value)], fields=fields, method="HEAD").status == 304
    # RFC 9110 §13.2.2 step 3: other methods get 412.
    assert run([("If-None-Match", value)], fields=fields, method="POST").status == 412


@pytest.mark.parametrize("value", ['"x"', '"ABC"', "abc", '"abc" x', '"a", "b"'])
def test_if_none_match_no_match(value: str) -> None:
    assert_whole(run([("If-None-Match", value)]))
    assert run([("If-None-Match", value)], method="POST").status == 200


def test_if_none_match_without_etag() -> None:
    fields = [("Last-Modified", LM)]
    assert run([("If-None-Match", '"abc"')], fields=fields).status == 200
    assert run([("If-None-Match", "*")], fields=fields).status == 304


@pytest.mark.parametrize(
    ("value", "status"),
    [
        (LM, 304),
        (LATER, 304),
        (EARLIER, 200),
        ("Sunday, 06-Nov-94 08:49:37 GMT", 304),
        ("Sun Nov  6 08:49:37 1994", 304),
        ("Sun Nov 06 08:49:37 1994", 304),
        ("Sunday, 06-Nov-94 08:49:36 GMT", 200),
        ("Sun Nov  6 08:49:36 1994", 200),
    ],
)
def test_if_modified_since(value: str, status: int) -> None:
    assert run([("If-Modified-Since", value)]).status == status
    assert run([("If-Modified-Since", value)], method="HEAD").status == status
    # Only GET and HEAD (RFC 9110 §13.1.3).
    assert run([("If-Modified-Since", value)], method="POST").status == 200


def test_if_modified_since_one_second_resolution() -> None:
    # Last-Modified with a fraction of a second cannot be stated; both sides are whole seconds.
    assert run([("If-Modified-Since", LM)], fields=[("Last-Modified", LM)]).status == 304


@pytest.mark.parametrize(
    "request_fields",
    [
        [("If-Modified-Since", "not a date")],
        [("If-Modified-Since", "Sun, 31 Nov 1994 08:49:37 GMT")],
        [("If-Modified-Since", "Sun, 06 Nov 1994 24:00:00 GMT")],
        [("If-Modified-Since", "Sun,  06 Nov 1994 08:49:37 GMT")],
        [("If-Modified-Since", "sun, 06 nov 1994 08:49:37 GMT")],
        [("If-Modified-Since", f"{LM}, {LM}")],
        [("If-Modified-Since", LM), ("If-Modified-Since", LM)],
    ],
)
def test_if_modified_since_invalid_is_ignored(request_fields: list[tuple[str, str]]) -> None:
    assert_whole(run(request_fields))


def test_if_modified_since_without_last_modified_is_ignored() -> None:
    fields = [("ETag", '"abc"')]
    assert_whole(run([("If-Modified-Since", LATER)], fields=fields), fields=fields)
    # An invalid Last-Modified is no Last-Modified.
    fields = [("Last-Modified", "recently")]
    assert_whole(run([("If-Modified-Since", LATER)], fields=fields), fields=fields)


# -- precedence (RFC 9110 §13.2.2) -------------------------------------------------------------


def test_if_none_match_makes_if_modified_since_ignored() -> None:
    assert run([("If-None-Match", '"x"'), ("If-Modified-Since", LATER)]).status == 200
    assert run([("If-None-Match", '"abc"'), ("If-Modified-Since", EARLIER)]).status == 304


def test_if_match_before_if_none_match() -> None:
    assert run([("If-Match", '"x"'), ("If-None-Match", '"abc"')]).status == 412
    assert run([("If-Unmodified-Since", EARLIER), ("If-None-Match", '"abc"')]).status == 412
    assert run([("If-Match", '"abc"'), ("If-None-Match", '"abc"')]).status == 304


def test_preconditions_before_range() -> None:
    assert run([("Range", "bytes=0-1"), ("If-None-Match", '"abc"')]).status == 304
    assert run([("Range", "bytes=0-1"), ("If-Match", '"x"')]).status == 412
    assert run([("Range", "bytes=0-1"), ("If-Modified-Since", LM)]).status == 304
    assert run([("Range", "bytes=0-1"), ("If-Match", '"abc"')]).status == 206
    assert run([("Range", "bytes=0-1"), ("If-Modified-Since", EARLIER)]).status == 206


# -- Range on other methods, If-Range ----------------------------------------------------------


@pytest.mark.parametrize("method", ["HEAD", "POST", "PUT", "get"])
def test_range_only_on_get(method: str) -> None:
    assert_whole(run([("Range", "bytes=0-1")], method=method))
    assert_whole(run([("Range", "bytes=500-")], method=method))


@pytest.mark.parametrize(
    ("if_range", "etag", "status"),
    [
        ('"abc"', '"abc"', 206),
        ('"x"', '"abc"', 200),
        ('W/"abc"', '"abc"', 200),  # a weak tag never matches strongly
        ('"abc"', 'W/"abc"', 200),
        ('W/"abc"', 'W/"abc"', 200),
        ('"abc", "abc"', '"abc"', 200),  # not one entity-tag
        ('"abc', '"abc"', 200),
        ("garbage", '"abc"', 200),
    ],
)
def test_if_range_entity_tag(if_range: str, etag: str, status: int) -> None:
    fields = [("ETag", etag), ("Last-Modified", LM)]
    selection = run([("Range", "bytes=0-1"), ("If-Range", if_range)], fields=fields)
    assert selection.status == status
    if status == 200:
        assert_whole(selection, fields=fields)


def test_if_range_false_skips_416() -> None:
    assert_whole(run([("Range", "bytes=500-"), ("If-Range", '"x"')]))
    assert run([("Range", "bytes=500-"), ("If-Range", '"abc"')]).status == 416


def test_if_range_date_must_be_exact_and_strong() -> None:
    request = [("Range", "bytes=0-1"), ("If-Range", LM)]
    assert run(request, now=NOW).status == 206
    assert run(request, now=LM_TS + 1.0).status == 206
    assert run(request, now=LM_TS + 0.5).status == 200  # may change again within that second
    assert run(request, now=LM_TS - 10.0).status == 200
    assert run([("Range", "bytes=0-1"), ("If-Range", LATER)]).status == 200
    assert run([("Range", "bytes=0-1"), ("If-Range", EARLIER)]).status == 200
    asctime = [("Range", "bytes=0-1"), ("If-Range", "Sun Nov  6 08:49:37 1994")]
    assert run(asctime).status == 206
    assert run(request, fields=[("ETag", '"abc"')]).status == 200  # no Last-Modified
    assert run([("Range", "bytes=0-1"), ("If-Range", LM), ("If-Range", LM)]).status == 200
    assert run(request, now=None).status == 206  # time.time() is long after 1994


def test_if_range_without_range_is_ignored() -> None:
    assert_whole(run([("If-Range", '"x"')]))


# -- helpers -----------------------------------------------------------------------------------


def test_parse_http_date_formats() -> None:
    assert parse_http_date(LM) == LM_TS
    assert parse_http_date("Sunday, 06-Nov-94 08:49:37 GMT", now=NOW) == LM_TS
    assert parse_http_date("Sun Nov  6 08:49:37 1994") == LM_TS
    assert parse_http_date("Thu, 01 Jan 1970 00:00:00 GMT") == 0
    assert parse_http_date("Thu, 29 Feb 2024 12:00:00 GMT") == 1709208000
    assert parse_http_date("Sat, 31 Dec 2016 23:59:60 GMT") == 1483228800  # a leap second


def test_parse_http_date_rfc850_century() -> None:
    now_2025 = 1750000000.0  # June 2025
    assert parse_http_date("Monday, 01-Jan-75 00:00:00 GMT", now=now_2025) == 3313526400
    assert parse_http_date("Wednesday, 01-Jan-76 00:00:00 GMT", now=now_2025) == 189302400
    assert parse_http_date("Saturday, 01-Jan-00 00:00:00 GMT", now=now_2025) == 946684800


@pytest.mark.parametrize(
    "value",
    [
        "",
        "Sun, 06 Nov 1994 08:49:37 UTC",
        "Sun, 06 Nov 1994 08:49:37 GMT ",
        "Sun, 6 Nov 1994 08:49:37 GMT",
        "Sun, 06 Nov 94 08:49:37 GMT",
        "Sun, 06-Nov-94 08:49:37 GMT",
        "Sunday, 06-Nov-1994 08:49:37 GMT",
        "Sun Nov 6 08:49:37 1994",
        "Sun Nov  6 08:49:37 1994 GMT",
        "Sun, 29 Feb 1994 08:49:37 GMT",
        "Sun, 00 Nov 1994 08:49:37 GMT",
        "Sun, 06 Nov 1994 08:60:37 GMT",
        "Sun, 06 Nov 1994 08:49:61 GMT",
        "Sun, 06 Nov 0000 08:49:37 GMT",
        "Sun, \u0660\u0666 Nov 1994 08:49:37 GMT",
        "1994-11-06T08:49:37Z",
    ],
)
def test_parse_http_date_invalid(value: str) -> None:
    assert parse_http_date(value) is None


def test_parse_entity_tags() -> None:
    assert parse_entity_tag('"abc"') == (False, "abc")
    assert parse_entity_tag('W/"abc"') == (True, "abc")
    assert parse_entity_tag('w/"abc"') is None
    assert parse_entity_tag('""') == (False, "")
    assert parse_entity_tag('"a b"') is None
    assert parse_entity_tags('"a", W/"b",, "c,d" ') == [(False, "a"), (True, "b"), (False, "c,d")]
    assert parse_entity_tags("") == []
    assert parse_entity_tags('"a" "b"') is None
    assert parse_entity_tags("*") is None


def test_parse_range_helper() -> None:
    assert parse_range("bytes=0-1,4-5", 10) == [(0, 1), (4, 5)]
    assert parse_range("bytes=20-", 10) == []
    assert parse_range("bytes=5-4", 10) is None


@pytest.mark.parametrize(
    ("kwargs", "error", "word"),
    [
        ({"size": -1}, ValueError, "size"),
        ({"size": 1.5}, TypeError, "size"),
        ({"size": True}, TypeError, "size"),
        ({"max_ranges": 0}, ValueError, "max_ranges"),
        ({"max_ranges": "3"}, TypeError, "max_ranges"),
        ({"status": "200"}, TypeError, "status"),
        ({"method": b"GET"}, TypeError, "method"),
        ({"request": {"Range": "bytes=0-1"}}, TypeError, "request"),
        ({"fields": (("A", "b"),)}, TypeError, "fields"),
        ({"fields": [("A", 1)]}, TypeError, "fields"),
        ({"now": "now"}, TypeError, "now"),
        ({"boundary": b"x"}, TypeError, "boundary"),
        ({"boundary": ""}, ValueError, "boundary"),
        ({"boundary": "x" * 71}, ValueError, "boundary"),
        ({"boundary": "ends with space "}, ValueError, "boundary"),
        ({"boundary": 'quote"'}, ValueError, "boundary"),
    ],
)
def test_bad_arguments(kwargs: dict[str, object], error: type[Exception], word: str) -> None:
    arguments: dict[str, object] = {
        "method": "GET",
        "request": Headers([("Range", "bytes=0-1,3-4")]),
        "status": 200,
        "fields": list(FIELDS),
        "size": 10,
    }
    arguments.update(kwargs)
    with pytest.raises(error, match=word):
        select(**arguments)  # type: ignore[arg-type]


# -- property: the selected bytes are what the specs ask for -----------------------------------

_spec = st.one_of(
    st.tuples(st.integers(0, 80), st.none()),
    st.tuples(st.integers(0, 80), st.integers(0, 80)),
    st.tuples(st.none(), st.integers(0, 80)),
)


def _model(
    specs: list[tuple[int | None, int | None]], size: int, max_ranges: int
) -> tuple[str, list[tuple[int, int]]]:
    """("ignore" | "416" | "206", the expected inclusive ranges in part order), brute force."""
    if any(first is not None and last is not None and last < first for first, last in specs):
        return "ignore", []
    covered: set[int] = set()
    first_spec: dict[int, int] = {}  # offset -> index of the first spec selecting it
    suffix_on_empty = False
    for index, (first, last) in enumerate(specs):
        if first is None:
            assert last is not None
            if last == 0:
                continue
            if size == 0:
                suffix_on_empty = True
            offsets = range(max(size - last, 0), size)
        else:
            offsets = range(first, size if last is None else min(last + 1, size))
        for offset in offsets:
            first_spec.setdefault(offset, index)
        covered.update(offsets)
        # Components of what is covered so far, adjacent ones joined: none may exceed the cap.
        components = sum(1 for o in covered if o - 1 not in covered)
        if components > max_ranges:
            return "ignore", []
    if suffix_on_empty:
        return "ignore", []
    if not covered:
        return "416", []
    runs = []
    for offset in sorted(covered):
        if offset - 1 in covered:
            runs[-1][1] = offset
        else:
            runs.append([offset, offset])
    ordered = sorted(runs, key=lambda r: min(first_spec[o] for o in range(r[0], r[1] + 1)))
    return "206", [(a, b) for a, b in ordered]


@settings(max_examples=300, deadline=None)
@given(
    size=st.integers(0, 70),
    specs=st.lists(_spec, min_size=1, max_size=12),
    max_ranges=st.integers(1, 5),
    method=st.sampled_from(["GET", "GET", "GET", "HEAD"]),
)
def test_selection_matches_brute_force(
    size: int, specs: list[tuple[int | None, int | None]], max_ranges: int, method: str
) -> None:
    text = ",".join(
        ("" if first is None else str(first)) + "-" + ("" if last is None else str(last))
        for first, last in specs
    )
    data = bytes((7 * i + 3) % 256 for i in range(size))
    selection = run(
        [("Range", f"bytes={text}")],
        method=method,
        size=size,
        max_ranges=max_ranges,
        boundary="BOUNDARY",
    )
    assert selection.length == len(body_of(selection, data))
    expected, ranges = _model(specs, size, max_ranges)
    if method == "HEAD" or expected == "ignore":
        assert_whole(selection, size=size)
        return
    if expected == "416":
        assert selection.status == 416
        assert field(selection, "Content-Range") == [f"bytes */{size}"]
        assert selection.segments == []
        return
    assert selection.status == 206
    spans = [part for part in selection.segments if isinstance(part, tuple)]
    assert spans == [(a, b - a + 1) for a, b in ranges]
    selected = {o for a, n in spans for o in range(a, a + n)}
    assert selected == {o for a, b in ranges for o in range(a, b + 1)}
    if len(ranges) == 1:
        ((a, b),) = ranges
        assert field(selection, "Content-Range") == [f"bytes {a}-{b}/{size}"]
        assert body_of(selection, data) == data[a : b + 1]
    else:
        heads = b"".join(part for part in selection.segments if isinstance(part, bytes))
        stated = re.findall(rb"Content-Range: bytes (\d+)-(\d+)/(\d+)", heads)
        assert stated == [(b"%d" % a, b"%d" % b, b"%d" % size) for a, b in ranges]
        parts = parse_multipart(selection, data).get_payload()
        assert isinstance(parts, list)
        assert [part.get_payload(decode=True) for part in parts] == [
            data[a : b + 1] for a, b in ranges
        ]
