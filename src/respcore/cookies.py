"""``Set-Cookie`` field values (RFC 6265bis §4.1), checked so that a browser stores exactly
what the application set, or the application hears why it would not.

:func:`set_cookie_value` builds the value of one ``Set-Cookie`` field;
``Response.set_cookie`` and ``Response.delete_cookie`` add one field per call with it. Nothing
is quoted, escaped or folded behind the caller's back: a name or value a browser would read
differently raises ``ValueError`` naming the field.
"""

from __future__ import annotations

import datetime
import re
import time

from ._date import format_http_date
from .ranges import parse_http_date

__all__ = ["SAMESITE", "delete_cookie_value", "set_cookie_value"]

# RFC 6265bis §4.1.1: cookie-name is an RFC 9110 token; cookie-value is cookie-octets,
# optionally inside one pair of double quotes.
#   cookie-octet = %x21 / %x23-2B / %x2D-3A / %x3C-5B / %x5D-7E
_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_OCTETS = r"[\x21\x23-\x2b\x2d-\x3a\x3c-\x5b\x5d-\x7e]*"
_VALUE = re.compile(f'{_OCTETS}|"{_OCTETS}"')
# av-octet (Path, Domain): any CHAR except CTLs or ";".
_ATTRIBUTE = re.compile(r"[\x20-\x3a\x3c-\x7e]*")
_VALUE_FAULTS = {" ": "space", '"': "a double quote", ",": "a comma", ";": "a semicolon"}
_VALUE_FAULTS["\\"] = "a backslash"

SAMESITE = {"strict": "Strict", "lax": "Lax", "none": "None"}
# RFC 6265bis §5.7: a user agent ignores a cookie whose name and value together exceed
# 4096 octets, and an attribute value longer than 1024 octets.
_MAX_PAIR = 4096
_MAX_ATTRIBUTE = 1024
_EPOCH = "Thu, 01 Jan 1970 00:00:00 GMT"


def _describe(char: str) -> str:
    named = _VALUE_FAULTS.get(char)
    if named is not None:
        return named
    code = ord(char)
    if code < 0x20 or code == 0x7F:
        return f"the control character {code:#04x}"
    return f"the non-ASCII character {char!r}"


def _check_name(key: object) -> str:
    if not isinstance(key, str):
        raise TypeError(f"cookie key must be str, got {type(key).__name__} {key!r}")
    if not _NAME.fullmatch(key):
        raise ValueError(
            f"cookie key {key!r} is not a token (RFC 6265bis §4.1.1; no spaces, separators "
            "or controls)"
        )
    return key


def _check_value(key: str, value: object) -> str:
    if not isinstance(value, str):
        raise TypeError(f"cookie {key!r}: value must be str, got {type(value).__name__}")
    if _VALUE.fullmatch(value):
        return value
    inner = value[1:-1] if len(value) >= 2 and value[0] == value[-1] == '"' else value
    bad = next(
        (c for c in inner if not _VALUE.fullmatch(c)),
        '"',  # every character is a cookie-octet: the fault is a stray double quote
    )
    raise ValueError(
        f"cookie {key!r}: value contains {_describe(bad)}, which is not a cookie-octet "
        "(RFC 6265bis §4.1.1); encode the value (e.g. percent- or base64url-encoding) first"
    )


def _check_attribute(key: str, field: str, value: object) -> str:
    if not isinstance(value, str):
        raise TypeError(f"cookie {key!r}: {field} must be str or None, got {type(value).__name__}")
    if not value:
        raise ValueError(f"cookie {key!r}: {field} is empty")
    if not _ATTRIBUTE.fullmatch(value):
        bad = next(c for c in value if not _ATTRIBUTE.fullmatch(c))
        what = "a semicolon" if bad == ";" else _describe(bad)
        raise ValueError(f"cookie {key!r}: {field} contains {what} (RFC 6265bis §4.1.1)")
    if len(value) > _MAX_ATTRIBUTE:
        raise ValueError(
            f"cookie {key!r}: {field} is {len(value)} characters; browsers ignore an "
            f"attribute over {_MAX_ATTRIBUTE} (RFC 6265bis §5.7)"
        )
    return value


def _expires(key: str, expires: object) -> str:
    """``expires`` as an IMF-fixdate (RFC 6265bis §4.1.1 sane-cookie-date)."""
    if isinstance(expires, datetime.datetime):
        if expires.tzinfo is None or expires.utcoffset() is None:
            raise ValueError(
                f"cookie {key!r}: expires is a naive datetime; give it a timezone "
                "(e.g. datetime.timezone.utc)"
            )
        return format_http_date(expires.timestamp())
    if isinstance(expires, bool) or not isinstance(expires, (int, float, str)):
        raise TypeError(
            f"cookie {key!r}: expires must be an aware datetime, seconds from now or an "
            f"HTTP-date string, got {type(expires).__name__} {expires!r}"
        )
    if isinstance(expires, str):
        timestamp = parse_http_date(expires)
        if timestamp is None:
            raise ValueError(f"cookie {key!r}: expires {expires!r} is not an HTTP-date")
        return format_http_date(timestamp)
    if expires != expires or expires in (float("inf"), float("-inf")):
        raise ValueError(f"cookie {key!r}: expires must be a finite number of seconds")
    return format_http_date(time.time() + expires)


def _samesite(key: str, samesite: object) -> str | None:
    if samesite is None:
        return None
    written = SAMESITE.get(samesite.lower()) if isinstance(samesite, str) else None
    if written is None:
        raise ValueError(
            f"cookie {key!r}: samesite must be 'strict', 'lax', 'none' or None, got {samesite!r}"
        )
    return written


