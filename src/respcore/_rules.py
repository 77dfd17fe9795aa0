"""The HTTP rules that both encoder cores share: reason phrases, token and field-value
character classes, and the exceptions that describe a rejected input.

The compiled core and its pure-Python twin detect bad input each in their own way, then ask
this module to describe it, so both raise the same exception with the same message.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

__all__ = [
    "REASONS",
    "TOKEN_CHARS",
    "check_status",
    "check_version",
    "first_fault",
    "headers_type_error",
]

# RFC 9110 §15 and the IANA HTTP Status Code Registry. Held here, not taken from
# http.HTTPStatus, so the bytes on the wire never change with the Python version.
REASONS: dict[int, str] = {
    100: "Continue",
    101: "Switching Protocols",
    102: "Processing",
    103: "Early Hints",
    200: "OK",
    201: "Created",
    202: "Accepted",
    203: "Non-Authoritative Information",
    204: "No Content",
    205: "Reset Content",
    206: "Partial Content",
    207: "Multi-Status",
    208: "Already Reported",
    226: "IM Used",
    300: "Multiple Choices",
    301: "Moved Permanently",
    302: "Found",
    303: "See Other",
    304: "Not Modified",
    305: "Use Proxy",
    307: "Temporary Redirect",
    308: "Permanent Redirect",
    400: "Bad Request",
    401: "Unauthorized",
    402: "Payment Required",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    406: "Not Acceptable",
    407: "Proxy Authentication Required",
    408: "Request Timeout",
    409: "Conflict",
    410: "Gone",
    411: "Length Required",
    412: "Precondition Failed",
    413: "Content Too Large",
    414: "URI Too Long",
    415: "Unsupported Media Type",
    416: "Range Not Satisfiable",
    417: "Expectation Failed",
    421: "Misdirected Request",
    422: "Unprocessable Content",
    423: "Locked",
    424: "Failed Dependency",
    425: "Too Early",
    426: "Upgrade Required",
    428: "Precondition Required",
    429: "Too Many Requests",
    431: "Request Header Fields Too Large",
    451: "Unavailable For Legal Reasons",
    500: "Internal Server Error",
    501: "Not Implemented",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
    505: "HTTP Version Not Supported",
    506: "Variant Also Negotiates",
    507: "Insufficient Storage",
    508: "Loop Detected",
    510: "Not Extended",
    511: "Network Authentication Required",
}

VERSIONS = ("1.0", "1.1")

# RFC 9110 §5.6.2: token = 1*tchar
TOKEN_CHARS = "!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

# RFC 9110 §5.5: field-value octets are HTAB, SP, VCHAR and obs-text (0x80-0xFF).
_BAD_VALUE_CHAR = re.compile("[^\t\x20-\x7e\x80-\xff]")
_BAD_NAME_CHAR = re.compile("[^" + re.escape(TOKEN_CHARS) + "]")

_CHAR_NAMES = {0x00: "NUL", 0x09: "HTAB", 0x0A: "LF", 0x0D: "CR", 0x20: "space", 0x7F: "DEL"}


def _describe(char: str) -> str:
    code = ord(char)
    label = _CHAR_NAMES.get(code)
    if label is None:
        if code < 0x20:
            label = "control character"
        elif code > 0xFF:
            label = f"non-Latin-1 character {char!r}"
        else:
            label = repr(char)
    return f"{label} (U+{code:04X})"


def check_status(status: object, field: str = "status code") -> int:
    """Return ``status`` as an int, or raise naming ``field``: a status code is an int from
    100 to 999.

    RFC 9112 §4: status-code = 3DIGIT.
    """
    if isinstance(status, bool) or not isinstance(status, int):
        raise TypeError(f"{field} must be an int from 100 to 999, got {status!r}")
    code = int(status)
    if not 100 <= code <= 999:
        raise ValueError(f"{field} must be from 100 to 999, got {code}")
    return code


def check_version(version: object) -> str:
    """Return ``version`` if it is "1.0" or "1.1", else raise."""
    if not isinstance(version, str):
        raise TypeError(f'HTTP version must be the str "1.0" or "1.1", got {version!r}')
    if version not in VERSIONS:
        raise ValueError(f'HTTP version must be "1.0" or "1.1", got {version!r}')
    return version


def headers_type_error(headers: object) -> TypeError:
    return TypeError(
        "headers must be a Headers, a mapping or an iterable of (name, value) pairs, "
        f"got {type(headers).__name__}"
    )


def pair_error(index: int, item: object) -> TypeError:
    return TypeError(
        f"header field #{index} must be a (name, value) pair, got {type(item).__name__} {item!r}"
    )


def _as_text(part: object) -> str | None:
    if isinstance(part, str):
        return part
    if isinstance(part, bytes):
        return part.decode("latin-1")
    return None


def first_fault(fields: Sequence[Any]) -> Exception:
    """Describe the first fault in a list of header fields: a core calls this once it has
    found that something in ``fields`` is wrong, so every core names the same field."""
    for index, item in enumerate(fields):
        if (type(item) is not tuple and type(item) is not list) or len(item) != 2:
            return pair_error(index, item)
        fault = field_fault(item[0], item[1])
        if fault is not None:
            return fault
    return RuntimeError("header fields were reported faulty, but none is")  # pragma: no cover


def field_fault(name: object, value: object) -> Exception | None:
    """Describe what is wrong with one header field, naming the header, or return None."""
    text_name = _as_text(name)
    if text_name is None:
        return TypeError(f"header name must be str or bytes, got {type(name).__name__} {name!r}")
    if not text_name:
        return ValueError("header name is empty; a field name must be a token (RFC 9110 §5.1)")
    bad = _BAD_NAME_CHAR.search(text_name)
    if bad is not None:
        return ValueError(
            f"header name {text_name!r} contains {_describe(bad.group())} at index "
            f"{bad.start()}; a field name must be a token (RFC 9110 §5.6.2)"
        )
    if isinstance(value, bool) or not isinstance(value, (str, bytes, int)):
        return TypeError(
            f"header {text_name!r}: value must be str, bytes or int, "
            f"got {type(value).__name__} {value!r}"
        )
    if isinstance(value, int):
        text_value = "%d" % value
    else:
        text_value = value.decode("latin-1") if isinstance(value, bytes) else value
    bad = _BAD_VALUE_CHAR.search(text_value)
    if bad is not None:
        what = "is not Latin-1 encodable: it holds" if ord(bad.group()) > 0xFF else "contains"
        return ValueError(
            f"header {text_name!r}: value {what} {_describe(bad.group())} at index "
            f"{bad.start()}; a field value may hold only HTAB, SP, visible ASCII and "
            "obs-text (RFC 9110 §5.5)"
        )
    return None


def chunk_type_error(data: Any) -> TypeError:
    return TypeError(
        f"chunk data must be bytes, bytearray, memoryview or str, got {type(data).__name__}"
    )


def disposition_error(disposition: object) -> Exception:
    if not isinstance(disposition, str):
        return TypeError(f"disposition must be a str token, got {type(disposition).__name__}")
    return ValueError(
        f'disposition {disposition!r} is not a token (RFC 6266 §4.1), e.g. "attachment" or "inline"'
    )


def filename_type_error(filename: object) -> TypeError:
    return TypeError(
        f"filename must be a str, an os.PathLike[str] or None, got {type(filename).__name__}"
    )


def filename_empty_error(filename: str) -> ValueError:
    return ValueError(
        f"filename {filename!r} has no usable name once path components and control "
        "characters are removed"
    )


def filename_encode_error(filename: str) -> ValueError:
    return ValueError(f"filename {filename!r} holds a lone surrogate and cannot be UTF-8 encoded")


# RFC 8187 §3.2.1: attr-char may stand unescaped in an ext-value.
ATTR_CHARS = "!#$&+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

# Bidirectional formatting characters: dropped from filenames like control characters, so a
# name cannot display in an order other than the one it has (e.g. "txt.exe" shown as "exe.txt").
BIDI_CONTROLS = "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"


# -- server-sent events (WHATWG HTML §9.2.6) ----------------------------------------------------


def event_fault(
    data: object, event: object, id: object, retry: object, comment: object
) -> Exception | None:
    """Describe what is wrong with a server-sent event's fields, naming the field, or return
    None. A core calls this once its own quick checks found something, so every core raises
    the same exception for the same fields."""
    where = "ServerSentEvent"
    for field, value in (("data", data), ("event", event), ("id", id), ("comment", comment)):
        if value is not None and not isinstance(value, str):
            return TypeError(f"{where}: {field} must be str or None, got {type(value).__name__}")
    for field, value in (("event", event), ("id", id)):
        if isinstance(value, str) and ("\n" in value or "\r" in value):
            # A line break would end the field's line and start another field.
            return ValueError(f"{where}: {field} {value!r} contains CR or LF")
    if isinstance(id, str) and "\0" in id:
        # §9.2.6: a browser ignores an id field whose value contains NUL.
        return ValueError(f"{where}: id {id!r} contains NUL, which browsers ignore")
    if retry is not None:
        if isinstance(retry, bool) or not isinstance(retry, int):
            return TypeError(f"{where}: retry must be an int (milliseconds), got {retry!r}")
        if retry < 0:
            return ValueError(f"{where}: retry must be >= 0 milliseconds, got {retry}")
    if data is None and event is None and id is None and retry is None and comment is None:
        return ValueError(f"{where}: no field is set; an empty event sends nothing")
    for field, value in (("comment", comment), ("event", event), ("id", id), ("data", data)):
        if isinstance(value, str):
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                return ValueError(
                    f"{where}: {field} holds a lone surrogate and cannot be UTF-8 encoded"
                )
    return None
