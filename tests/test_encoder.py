"""Status lines, header blocks and chunks from the core in use, judged by httptools and h11."""

from __future__ import annotations

import array
import enum
import re
from collections.abc import Iterator
from http import HTTPStatus

import pytest
from _judges import parse_h11, parse_head_both, parse_httptools

from respcore import LAST_CHUNK, Headers, encode_chunk, encode_head, encode_status_line

REFERENCE = [
    ("content-type", "application/json"),
    ("content-length", "27"),
    ("server", "x"),
    ("date", "Sun, 06 Nov 1994 08:49:37 GMT"),
    ("x-request-id", "6f1c2a9e-3b4d-4e5f-8a7b-9c0d1e2f3a4b"),
    ("cache-control", "no-cache"),
    ("set-cookie", "a=b; Path=/"),
]


def as_bytes(fields: list[tuple[str, str]]) -> list[tuple[bytes, bytes]]:
    return [(name.encode("latin-1"), value.encode("latin-1")) for name, value in fields]


# -- status lines ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "line"),
    [
        (200, b"HTTP/1.1 200 OK\r\n"),
        (404, b"HTTP/1.1 404 Not Found\r\n"),
        (413, b"HTTP/1.1 413 Content Too Large\r\n"),
        (422, b"HTTP/1.1 422 Unprocessable Content\r\n"),
        (599, b"HTTP/1.1 599 \r\n"),
        (999, b"HTTP/1.1 999 \r\n"),
        (100, b"HTTP/1.1 100 Continue\r\n"),
    ],
)
def test_status_line_uses_rfc_9110_reason_phrases(status: int, line: bytes) -> None:
    assert encode_status_line(status) == line


def test_status_line_for_http_1_0() -> None:
    assert encode_status_line(503, "1.0") == b"HTTP/1.0 503 Service Unavailable\r\n"


def test_status_line_accepts_int_enums() -> None:
    assert encode_status_line(HTTPStatus.CREATED) == b"HTTP/1.1 201 Created\r\n"


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (True, TypeError),
        (False, TypeError),
        ("200", TypeError),
        (200.0, TypeError),
        (None, TypeError),
        (99, ValueError),
        (1000, ValueError),
        (-200, ValueError),
        (2**70, ValueError),
    ],
)
def test_bad_status_is_rejected_naming_the_status_code(status: object, error: type) -> None:
    with pytest.raises(error, match="status code"):
        encode_status_line(status)  # type: ignore[arg-type]
    with pytest.raises(error, match="status code"):
        encode_head(status, [])  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("version", "error"),
    [
        ("2.0", ValueError),
        ("1.2", ValueError),
        ("", ValueError),
        (1.1, TypeError),
        (b"1.1", TypeError),
    ],
)
def test_bad_version_is_rejected_naming_the_http_version(version: object, error: type) -> None:
    with pytest.raises(error, match="HTTP version"):
        encode_status_line(200, version)  # type: ignore[arg-type]
    with pytest.raises(error, match="HTTP version"):
        encode_head(200, [("a", "b")], version)  # type: ignore[arg-type]


# -- heads ----------------------------------------------------------------------------------


def test_reference_head_parses_back_to_what_went_in() -> None:
    head = encode_head(200, REFERENCE)
    assert len(head) == 221
    parsed = parse_head_both(head)
    assert (parsed.status, parsed.reason) == (200, b"OK")
    assert parsed.headers == as_bytes(REFERENCE)


def test_head_from_headers_mapping_and_generator_are_identical() -> None:
    from_pairs = encode_head(200, REFERENCE)
    assert encode_head(200, Headers(REFERENCE)) == from_pairs
    assert encode_head(200, dict(REFERENCE)) == from_pairs
    assert encode_head(200, tuple(REFERENCE)) == from_pairs
    assert encode_head(200, (pair for pair in REFERENCE)) == from_pairs
    assert encode_head(200, [list(pair) for pair in REFERENCE]) == from_pairs


def test_head_keeps_order_duplicates_and_name_case() -> None:
    fields = [("Set-Cookie", "a=1"), ("X-B", "2"), ("set-cookie", "b=2"), ("X-A", "3")]
    parsed = parse_head_both(encode_head(201, fields))
    assert parsed.headers == as_bytes(fields)