def set_cookie_value(
    key: str,
    value: str = "",
    max_age: int | None = None,
    expires: datetime.datetime | float | str | None = None,
    path: str | None = "/",
    domain: str | None = None,
    secure: bool = False,
    httponly: bool = False,
    samesite: str | None = "lax",
    partitioned: bool = False,
) -> str:
    """The value of one ``Set-Cookie`` field: ``key=value`` and its attributes, in the order
    ``Expires``, ``Max-Age``, ``Domain``, ``Path``, ``Secure``, ``HttpOnly``, ``SameSite``,
    ``Partitioned``.

    Raises ``ValueError`` (``TypeError`` for a wrong type) naming the field for anything a
    browser would store differently or drop: a key that is not a token, a value outside
    cookie-octets, a name and value over 4096 octets, a bad ``samesite``, ``samesite="none"``
    or ``partitioned`` without ``secure``, a ``__Secure-``/``__Host-`` prefix whose rules are
    not kept, a ``path``/``domain`` with ``;`` or controls, a naive ``datetime``.

    The result holds only visible ASCII and spaces: it is always a valid field value.
    """
    if type(key) is not str or (key not in _GOOD_KEYS and not _good_key(key)):
        _check_name(key)
    if type(value) is not str or _VALUE.fullmatch(value) is None:
        value = _check_value(key, value)
    if len(key) + len(value) > _MAX_PAIR:
        raise ValueError(
            f"cookie {key!r}: name and value are {len(key) + len(value)} octets; browsers "
            f"ignore a cookie over {_MAX_PAIR} (RFC 6265bis §5.7)"
        )
    if expires is None and key[0] != "_" and (max_age is None or type(max_age) is int):
        # The attributes of a call site rarely change: checked once, then remembered.
        # Equal arguments give equal suffixes (True and 1 alike), so they share an entry.
        shape = (max_age, path, domain, secure, httponly, samesite, partitioned)
        try:
            suffix = _SUFFIXES.get(shape)
        except TypeError:  # an unhashable argument: the checks below name it
            suffix = _attributes(
                key, max_age, path, None, domain, secure, httponly, samesite, partitioned
            )
        if suffix is None:
            suffix = _attributes(key, *shape[:2], None, *shape[2:])
            if len(_SUFFIXES) < _SUFFIXES_MAX:
                _SUFFIXES[shape] = suffix
        return key + "=" + value + suffix
    suffix = _attributes(
        key, max_age, path, expires, domain, secure, httponly, samesite, partitioned
    )
    return key + "=" + value + suffix


# Known-good cookie names, and attribute suffixes by their arguments (bounded caches).
_GOOD_KEYS: set[str] = set()
_GOOD_KEYS_MAX = 1024
_SUFFIXES: dict[tuple[object, ...], str] = {}
_SUFFIXES_MAX = 1024


def _good_key(key: str) -> bool:
    if _NAME.fullmatch(key) is None:
        return False
    if len(_GOOD_KEYS) < _GOOD_KEYS_MAX:
        _GOOD_KEYS.add(key)
    return True


def _attributes(
    key: str,
    max_age: object,
    path: object,
    expires: object,
    domain: object,
    secure: object,
    httponly: object,
    samesite: object,
    partitioned: object,
) -> str:
    """``; Attribute`` parts of a Set-Cookie value, each checked (naming ``key``)."""
    parts = [""]
    if expires is not None:
        parts.append(f"Expires={_expires(key, expires)}")
    if max_age is not None:
        if isinstance(max_age, bool) or not isinstance(max_age, int):
            raise TypeError(f"cookie {key!r}: max_age must be an int, got {max_age!r}")
        if max_age < 0:
            raise ValueError(
                f"cookie {key!r}: max_age must be >= 0 seconds, got {max_age} "
                "(0 expires the cookie at once)"
            )
        parts.append(f"Max-Age={int(max_age)}")
    if domain is not None:
        parts.append(f"Domain={_check_attribute(key, 'domain', domain)}")
    if path is not None:
        parts.append(f"Path={_check_attribute(key, 'path', path)}")
    same = _samesite(key, samesite)
    # RFC 6265bis §4.1.2.7, §5.6.7, CHIPS: browsers reject these without Secure.
    if not secure:
        if same == "None":
            raise ValueError(f"cookie {key!r}: samesite='none' needs secure=True")
        if partitioned:
            raise ValueError(f"cookie {key!r}: partitioned=True needs secure=True")
        if key.startswith("__Secure-") or key.startswith("__Host-"):
            raise ValueError(f"cookie {key!r}: a {key.split('-')[0]}- prefix needs secure=True")
    if key.startswith("__Host-") and (domain is not None or path != "/"):
        # RFC 6265bis §4.1.3.2: no Domain, and Path=/.
        raise ValueError(f"cookie {key!r}: a __Host- prefix needs path='/' and no domain")
    if secure:
        parts.append("Secure")
    if httponly:
        parts.append("HttpOnly")
    if same is not None:
        parts.append(f"SameSite={same}")
    if partitioned:
        parts.append("Partitioned")
    return "; ".join(parts) if len(parts) > 1 else ""


def delete_cookie_value(
    key: str,
    path: str | None = "/",
    domain: str | None = None,
    secure: bool = False,
    httponly: bool = False,
    samesite: str | None = "lax",
    partitioned: bool = False,
) -> str:
    """The ``Set-Cookie`` value that removes the cookie ``key`` set with the same ``path`` and
    ``domain``: an empty value that expired at the epoch (``Max-Age=0`` as well)."""
    return set_cookie_value(
        key,
        "",
        0,
        _EPOCH,
        path,
        domain,
        secure,
        httponly,
        samesite,
        partitioned,
    )
