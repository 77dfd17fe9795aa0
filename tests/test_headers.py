"""Headers: a case-insensitive, ordered, multi-valued mapping that validates on set."""

from __future__ import annotations

import copy
import pickle
from collections.abc import Mapping, MutableMapping

import pytest
from _judges import parse_head_both

from respcore import Headers, encode_head


def test_lookup_is_case_insensitive_and_keeps_the_given_case() -> None:
    h = Headers([("Content-Type", "text/plain")])
    assert h["content-type"] == h["CONTENT-TYPE"] == "text/plain"
    assert "content-TYPE" in h
    assert list(h) == ["Content-Type"]


def test_setitem_replaces_every_field_of_that_name_in_the_first_ones_place() -> None:
    h = Headers([("a", "1"), ("X", "old1"), ("b", "2"), ("x", "old2")])
    h["x"] = "new"
    assert h.items() == [("a", "1"), ("x", "new"), ("b", "2")]


def test_setitem_appends_a_new_name() -> None:
    h = Headers()
    h["a"] = "1"
    h["b"] = 2
    assert h.items() == [("a", "1"), ("b", "2")]


def test_add_keeps_duplicates_in_order() -> None:
    h = Headers()
    h.add("Set-Cookie", "a=1")
    h.add("set-cookie", "b=2")
    assert h["set-cookie"] == "a=1"
    assert h.getall("SET-COOKIE") == ["a=1", "b=2"]
    assert len(h) == 2


def test_missing_name_raises_key_error_and_get_gives_default() -> None:
    h = Headers()
    with pytest.raises(KeyError):
        h["x"]
    with pytest.raises(KeyError):
        h.getall("x")
    assert h.get("x") is None
    assert h.get("x", "d") == "d"
    assert h.getall("x", []) == []


def test_delitem_removes_every_field_of_that_name() -> None:
    h = Headers([("a", "1"), ("b", "2"), ("A", "3")])
    del h["a"]
    assert h.items() == [("b", "2")]
    with pytest.raises(KeyError):
        del h["a"]


def test_pop_and_clear() -> None:
    h = Headers([("a", "1"), ("a", "2"), ("b", "3")])
    assert h.pop("A") == "1"
    assert h.pop("a", None) is None
    with pytest.raises(KeyError):
        h.pop("a")
    h.clear()
    assert len(h) == 0


def test_setdefault_returns_existing_or_adds() -> None:
    h = Headers([("a", "1")])
    assert h.setdefault("A", "9") == "1"
    assert h.setdefault("b", 7) == "7"
    assert h.items() == [("a", "1"), ("b", "7")]


def test_update_replaces_names_it_carries_and_keeps_their_duplicates() -> None:
    h = Headers([("a", "1"), ("b", "2"), ("a", "3")])
    h.update([("A", "x"), ("c", "y"), ("a", "z")])
    assert h.items() == [("A", "x"), ("A", "z"), ("b", "2"), ("c", "y")]
    h.update({"b": "new"})
    assert h["b"] == "new"


def test_extend_appends_everything() -> None:
    h = Headers([("a", "1")])
    h.extend(Headers([("a", "2"), ("b", "3")]))
    assert h.items() == [("a", "1"), ("a", "2"), ("b", "3")]


def test_copy_is_independent() -> None:
    h = Headers([("a", "1")])
    c = h.copy()
    c["a"] = "2"
    assert h["a"] == "1"
    assert copy.copy(h) == h
    assert pickle.loads(pickle.dumps(h)) == h


def test_equality_with_headers_and_mappings() -> None:
    h = Headers([("Content-Type", "a"), ("x", "1")])
    assert h == Headers([("x", "1"), ("content-type", "a")])
    assert h == {"content-type": "a", "X": 1}
    assert h != {"content-type": "a"}
    assert h != Headers([("content-type", "a"), ("x", "1"), ("x", "2")])
    assert h != {"bad name": "v"}
    assert h != 5


def test_values_are_stored_as_str_without_surrounding_whitespace() -> None:
    h = Headers([(b"x-bytes", b"\xe9"), ("x-int", 42), ("x-ws", "  v \t")])
    assert h.items() == [("x-bytes", "é"), ("x-int", "42"), ("x-ws", "v")]


def test_keys_values_items_include_duplicates() -> None:
    h = Headers([("a", "1"), ("a", "2")])
    assert h.keys() == ["a", "a"]
    assert h.values() == ["1", "2"]
    assert h.items() == [("a", "1"), ("a", "2")]


def test_is_a_mutable_mapping_and_has_a_useful_repr() -> None:
    h = Headers([("a", "1")])
    assert isinstance(h, Mapping)
    assert isinstance(h, MutableMapping)
    assert repr(h) == "Headers([('a', '1')])"


@pytest.mark.parametrize(
    ("name", "value", "error", "match"),
    [
        ("x-bad", "a\r\nb", ValueError, "header 'x-bad': value contains CR"),
        ("x-bad", "a\nb", ValueError, "header 'x-bad': value contains LF"),
        ("x-bad", "a\x00", ValueError, "header 'x-bad': value contains NUL"),
        ("x-bad", "\x7f", ValueError, "header 'x-bad': value contains DEL"),
        ("x-bad", "€", ValueError, "header 'x-bad': value is not Latin-1"),
        ("x-bad", None, TypeError, "header 'x-bad': value must be str, bytes or int"),
        ("x-bad", True, TypeError, "header 'x-bad': value must be str, bytes or int"),
        ("bad name", "v", ValueError, "header name 'bad name' contains space"),
        ("bad:name", "v", ValueError, "header name 'bad:name' contains ':'"),
        ("", "v", ValueError, "header name is empty"),
        ("naïve", "v", ValueError, "header name 'naïve' contains 'ï'"),
        (5, "v", TypeError, "header name must be str or bytes"),
    ],
)
def test_bad_field_raises_at_the_line_that_sets_it(
    name: object, value: object, error: type, match: str
) -> None:
    h = Headers([("ok", "1")])
    with pytest.raises(error, match=match):
        h[name] = value  # type: ignore[index]
    with pytest.raises(error, match=match):
        h.add(name, value)  # type: ignore[arg-type]
    with pytest.raises(error, match=match):
        Headers([(name, value)])
    assert h.items() == [("ok", "1")]


def test_headers_encode_to_what_they_hold() -> None:
    h = Headers()
    h["Content-Type"] = "application/json"
    h.add("Set-Cookie", "a=1")
    h.add("Set-Cookie", "b=2")
    parsed = parse_head_both(encode_head(200, h))
    assert parsed.headers == [
        (b"Content-Type", b"application/json"),
        (b"Set-Cookie", b"a=1"),
        (b"Set-Cookie", b"b=2"),
    ]


def test_encoder_still_validates_fields_poked_in_behind_the_api() -> None:
    h = Headers()
    h._fields.append(("x", "a\r\nb"))
    with pytest.raises(ValueError, match="header 'x': value contains CR"):
        encode_head(200, h)
