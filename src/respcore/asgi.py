"""Sending a framed response as ASGI messages (``http.response.start``, ``http.response.body``,
``http.response.pathsend``).

The functions here take what :func:`respcore.framing.decide` answered and follow it; they know
nothing of response objects. The ASGI server owns the connection and writes the wire framing
itself, so the header fields framing chose tell it what to do (Content-Length, chunked,
``Connection: close``).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, MutableMapping
from typing import Any, BinaryIO, Union

from ._bodies import (
    chunk_bytes,
    file_pieces,
    length_exceeded,
    length_missed,
    shrank,
    stop_stream,
    timed_out,
)
from .compression import StreamCoder
from .errors import ClientDisconnect, ResponseTimeout
from .framing import BodyPlan, Framing, plan
from .ranges import Segment

__all__ = [
    "PATHSEND",
    "PLAIN_STARTS",
    "FileFrame",
    "Message",
    "Receive",
    "Scope",
    "Send",
    "offers_pathsend",
    "offers_trailers",
    "plain_start",
    "raw_headers",
    "request_keep_alive",
    "request_version",
    "send_bytes",
    "send_file",
    "send_stream",
]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

PATHSEND = "http.response.pathsend"
TRAILERS = "http.response.trailers"
TrailerFields = Callable[[], Iterable[tuple[str, str]]]
FileFrame = tuple[int, Framing, list[Segment], Union[StreamCoder, None]]
"""What a file body sends: status, framing, the body's segments, and the coder that
compresses them on the way (``None``: sent as they are)."""


def request_version(scope: Scope) -> str:
    """The HTTP/1.x version framing should assume: ``"1.0"`` for an HTTP/1.0 request, else
    ``"1.1"`` (HTTP/2 and 3 servers do their own framing from the same fields)."""
    return "1.0" if scope.get("http_version") == "1.0" else "1.1"


def request_keep_alive(scope: Scope, version: str) -> bool:
    """Whether the request lets the connection persist (RFC 9112 §9.3). For HTTP/1.1 the
    server enforces a client's ``Connection: close`` itself, so only HTTP/1.0 is read."""
    if version != "1.0":
        return True
    for name, value in scope.get("headers", ()):
        if name.lower() == b"connection" and b"keep-alive" in [
            item.strip(b" \t").lower() for item in value.split(b",")
        ]:
            return True
    return False


def offers_pathsend(scope: Scope) -> bool:
    extensions = scope.get("extensions")
    return extensions is not None and PATHSEND in extensions


def offers_trailers(scope: Scope) -> bool:
    extensions = scope.get("extensions")
    return extensions is not None and TRAILERS in extensions