def test_head_strips_surrounding_spaces_and_tabs_of_values() -> None:
    # RFC 9110 §5.5: leading and trailing whitespace is not part of the field value.
    head = encode_head(200, [("a", " \t x y \t "), ("b", "   ")])
    assert head == b"HTTP/1.1 200 OK\r\na: x y\r\nb: \r\n\r\n"
    assert parse_head_both(head).headers == [(b"a", b"x y"), (b"b", b"")]


def test_head_accepts_bytes_and_int_values() -> None:
    class Small(enum.IntEnum):
        SEVEN = 7

    head = encode_head(
        200, [(b"content-length", 12), ("x-bytes", b"\xe9t\xe9"), ("x-n", Small.SEVEN)]
    )
    assert parse_head_both(head).headers == [
        (b"content-length", b"12"),
        (b"x-bytes", b"\xe9t\xe9"),
        (b"x-n", b"7"),
    ]


def test_head_sends_obs_text_as_latin_1() -> None:
    head = encode_head(200, [("x-name", "café")])
    assert head.endswith(b"x-name: caf\xe9\r\n\r\n")
    assert parse_head_both(head).headers == [(b"x-name", b"caf\xe9")]


def test_head_with_no_fields_and_many_fields() -> None:
    assert encode_head(204, []) == b"HTTP/1.1 204 No Content\r\n\r\n"
    many = [(f"x-field-{i}", "v" * i) for i in range(300)]
    assert parse_head_both(encode_head(200, many)).headers == as_bytes(many)


def test_head_with_a_long_value() -> None:
    value = "abc\tdef " * 5000
    parsed = parse_httptools(encode_head(200, [("x-long", value)]))
    assert parsed.headers == [(b"x-long", value.strip().encode())]


# -- bad heads ------------------------------------------------------------------------------

CONTROL_CASES = [
    ("CR", "\r"),
    ("LF", "\n"),
    ("NUL", "\x00"),
    ("DEL", "\x7f"),
    ("control character", "\x01"),
    ("control character", "\x1f"),
    ("control character", "\x0b"),
]


@pytest.mark.parametrize(("label", "char"), CONTROL_CASES)
@pytest.mark.parametrize("where", [0, 4, 40])
def test_control_character_in_value_is_rejected_naming_the_header(
    label: str, char: str, where: int
) -> None:
    value = ("v" * 48)[:where] + char + "v" * 48
    with pytest.raises(ValueError, match=rf"header 'x-bad': value contains {label}"):
        encode_head(200, [("x-good", "fine"), ("x-bad", value)])
    with pytest.raises(ValueError, match=rf"header 'x-bad': value contains {label}"):
        encode_head(200, [("x-bad", value.encode("latin-1"))])


def test_response_splitting_attempt_is_rejected() -> None:
    with pytest.raises(ValueError, match="header 'location': value contains CR"):
        encode_head(302, [("location", "/x\r\nSet-Cookie: admin=1")])


@pytest.mark.parametrize(("label", "char"), CONTROL_CASES)
def test_control_character_in_name_is_rejected_naming_the_header(label: str, char: str) -> None:
    name = f"x{char}y"
    with pytest.raises(ValueError, match=f"header name {re.escape(repr(name))} contains {label}"):
        encode_head(200, [(name, "v")])


@pytest.mark.parametrize(
    ("name", "what"),
    [
        ("x y", "space"),
        ("x:y", "':'"),
        ("x-é", "'é'"),
        ("ü", "'ü'"),
        ("x\u20ac", "non-Latin-1"),
        ("(x)", "'\\('"),
        ("x/y", "'/'"),
    ],
)
def test_non_token_name_is_rejected_naming_it(name: str, what: str) -> None:
    with pytest.raises(ValueError, match=f"header name .* contains {what}") as info:
        encode_head(200, [("ok", "v"), (name, "v")])
    assert repr(name) in str(info.value)


def test_empty_name_is_rejected() -> None:
    with pytest.raises(ValueError, match="header name is empty"):
        encode_head(200, [("", "v")])
    with pytest.raises(ValueError, match="header name is empty"):
        encode_head(200, [(b"", "v")])


def test_non_latin_1_value_is_rejected_naming_the_header() -> None:
    with pytest.raises(ValueError, match="header 'x-price': value is not Latin-1 encodable"):
        encode_head(200, [("x-price", "5 €")])


