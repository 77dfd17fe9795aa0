"""Content-Disposition values (RFC 6266 with RFC 8187), judged by the standard library's
RFC 2231 parameter parser and by the header parsers."""

from __future__ import annotations

from pathlib import Path, PureWindowsPath

import pytest
from _judges import disposition_filename, parse_head_both

from respcore import content_disposition, encode_head


def received(value: str) -> str | None:
    """What a recipient reads: the value must also be a valid header on the wire."""
    head = encode_head(200, [("Content-Disposition", value)])
    assert parse_head_both(head).headers == [(b"Content-Disposition", value.encode("latin-1"))]
    return disposition_filename(value)


def test_ascii_filename_is_a_quoted_string() -> None:
    value = content_disposition("report.csv")
    assert value == 'attachment; filename="report.csv"'
    assert received(value) == "report.csv"


def test_inline_disposition() -> None:
    assert content_disposition("a.png", "inline") == 'inline; filename="a.png"'


def test_no_filename_gives_the_bare_disposition() -> None:
    assert content_disposition(None) == "attachment"
    assert content_disposition(None, "inline") == "inline"


def test_quote_is_escaped_inside_the_quoted_string() -> None:
    value = content_disposition('say "hi".txt')
    assert value == 'attachment; filename="say \\"hi\\".txt"'
    assert received(value) == 'say "hi".txt'


def test_single_quotes_and_semicolons_stay_inside_the_quoted_string() -> None:
    value = content_disposition("it's; a=b.txt")
    assert received(value) == "it's; a=b.txt"


@pytest.mark.parametrize(
    ("filename", "name"),
    [
        ("/etc/passwd", "passwd"),
        ("../../secret.txt", "secret.txt"),
        ("C:\\Users\\me\\report.pdf", "report.pdf"),
        ("a/b\\c/d.txt", "d.txt"),
        ("..\\..\\boot.ini", "boot.ini"),
    ],
)
def test_only_the_last_path_component_is_sent(filename: str, name: str) -> None:
    value = content_disposition(filename)
    assert value == f'attachment; filename="{name}"'
    assert received(value) == name


def test_path_objects_are_accepted() -> None:
    assert received(content_disposition(Path("/srv/files/data.bin"))) == "data.bin"
    assert received(content_disposition(PureWindowsPath("C:/x/y.txt"))) == "y.txt"


def test_cr_lf_and_other_controls_are_dropped_so_no_header_can_be_injected() -> None:
    value = content_disposition("evil\r\nSet-Cookie: a=b\x00\x7f\x85.txt")
    assert "\r" not in value
    assert "\n" not in value
    assert received(value) == "evilSet-Cookie: a=b.txt"


def test_bidi_controls_are_dropped_so_the_name_shows_as_it_is() -> None:
    value = content_disposition("invoice\u202egnp.exe")
    assert received(value) == "invoicegnp.exe"


def test_non_ascii_name_gets_ascii_fallback_and_rfc_8187_filename_star() -> None:
    value = content_disposition("résumé.pdf")
    assert value == "attachment; filename=\"resume.pdf\"; filename*=UTF-8''r%C3%A9sum%C3%A9.pdf"
    assert received(value) == "résumé.pdf"
    assert disposition_filename(value.split("; filename*")[0]) == "resume.pdf"


def test_non_latin_name_falls_back_to_underscores() -> None:
    value = content_disposition("报告 2024.csv")
    assert value.startswith("attachment; filename=\"__ 2024.csv\"; filename*=UTF-8''")
    assert received(value) == "报告 2024.csv"


def test_filename_star_percent_encodes_everything_but_attr_chars() -> None:
    value = content_disposition('ü "q" 100%;.txt')
    star = value.split("filename*=UTF-8''")[1]
    assert star == "%C3%BC%20%22q%22%20100%25%3B.txt"
    assert received(value) == 'ü "q" 100%;.txt'


def test_fallback_never_reintroduces_a_path_separator() -> None:
    # U+FF0F FULLWIDTH SOLIDUS decomposes to "/" under NFKD.
    value = content_disposition("a\uff0fb.txt")
    fallback = value.split('"')[1]
    assert "/" not in fallback
    assert "\\" not in fallback


@pytest.mark.parametrize("filename", ["dir/", "a\\", "", ".", "..", "x/..", "\r\n", "\u202e"])
def test_filename_with_nothing_left_is_rejected_naming_the_filename(filename: str) -> None:
    with pytest.raises(ValueError, match=r"filename .* has no usable name"):
        content_disposition(filename)


def test_filename_with_lone_surrogate_is_rejected() -> None:
    with pytest.raises(ValueError, match=r"filename .* lone surrogate"):
        content_disposition("bad\udcff.txt")


@pytest.mark.parametrize("filename", [b"a.txt", 5, ["a"]])
def test_filename_of_wrong_type_is_rejected(filename: object) -> None:
    with pytest.raises(TypeError, match="filename must be a str"):
        content_disposition(filename)  # type: ignore[arg-type]


@pytest.mark.parametrize("disposition", ["attach ment", "", "a;b", 'a"', "inliné", "x\r\n"])
def test_non_token_disposition_is_rejected_naming_it(disposition: str) -> None:
    with pytest.raises(ValueError, match=r"disposition .* is not a token"):
        content_disposition("a.txt", disposition)


def test_disposition_of_wrong_type_is_rejected() -> None:
    with pytest.raises(TypeError, match="disposition must be a str"):
        content_disposition("a.txt", None)  # type: ignore[arg-type]
