"""``Headers``: the case-insensitive, ordered, multi-valued header fields of a response."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, MutableMapping
from typing import Any, TypeVar, Union, overload

from .encoder import FieldStore, check_field

__all__ = ["HeaderValue", "Headers", "HeadersInit", "parsed_headers", "request_headers"]

HeaderValue = Union[str, bytes, int]
HeadersInit = Union["Headers", Mapping[Any, Any], Iterable[tuple[Any, Any]], None]

_T = TypeVar("_T")
_MISSING: Any = object()


def _key(name: object) -> str:
    if isinstance(name, str):
        return name.lower()
    if isinstance(name, bytes):
        return name.decode("latin-1").lower()
    raise TypeError(f"header name must be str or bytes, got {type(name).__name__} {name!r}")


def _pairs(other: HeadersInit) -> Iterable[tuple[Any, Any]]:
    if other is None:
        return ()
    if isinstance(other, Headers):
        return list(other._fields)
    if isinstance(other, Mapping):
        return other.items()
    if isinstance(other, (str, bytes)):
        raise TypeError(
            "headers must be a Headers, a mapping or an iterable of (name, value) pairs, "
            f"got {type(other).__name__}"
        )
    return other


class Headers(FieldStore):
    """Header fields, case-insensitive by name, in the order they were added, each name
    possibly repeated (``Set-Cookie``). Every field is validated when it is set, with the
    encoder's rules (RFC 9110 §5.1, §5.5), so a bad field fails at the line that set it.

    Values are stored as ``str`` without surrounding spaces and tabs; an ``int`` is stored as
    its decimal form. Names keep the case they were given.
    """

    __slots__ = ()

    def __init__(self, init: HeadersInit = None) -> None:
        if init is None:
            # The most common case, kept short: responses make empty Headers all the time.
            self._fields = []
            return
        super().__init__()
        if isinstance(init, Headers):
            self._fields = list(init._fields)
        else:
            self._fields = [check_field(name, value) for name, value in _pairs(init)]

    # -- reading ---------------------------------------------------------------------------

    def __getitem__(self, name: str) -> str:
        key = _key(name)
        for field_name, value in self._fields:
            if field_name.lower() == key:
                return value
        raise KeyError(name)

    @overload
    def get(self, name: str) -> str | None: ...
    @overload
    def get(self, name: str, default: _T) -> str | _T: ...
    def get(self, name: str, default: object = None) -> object:
        key = _key(name)
        for field_name, value in self._fields:
            if field_name.lower() == key:
                return value
        return default

    def getall(self, name: str, default: Any = _MISSING) -> list[str]:
        """Every value of ``name`` in order; ``KeyError`` if there is none and no default."""
        key = _key(name)
        values = [value for field_name, value in self._fields if field_name.lower() == key]
        if values:
            return values
        if default is _MISSING:
            raise KeyError(name)
        return default  # type: ignore[no-any-return]

    def __contains__(self, name: object) -> bool:
        if not isinstance(name, (str, bytes)):
            return False
        key = _key(name)
        return any(field_name.lower() == key for field_name, _ in self._fields)

    def __iter__(self) -> Iterator[str]:
        return iter([name for name, _ in self._fields])

    def __len__(self) -> int:
        return len(self._fields)

    def keys(self) -> list[str]:
        return [name for name, _ in self._fields]

    def values(self) -> list[str]:
        return [value for _, value in self._fields]

    def items(self) -> list[tuple[str, str]]:
        """Every field as (name, value), duplicates included, in order."""
        return list(self._fields)

    # -- writing ---------------------------------------------------------------------------

    def __setitem__(self, name: str, value: HeaderValue) -> None:
        """Replace every field named ``name`` by one, in the place of the first of them."""
        self._set(name, [value])

    def _set(self, name: object, values: list[Any]) -> None:
        new = [check_field(name, value) for value in values]
        key = _key(name)
        fields = self._fields
        for index, (field_name, _) in enumerate(fields):
            if field_name.lower() == key:
                rest = [field for field in fields[index + 1 :] if field[0].lower() != key]
                self._fields = fields[:index] + new + rest
                return
        fields.extend(new)

    def add(self, name: str, value: HeaderValue) -> None:
        """Append a field, keeping any others of the same name (e.g. ``Set-Cookie``)."""
        self._fields.append(check_field(name, value))

    def extend(self, other: HeadersInit) -> None:
        """Append every field of ``other``."""
        self._fields.extend([check_field(name, value) for name, value in _pairs(other)])

    def update(self, other: HeadersInit = None) -> None:
        """For each name in ``other``, replace this object's fields of that name by
        ``other``'s (all of them, in order)."""
        grouped: dict[str, tuple[Any, list[Any]]] = {}
        for name, value in _pairs(other):
            grouped.setdefault(_key(name), (name, []))[1].append(value)
        for name, values in grouped.values():
            self._set(name, values)

    def setdefault(self, name: str, default: HeaderValue) -> str:
        """The first value of ``name``; if there is none, add ``default`` and return it as
        stored."""
        value = self.get(name)
        if value is None:
            self.add(name, default)
            return self._fields[-1][1]
        return value

    def __delitem__(self, name: str) -> None:
        key = _key(name)
        kept = [field for field in self._fields if field[0].lower() != key]
        if len(kept) == len(self._fields):
            raise KeyError(name)
        self._fields = kept

    def pop(self, name: str, default: Any = _MISSING) -> str:
        """Remove every field of ``name`` and return the first value."""
        value = self.get(name, _MISSING)
        if value is _MISSING:
            if default is _MISSING:
                raise KeyError(name)
            return default  # type: ignore[no-any-return]
        del self[name]
        return value

    def clear(self) -> None:
        self._fields = []

    def copy(self) -> Headers:
        return Headers(self)

    # -- comparing and showing -------------------------------------------------------------

    def _by_name(self) -> dict[str, list[str]]:
        grouped: dict[str, list[str]] = {}
        for name, value in self._fields:
            grouped.setdefault(name.lower(), []).append(value)
        return grouped

    def __eq__(self, other: object) -> bool:
        """Equal when both hold the same values for each name, in the same order per name."""
        if isinstance(other, Headers):
            return self._by_name() == other._by_name()
        if isinstance(other, Mapping):
            try:
                return self._by_name() == Headers(other)._by_name()
            except (TypeError, ValueError):
                return False
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Headers({self._fields!r})"

    def __reduce__(self) -> tuple[Any, ...]:
        return (Headers, (list(self._fields),))


MutableMapping.register(Headers)


def parsed_headers(fields: Iterable[tuple[bytes, bytes]]) -> Headers:
    """A request's header fields, as a parser (httptools, an ASGI server) handed them over:
    byte pairs, already checked by the parser, decoded as ISO-8859-1 and not checked again."""
    headers = Headers()
    headers._fields = [(name.decode("latin-1"), value.decode("latin-1")) for name, value in fields]
    return headers


def request_headers(value: object, field: str = "request_headers") -> Headers | None:
    """``None``, or a request's header fields given as a ``Headers``, a mapping or pairs."""
    if value is None or isinstance(value, Headers):
        return value
    try:
        return Headers(value)  # type: ignore[arg-type]
    except TypeError as exc:
        raise TypeError(f"{field}: {exc}") from None
    except ValueError as exc:
        raise ValueError(f"{field}: {exc}") from None