@pytest.mark.parametrize("value", [None, True, 1.5, ["a"], bytearray(b"a")])
def test_value_of_wrong_type_is_rejected_naming_the_header(value: object) -> None:
    with pytest.raises(TypeError, match="header 'x-v': value must be str, bytes or int"):
        encode_head(200, [("x-v", value)])


@pytest.mark.parametrize("name", [None, 5, ("a",)])
def test_name_of_wrong_type_is_rejected(name: object) -> None:
    with pytest.raises(TypeError, match="header name must be str or bytes"):
        encode_head(200, [(name, "v")])


@pytest.mark.parametrize("item", [("a",), ("a", "b", "c"), "ab", None, {"a": "b"}])
def test_field_that_is_not_a_pair_is_rejected_naming_its_index(item: object) -> None:
    with pytest.raises(TypeError, match=r"header field #1 must be a \(name, value\) pair"):
        encode_head(200, [("a", "b"), item])


@pytest.mark.parametrize("headers", ["a: b", b"a: b", None, 5])
def test_headers_of_wrong_type_are_rejected(headers: object) -> None:
    with pytest.raises(TypeError, match="headers must be a Headers, a mapping or an iterable"):
        encode_head(200, headers)


def test_first_faulty_field_is_the_one_reported() -> None:
    with pytest.raises(ValueError, match="header 'x-first'"):
        encode_head(200, [("x-first", "a\nb"), ("x second", "v")])
    with pytest.raises(ValueError, match="header name 'x second'"):
        encode_head(200, [("x second", "v"), ("x-first", "a\nb")])


# -- chunks ---------------------------------------------------------------------------------


def chunked_message(*chunks: bytes) -> bytes:
    head = encode_head(200, [("transfer-encoding", "chunked")])
    return head + b"".join(chunks) + LAST_CHUNK


def test_chunk_is_framed_with_lowercase_hex_size() -> None:
    data = b"x" * 26
    assert encode_chunk(data) == b"1a\r\n" + data + b"\r\n"
    assert encode_chunk(b"a") == b"1\r\na\r\n"
    assert encode_chunk(b"z" * 4096)[:5] == b"1000\r"


def test_last_chunk() -> None:
    assert LAST_CHUNK == b"0\r\n\r\n"


def test_empty_chunk_is_empty_bytes_so_it_cannot_end_the_body() -> None:
    for empty in (b"", "", bytearray(), memoryview(b"")):
        assert encode_chunk(empty) == b""


def test_chunks_of_every_kind_parse_back() -> None:
    contiguous = memoryview(b"0123456789")[2:6]
    strided = memoryview(b"abcdefgh")[::2]
    ints = array.array("i", [1, 2, 3])
    chunks = [
        encode_chunk(b"bytes;"),
        encode_chunk(bytearray(b"bytearray;")),
        encode_chunk(contiguous),
        encode_chunk(strided),
        encode_chunk(memoryview(ints)),
        encode_chunk("str é ✓"),
        encode_chunk(b"x" * 100_000),
    ]
    expected = b"bytes;bytearray;2345aceg" + ints.tobytes() + "str é ✓".encode() + b"x" * 100_000
    message = chunked_message(*chunks)
    by_llhttp = parse_httptools(message)
    by_h11 = parse_h11(message)
    assert by_llhttp.complete
    assert by_h11.complete
    assert by_llhttp.body == by_h11.body == expected


@pytest.mark.parametrize("data", [None, 5, ["a"], object()])
def test_chunk_of_wrong_type_is_rejected_naming_chunk_data(data: object) -> None:
    with pytest.raises(TypeError, match="chunk data must be bytes"):
        encode_chunk(data)  # type: ignore[arg-type]


def test_chunk_of_str_with_lone_surrogate_is_rejected() -> None:
    with pytest.raises(UnicodeEncodeError):
        encode_chunk("\udcff")


def test_chunk_from_a_generator_of_parts_parses_back() -> None:
    def parts() -> Iterator[bytes]:
        for i in range(50):
            yield bytes([65 + i % 26]) * (i * 37)

    message = chunked_message(*(encode_chunk(part) for part in parts()))
    assert parse_h11(message).body == b"".join(parts())