def raw_headers(fields: Iterable[tuple[str, str]]) -> list[tuple[bytes, bytes]]:
    """Header fields as ASGI wants them: byte strings with lowercase names."""
    return [(name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in fields]


def _start(status: int, framing: Framing) -> Message:
    return {"type": "http.response.start", "status": status, "headers": raw_headers(framing.fields)}


PlainStartKey = tuple[int, Union[str, None], int, bool]

# Framed ASGI header lists of bytes responses whose only field is Content-Type, by
# (status, content_type or None, length, is_head), for HTTP/1.1 requests. Nothing here
# depends on the time (an ASGI server adds Date), so entries never go stale.
PLAIN_STARTS: dict[PlainStartKey, tuple[BodyPlan, list[tuple[bytes, bytes]]]] = {}
_PLAIN_STARTS_MAX = 1024


def plain_start(key: PlainStartKey) -> tuple[BodyPlan, list[tuple[bytes, bytes]]]:
    """The body plan and ASGI header list for ``key`` (see ``PLAIN_STARTS``), framed by
    :func:`respcore.framing.plan` and remembered. Callers copy the list before sending it:
    middleware may change a message's headers in place."""
    entry = PLAIN_STARTS.get(key)
    if entry is None:
        status, content_type, length, is_head = key
        fields = [] if content_type is None else [("Content-Type", content_type)]
        method = "HEAD" if is_head else "GET"
        body, _, _, sent, _, _ = plan(status, fields, "bytes", length, method, "1.1", True, False)
        entry = (body, raw_headers(sent))
        if len(PLAIN_STARTS) < _PLAIN_STARTS_MAX:
            PLAIN_STARTS[key] = entry
    return entry


async def send_bytes(
    send: Send, status: int, fields: Iterable[tuple[str, str]], body: bytes
) -> None:
    """Send a bytes body: the head with the framed ``fields``, then ``body`` in one message
    (``b""`` when framing said there is none: HEAD, 204…)."""
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in fields
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class _Deadlines:
    """``chunk_timeout`` for each send and ``complete_timeout`` for the whole response."""

    __slots__ = ("chunk", "complete", "end", "loop")

    def __init__(self, chunk: float | None, complete: float | None) -> None:
        self.loop = asyncio.get_running_loop()
        self.chunk = chunk or None
        self.complete = complete or None
        self.end = None if self.complete is None else self.loop.time() + self.complete

    def _limit(self, per_step: float | None) -> tuple[float | None, str]:
        limit, which = per_step, "chunk_timeout"
        if self.end is not None:
            remaining = self.end - self.loop.time()
            if limit is None or remaining < limit:
                limit, which = max(remaining, 0.0), "complete_timeout"
        return limit, which

    def _expired(self, which: str) -> ResponseTimeout:
        return timed_out(which, self.chunk if which == "chunk_timeout" else self.complete)

    async def send(self, send: Send, message: Message) -> None:
        limit, which = self._limit(self.chunk)
        if limit is None:
            await send(message)
            return
        try:
            await asyncio.wait_for(send(message), limit)
        except asyncio.TimeoutError:
            raise self._expired(which) from None

    async def produce(self, step: Awaitable[Any]) -> Any:
        """Await the next chunk of the body, within what is left of ``complete_timeout``."""
        limit, which = self._limit(None)
        if limit is None:
            return await step
        try:
            return await asyncio.wait_for(step, limit)
        except asyncio.TimeoutError:
            raise self._expired(which) from None


class _DisconnectWatch:
    """Reads ``receive()`` in a task until ``http.disconnect`` arrives."""

    __slots__ = ("event", "task")

    def __init__(self, receive: Receive) -> None:
        self.event = asyncio.Event()
        self.task = asyncio.get_running_loop().create_task(self._watch(receive))

    async def _watch(self, receive: Receive) -> None:
        while True:
            message = await receive()
            if message.get("type") == "http.disconnect":
                self.event.set()
                return

    @property
    def disconnected(self) -> bool:
        return self.event.is_set()

    async def stop(self) -> None:
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task


async def send_stream(
    receive: Receive,
    send: Send,
    status: int,
    framing: Framing,
    open_stream: Callable[[], AsyncIterator[Any]],
    *,
    raise_on_disconnect: bool = False,
    chunk_timeout: float | None = None,
    complete_timeout: float | None = None,
    trailers: TrailerFields | None = None,
) -> bool:
    """Send a stream body with ``more_body``; ``True`` when it was sent to its end, ``False``
    when the client disconnected first.

    The first chunk is taken before the head goes out, so a stream that fails at once leaves
    nothing sent (the server answers 500). A wrong chunk type, a chunk past the application's
    Content-Length, or a timeout raises out of here after the stream is closed; the server
    then drops the connection, which is how ASGI aborts a response. ``trailers`` (given only
    when the server offers ``http.response.trailers`` and the body is chunked) returns the
    trailer fields once the body has ended.
    """
    if framing.body == "none":
        await send(_start(status, framing))
        await send({"type": "http.response.body", "body": b""})
        return True
    expected = framing.content_length
    deadlines = _Deadlines(chunk_timeout, complete_timeout)
    watch = _DisconnectWatch(receive)
    chunks = open_stream()
    finished = False
    started = False
    sent = 0
    try:
        while True:
            try:
                chunk = await deadlines.produce(chunks.__anext__())
            except StopAsyncIteration:
                finished = True
                break
            data = chunk_bytes(chunk)
            if not data:
                continue
            sent += len(data)
            if expected is not None and sent > expected:
                raise length_exceeded(expected)
            if not started:
                started = True
                await deadlines.send(send, _stream_start(status, framing, trailers))
            await deadlines.send(
                send, {"type": "http.response.body", "body": data, "more_body": True}
            )
            if watch.disconnected:
                finished = True
                reason = ClientDisconnect("the client disconnected")
                await stop_stream(chunks, reason if raise_on_disconnect else None)
                return False
        if expected is not None and sent != expected:
            raise length_missed(sent, expected)
        if not started:
            await deadlines.send(send, _stream_start(status, framing, trailers))
        if trailers is None:
            await deadlines.send(send, {"type": "http.response.body", "body": b""})
        else:
            fields = trailers()
            await deadlines.send(send, {"type": "http.response.body", "body": b""})
            await deadlines.send(
                send, {"type": TRAILERS, "headers": raw_headers(fields), "more_trailers": False}
            )
        return True
    finally:
        await watch.stop()
        if not finished:
            await stop_stream(chunks)


def _stream_start(status: int, framing: Framing, trailers: TrailerFields | None) -> Message:
    message = _start(status, framing)
    if trailers is not None:
        message["trailers"] = True
    return message


async def send_file(
    scope: Scope,
    receive: Receive,
    send: Send,
    path: str,
    frame: Callable[[os.stat_result], FileFrame],
    *,
    chunk_size: int = 65536,
    chunk_timeout: float | None = None,
    complete_timeout: float | None = None,
) -> bool:
    """Send a file body. ``frame`` turns the file's stat into the status, the framing, the
    body's segments (the whole file, ranges, or nothing; see ``respcore.ranges``) and the
    coder compressing them, if any, so the head describes the file as it is opened. The
    whole file goes as ``http.response.pathsend`` when the server offers it; anything else
    is read off the event loop in ``chunk_size`` pieces. ``True`` when the body was sent to
    its end, ``False`` when the client disconnected first."""
    loop = asyncio.get_running_loop()
    if scope.get("method") == "HEAD" or offers_pathsend(scope):
        st = await loop.run_in_executor(None, os.stat, path)
        status, framing, segments, coder = frame(st)
        if framing.body == "none":
            await send(_start(status, framing))
            await send({"type": "http.response.body", "body": b""})
            return True
        if framing.body == "length" and coder is None and segments == [(0, st.st_size)]:
            await send(_start(status, framing))
            await send({"type": PATHSEND, "path": path})
            return True
    file = await loop.run_in_executor(None, open, path, "rb")
    try:
        status, framing, segments, coder = frame(os.fstat(file.fileno()))
        if framing.body == "none":
            await send(_start(status, framing))
            await send({"type": "http.response.body", "body": b""})
            return True
        return await _send_file_body(
            receive,
            send,
            status,
            framing,
            file,
            segments,
            chunk_size,
            _Deadlines(chunk_timeout, complete_timeout),
            coder,
        )
    finally:
        file.close()


async def _send_file_body(
    receive: Receive,
    send: Send,
    status: int,
    framing: Framing,
    file: BinaryIO,
    segments: list[Segment],
    chunk_size: int,
    deadlines: _Deadlines,
    coder: StreamCoder | None = None,
) -> bool:
    loop = asyncio.get_running_loop()
    fd = file.fileno()
    read: Callable[[int, int], bytes] = functools.partial(os.pread, fd)
    if coder is not None:
        read = functools.partial(_read_coded, fd, file.name, coder)
    watch = _DisconnectWatch(receive)
    try:
        await deadlines.send(send, _start(status, framing))
        for piece in file_pieces(segments, chunk_size):
            if isinstance(piece, bytes):
                data = piece
            else:
                offset, size = piece
                data = await deadlines.produce(loop.run_in_executor(None, read, size, offset))
                if len(data) < size and coder is None:
                    raise shrank(file.name, offset + len(data))
            if data:
                await deadlines.send(
                    send, {"type": "http.response.body", "body": data, "more_body": True}
                )
            if watch.disconnected:
                return False
        tail = b"" if coder is None else coder.finish()
        await deadlines.send(send, {"type": "http.response.body", "body": tail})
        return True
    finally:
        await watch.stop()


def _read_coded(fd: int, name: object, coder: StreamCoder, size: int, offset: int) -> bytes:
    """Read a file span and code it (off the event loop: compressing takes time too)."""
    data = os.pread(fd, size, offset)
    if len(data) < size:
        raise shrank(name, offset + len(data))
    return coder.feed(data)
