"""Server-sent events (WHATWG HTML §9.2, "Server-sent events"): the ``text/event-stream``
wire format, and the stream that turns an application's events into it.

:class:`ServerSentEvent` checks its fields when it is made and encodes to bytes; an event
stream (``EventSourceResponse``, ``@res.event_stream``) sends each event as one chunk and a
``: ping`` comment whenever the application has been silent for ``ping`` seconds, so proxies
and browsers keep the connection open.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any

from ._bodies import stop_stream
from .encoder import encode_event

__all__ = ["EVENT_STREAM", "PING", "SSE_HEADERS", "ServerSentEvent", "event_bytes", "events"]

EVENT_STREAM = "text/event-stream; charset=utf-8"
# Cache-Control: an event stream is never stored; X-Accel-Buffering: proxies that buffer
# responses by default (nginx) pass each event on as it comes.
SSE_HEADERS = (("Cache-Control", "no-cache"), ("X-Accel-Buffering", "no"))
PING = b": ping\n\n"

_FIELDS = ("data", "event", "id", "retry", "comment")


class ServerSentEvent:
    """One event: ``data`` (split into one ``data:`` line per line), ``event`` (its type),
    ``id`` (the last-event ID), ``retry`` (the reconnection time, in milliseconds) and
    ``comment`` (``:`` lines the browser ignores). Every field is optional; at least one
    must be set. An event is a value: it is encoded once, when it is made, and its fields
    are read-only.

    Lines end at CRLF, LF or CR, as the browser reads them (WHATWG HTML §9.2.5).
    ``ValueError`` names the field for CR or LF in ``event`` or ``id`` (it would end the
    field and start another), NUL in ``id`` (browsers ignore such an ID), a negative
    ``retry``, a lone surrogate, or no field at all; ``TypeError`` for a field of the wrong
    type.
    """

    __slots__ = ("_encoded", "_fields")

    def __init__(
        self,
        data: str | None = None,
        event: str | None = None,
        id: str | None = None,
        retry: int | None = None,
        comment: str | None = None,
    ) -> None:
        self._encoded = encode_event(data, event, id, retry, comment)
        self._fields = (data, event, id, retry, comment)

    @property
    def data(self) -> str | None:
        return self._fields[0]

    @property
    def event(self) -> str | None:
        return self._fields[1]

    @property
    def id(self) -> str | None:
        return self._fields[2]

    @property
    def retry(self) -> int | None:
        return self._fields[3]

    @property
    def comment(self) -> str | None:
        return self._fields[4]

    def encode(self) -> bytes:
        """The event in the ``text/event-stream`` format, UTF-8, ending with a blank line."""
        return self._encoded

    def __repr__(self) -> str:
        shown = ", ".join(
            f"{name}={value!r}"
            for name, value in zip(_FIELDS, self._fields, strict=True)
            if value is not None
        )
        return f"ServerSentEvent({shown})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ServerSentEvent):
            return NotImplemented
        return self._fields == other._fields

    def __hash__(self) -> int:
        return hash(self._fields)


def event_bytes(item: object) -> bytes:
    """What one item of an event stream sends: a :class:`ServerSentEvent`, a ``dict`` of its
    fields, or a ``str`` (the data of a message event)."""
    if type(item) is ServerSentEvent:
        return item._encoded
    if isinstance(item, str):
        return encode_event(item)
    if isinstance(item, ServerSentEvent):
        return item.encode()
    if isinstance(item, Mapping):
        unknown = [key for key in item if key not in _FIELDS]
        if unknown:
            raise ValueError(
                f"event stream: unknown event field {unknown[0]!r}; the fields are "
                + ", ".join(_FIELDS)
            )
        return ServerSentEvent(**item).encode()
    raise TypeError(
        f"event stream yielded {type(item).__name__} {item!r}; it must yield ServerSentEvent, "
        "dict or str"
    )


def events(
    open_events: Callable[[], AsyncIterator[Any]], ping: float | None
) -> AsyncIterator[bytes]:
    """The body of one pass over an event stream: each item of ``open_events()`` encoded, and
    ``PING`` whenever no item came for ``ping`` seconds (``None``/``0``: never).

    Closing this stream, or throwing ``ClientDisconnect``/``ResponseTimeout`` into it (a
    sending path does so at the yield where it saw the disconnect or the timeout), closes the
    application's iterator the same way. While a ping is out the application's iterator is
    busy inside its own code, not at a yield: it is cancelled there instead.
    """
    source = open_events()
    if ping:
        return _pinged(source, ping)
    return _plain(source)


async def _encoded(source: AsyncIterator[Any], item: object) -> bytes:
    try:
        return event_bytes(item)
    except BaseException:
        await stop_stream(source)
        raise


async def _plain(source: AsyncIterator[Any]) -> AsyncIterator[bytes]:
    while True:
        try:
            item = await source.__anext__()
        except StopAsyncIteration:
            return
        data = await _encoded(source, item)
        try:
            yield data
        except BaseException as exc:
            # Suspended at its own yield, as this one is: the close or throw reaches it there.
            await stop_stream(source, None if isinstance(exc, GeneratorExit) else exc)
            raise


_END = object()


async def _next(source: AsyncIterator[Any]) -> Any:
    try:
        return await source.__anext__()
    except StopAsyncIteration:
        return _END


async def _pinged(source: AsyncIterator[Any], ping: float) -> AsyncIterator[bytes]:
    loop = asyncio.get_running_loop()
    pending: asyncio.Task[Any] | None = None
    try:
        while True:
            if pending is None:
                pending = loop.create_task(_next(source))
            done, _ = await asyncio.wait((pending,), timeout=ping)
            if not done:
                yield PING
                continue
            item = pending.result()
            pending = None
            if item is _END:
                return
            data = await _encoded(source, item)
            try:
                yield data
            except BaseException as exc:
                await stop_stream(source, None if isinstance(exc, GeneratorExit) else exc)
                raise
    finally:
        if pending is not None and not pending.done():
            pending.cancel()
            with contextlib.suppress(BaseException):
                await pending
