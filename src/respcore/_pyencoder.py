"""Pure-Python twin of the compiled core ``respcore._encoder``.

The readable reference: the compiled core gives byte-for-byte the same output and raises the
same exceptions for every input (a property test holds the two together). respcore runs on
this module when the extension is not built or ``RESPCORE_NO_EXTENSIONS=1`` is set.
"""

from __future__ import annotations

import os
import re
import unicodedata
from collections.abc import Iterable, Mapping
from typing import Any, Union

from . import _rules

__all__ = [
    "LAST_CHUNK",
    "FieldStore",
    "check_field",
    "content_disposition",
    "encode_chunk",
    "encode_event",
    "encode_head",
    "encode_status_line",
]

HeaderValue = Union[str, bytes, int]

LAST_CHUNK = b"0\r\n\r\n"

_STATUS_LINES: dict[tuple[int, str], bytes] = {
    (code, version): f"HTTP/{version} {code} {_rules.REASONS.get(code, '')}\r\n".encode("ascii")
    for code in range(100, 1000)
    for version in _rules.VERSIONS
}

# A head block is well formed when it is lines of field-value characters, each ended by CRLF,
# and it holds exactly one CRLF a field: then no value carries CR, LF or another control.
_BLOCK_OK = re.compile("(?:[\t\x20-\x7e\x80-\xff]*\r\n)*")
_VALUE_OK = re.compile("[\t\x20-\x7e\x80-\xff]*")
_TOKEN = re.compile("[" + re.escape(_rules.TOKEN_CHARS) + "]+")
# Names seen to be tokens; a head repeats the same few names, so most checks are a set lookup.
_GOOD_NAMES: set[str] = set()
_GOOD_NAMES_MAX = 4096
_WS = " \t"
_ATTR = frozenset(_rules.ATTR_CHARS)


class FieldStore:
    """Storage shared with the encoder: ``_fields`` is a list of validated (name, value) str
    pairs. ``respcore.Headers`` builds its mapping interface on it."""

    __slots__ = ("_fields",)

    def __init__(self) -> None:
        self._fields: list[tuple[str, str]] = []


def encode_status_line(status: int, version: str = "1.1") -> bytes:
    line = _STATUS_LINES.get((status, version)) if type(status) is int else None
    if line is None:
        line = _STATUS_LINES[_rules.check_status(status), _rules.check_version(version)]
    return line


def _is_token(name: str) -> bool:
    if name in _GOOD_NAMES:
        return True
    if _TOKEN.fullmatch(name) is None:
        return False
    if len(_GOOD_NAMES) < _GOOD_NAMES_MAX:
        _GOOD_NAMES.add(name)
    return True


def _field_list(headers: Any) -> list[Any] | tuple[Any, ...]:
    if type(headers) is list or type(headers) is tuple:
        return headers
    if isinstance(headers, FieldStore):
        return headers._fields
    if isinstance(headers, (str, bytes, bytearray, memoryview)) or headers is None:
        raise _rules.headers_type_error(headers)
    if isinstance(headers, Mapping):
        return list(headers.items())
    if isinstance(headers, Iterable):
        return list(headers)
    raise _rules.headers_type_error(headers)


def _text(part: object) -> str | None:
    if type(part) is str:
        return part
    if isinstance(part, str):
        return str.__str__(part)
    if isinstance(part, bytes):
        return part.decode("latin-1")
    return None


def _value_text(value: object) -> str | None:
    text = _text(value)
    if text is None and isinstance(value, int) and not isinstance(value, bool):
        text = "%d" % value
    return text


def encode_head(
    status: int,
    headers: Any,
    version: str = "1.1",
) -> bytes:
    line = encode_status_line(status, version)
    fields = headers if type(headers) is list else _field_list(headers)
    lines = []
    for item in fields:
        if (type(item) is not tuple and type(item) is not list) or len(item) != 2:
            raise _rules.first_fault(fields)
        name, value = item
        if type(name) is not str or name not in _GOOD_NAMES:
            name = _text(name)
            if name is None or not _is_token(name):
                raise _rules.first_fault(fields)
        if type(value) is not str:
            value = _value_text(value)
            if value is None:
                raise _rules.first_fault(fields)
        lines.append(f"{name}: {value.strip(_WS)}\r\n")
    block = "".join(lines)
    if _BLOCK_OK.fullmatch(block) is None or block.count("\r\n") != len(lines):
        raise _rules.first_fault(fields)
    return line + block.encode("latin-1") + b"\r\n"


