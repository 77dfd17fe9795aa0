"""Property tests: the compiled core and its pure-Python twin give the same bytes or raise
the same exception for every input, and what they accept parses back to what went in."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest
from _judges import parse_head_both
from httpx_sse import EventSource
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from respcore import _pyencoder as twin
from respcore import _rules

compiled = pytest.importorskip("respcore._encoder", reason="the compiled core is not built")

PROPERTY = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])

TOKENS = st.text(alphabet=_rules.TOKEN_CHARS, min_size=1, max_size=16)
FIELD_CHARS = "\t" + "".join(map(chr, range(0x20, 0x7F))) + "".join(map(chr, range(0x80, 0x100)))
WHITESPACE = st.text(alphabet="\t ", max_size=3)
# Field-value text, often with surrounding spaces and tabs that the encoder must not write.
FIELD_TEXT = st.builds(
    lambda before, text, after: before + text + after,
    WHITESPACE,
    st.text(alphabet=FIELD_CHARS, max_size=40),
    WHITESPACE,
)
GOOD_NAMES = st.one_of(TOKENS, TOKENS.map(str.encode))
GOOD_VALUES = st.one_of(
    FIELD_TEXT,
    FIELD_TEXT.map(lambda text: text.encode("latin-1")),
    st.integers(min_value=-(2**70), max_value=2**70),
)
WILD_NAMES = st.one_of(st.text(max_size=8), st.binary(max_size=8), st.sampled_from([None, 1]))
WILD_VALUES = st.one_of(
    st.text(max_size=12),
    st.binary(max_size=12),
    st.sampled_from([None, True, 1.5, bytearray(b"x")]),
)
NAMES = st.one_of(GOOD_NAMES, WILD_NAMES)
VALUES = st.one_of(GOOD_VALUES, WILD_VALUES)
GOOD_FIELDS = st.lists(st.tuples(GOOD_NAMES, GOOD_VALUES), max_size=8)


@st.composite
def fields_with_one_wild(draw: st.DrawFn) -> list[Any]:
    fields: list[Any] = draw(GOOD_FIELDS)
    wild = draw(st.one_of(st.tuples(NAMES, VALUES), st.sampled_from([("a",), "ab", None])))
    fields.insert(draw(st.integers(min_value=0, max_value=len(fields))), wild)
    return fields


# Most heads are valid, so the parse-back check runs often; the rest carry one wild field.
FIELDS = st.one_of(GOOD_FIELDS, fields_with_one_wild())
STATUS = st.one_of(
    st.integers(min_value=90, max_value=1010),
    st.sampled_from(sorted(_rules.REASONS)),
    st.sampled_from([True, "200", 200.0, None]),
)
VERSIONS = st.sampled_from(["1.1", "1.0", "2.0", 1.1])


def outcome(function: Callable[..., Any], *args: Any) -> tuple[Any, ...]:
    try:
        return ("returned", function(*args))
    except Exception as exc:
        return ("raised", type(exc), str(exc))


def expected_fields(fields: list[tuple[Any, Any]]) -> list[tuple[bytes, bytes]]:
    def text(part: Any) -> str:
        return part.decode("latin-1") if isinstance(part, bytes) else "%d" % part

    return [
        (
            name.encode("latin-1") if isinstance(name, str) else name,
            (value if isinstance(value, str) else text(value)).strip(" \t").encode("latin-1"),
        )
        for name, value in fields
    ]


@PROPERTY
@given(status=STATUS, fields=FIELDS, version=VERSIONS)
def test_heads_are_identical_and_parse_back(
    status: Any, fields: list[tuple[Any, Any]], version: Any
) -> None:
    by_compiled = outcome(compiled.encode_head, status, fields, version)
    assert by_compiled == outcome(twin.encode_head, status, fields, version)
    if by_compiled[0] == "raised":
        return
    framing = {b"content-length", b"transfer-encoding"}
    names = {name.lower() for name, _ in expected_fields(fields)}
    if status >= 200 and not names & framing:
        parsed = parse_head_both(by_compiled[1])
        assert parsed.status == status
        assert parsed.reason == _rules.REASONS.get(status, "").encode()
        assert parsed.headers == expected_fields(fields)


@PROPERTY
@given(name=NAMES, value=VALUES)
def test_field_checks_are_identical(name: Any, value: Any) -> None:
    assert outcome(compiled.check_field, name, value) == outcome(twin.check_field, name, value)


@PROPERTY
@given(
    data=st.one_of(
        st.binary(max_size=300),
        st.text(max_size=100),
        st.binary(max_size=100).map(bytearray),
        st.binary(max_size=100).map(memoryview),
        st.binary(max_size=100).map(lambda b: memoryview(b)[::3]),
        st.sampled_from([None, 3, ["x"]]),
    )
)
def test_chunks_are_identical(data: Any) -> None:
    assert outcome(compiled.encode_chunk, data) == outcome(twin.encode_chunk, data)


@PROPERTY
@given(
    filename=st.one_of(st.none(), st.text(max_size=24), st.sampled_from([b"a", 3])),
    disposition=st.one_of(st.sampled_from(["attachment", "inline"]), TOKENS, st.text(max_size=6)),
)
def test_content_dispositions_are_identical(filename: Any, disposition: Any) -> None:
    by_compiled = outcome(compiled.content_disposition, filename, disposition)
    assert by_compiled == outcome(twin.content_disposition, filename, disposition)
    if by_compiled[0] == "returned":
        # Whatever the filename held, the value is a valid, injection-free field value.
        parsed = parse_head_both(
            compiled.encode_head(200, [("content-disposition", by_compiled[1])])
        )
        assert parsed.headers == [(b"content-disposition", by_compiled[1].encode("latin-1"))]


# Event text: mostly line breaks of every kind, NUL, non-ASCII and lone surrogates among
# plain characters, so every branch of both cores is reached.
EVENT_TEXT = st.text(
    alphabet=st.one_of(
        st.sampled_from(["\r", "\n", "\0", ":", " ", "é", "✓", "\ud800"]),
        st.characters(codec="utf-8"),
    ),
    max_size=30,
)
EVENT_FIELD = st.one_of(st.none(), EVENT_TEXT, st.sampled_from([b"x", 1]))
RETRY = st.one_of(
    st.none(), st.integers(min_value=-5, max_value=2**70), st.sampled_from([True, "1"])
)


@PROPERTY
@given(data=EVENT_FIELD, event=EVENT_FIELD, id=EVENT_FIELD, retry=RETRY, comment=EVENT_FIELD)
def test_events_are_identical_and_parse_back(
    data: Any, event: Any, id: Any, retry: Any, comment: Any
) -> None:
    by_compiled = outcome(compiled.encode_event, data, event, id, retry, comment)
    assert by_compiled == outcome(twin.encode_event, data, event, id, retry, comment)
    if by_compiled[0] == "raised" or data is None:
        return
    # A browser-like parser reads back the data and type that went in.
    response = httpx.Response(
        200, headers={"content-type": "text/event-stream"}, content=by_compiled[1]
    )
    (parsed,) = list(EventSource(response).iter_sse())
    expected = data.replace("\r\n", "\n").replace("\r", "\n")
    assert parsed.data == expected
    assert parsed.event == (event or "message")
    if retry is not None:
        assert parsed.retry == retry