def check_field(name: object, value: object) -> tuple[str, str]:
    """Validate one header field as ``Headers`` stores it: (name, value without surrounding
    spaces and tabs), both ``str``."""
    text_name = _text(name)
    text_value = _value_text(value)
    if (
        text_name is None
        or text_value is None
        or not _is_token(text_name)
        or _VALUE_OK.fullmatch(text_value) is None
    ):
        raise _rules.first_fault([(name, value)])
    return text_name, text_value.strip(_WS)


def encode_chunk(data: bytes | bytearray | memoryview | str) -> bytes:
    if type(data) is not bytes:
        if isinstance(data, str):
            data = data.encode("utf-8")
        elif isinstance(data, (bytes, bytearray, memoryview)):
            data = bytes(data)
        else:
            raise _rules.chunk_type_error(data)
    if not data:
        return b""
    return b"%x\r\n%b\r\n" % (len(data), data)


def _dropped(char: str) -> bool:
    # Control characters (Unicode category Cc) and bidirectional formatting characters.
    return char < " " or "\x7f" <= char <= "\x9f" or char in _rules.BIDI_CONTROLS


def _fallback_char(char: str) -> str:
    plain = "".join(
        c for c in unicodedata.normalize("NFKD", char) if " " <= c <= "~" and c != "/" and c != "\\"
    )
    return plain or "_"


def content_disposition(
    filename: str | os.PathLike[str] | None, disposition: str = "attachment"
) -> str:
    if not isinstance(disposition, str) or _TOKEN.fullmatch(disposition) is None:
        raise _rules.disposition_error(disposition)
    if filename is None:
        return disposition
    if isinstance(filename, os.PathLike):
        filename = os.fspath(filename)
    if not isinstance(filename, str):
        raise _rules.filename_type_error(filename)
    # RFC 6266 §4.3: recipients use only the last path component; send no more than that.
    base = filename[max(filename.rfind("/"), filename.rfind("\\")) + 1 :]
    name = "".join(c for c in base if not _dropped(c))
    if name in ("", ".", ".."):
        raise _rules.filename_empty_error(filename)
    if name.isascii():
        quoted = name.replace('"', '\\"')
        return f'{disposition}; filename="{quoted}"'
    try:
        utf8 = name.encode("utf-8")
    except UnicodeEncodeError:
        raise _rules.filename_encode_error(filename) from None
    # RFC 6266 §4.3 / RFC 8187 §3.2: an ASCII fallback for old recipients, then filename*.
    fallback = "".join(c if c.isascii() else _fallback_char(c) for c in name)
    encoded = "".join(chr(b) if chr(b) in _ATTR else f"%{b:02X}" for b in utf8)
    quoted = fallback.replace('"', '\\"')
    return f"{disposition}; filename=\"{quoted}\"; filename*=UTF-8''{encoded}"


def _event_lines(prefix: bytes, value: bytes) -> bytes:
    # WHATWG HTML §9.2.5: a line ends at CRLF, a lone LF or a lone CR; each line of a value
    # becomes a field line of its own.
    if b"\r" in value:
        value = value.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
    return prefix + value.replace(b"\n", b"\n" + prefix) + b"\n"


def encode_event(
    data: str | None = None,
    event: str | None = None,
    id: str | None = None,
    retry: int | None = None,
    comment: str | None = None,
) -> bytes:
    if (
        (data is not None and type(data) is not str)
        or (event is not None and (type(event) is not str or "\n" in event or "\r" in event))
        or (id is not None and (type(id) is not str or "\n" in id or "\r" in id or "\0" in id))
        or (retry is not None and (type(retry) is not int or retry < 0))
        or (comment is not None and type(comment) is not str)
        or (data is None and event is None and id is None and retry is None and comment is None)
    ):
        fault = _rules.event_fault(data, event, id, retry, comment)
        if fault is not None:
            raise fault
    try:
        out = b"" if comment is None else _event_lines(b": ", comment.encode("utf-8"))
        if event is not None:
            out += b"event: " + event.encode("utf-8") + b"\n"
        if id is not None:
            out += b"id: " + id.encode("utf-8") + b"\n"
        if retry is not None:
            out += b"retry: %d\n" % retry
        if data is not None:
            out += _event_lines(b"data: ", data.encode("utf-8"))
    except UnicodeEncodeError:
        fault = _rules.event_fault(data, event, id, retry, comment)
        assert fault is not None  # a field that does not encode is a fault event_fault names
        raise fault from None
    return out + b"\n"
