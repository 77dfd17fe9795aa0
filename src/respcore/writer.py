"""Sending responses on an asyncio transport (the stock loop's or uvloop's).

:class:`TransportWriter` is what a framework with its own ``asyncio.Protocol`` plugs in: the
protocol forwards ``pause_writing``, ``resume_writing`` and ``connection_lost`` to it and awaits
:meth:`TransportWriter.send` for each response, in order. The writer asks
:func:`respcore.framing.plan` how to frame each response and follows the answer.

What it guarantees on the wire:

* a bytes body goes out with its head in one ``transport.write``;
* a stream or file never holds more than the transport's high-water mark in memory when the
  client does not read: the writer waits while the transport is paused;
* a message is either complete or its connection is aborted: a stream that raises after the
  head, a stream that breaks its own Content-Length, a file that shrinks, a timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import stat
import struct
from typing import BinaryIO

from . import _background
from ._bodies import (
    chunk_bytes,
    file_pieces,
    length_exceeded,
    length_missed,
    shrank,
    stop_stream,
    timed_out,
)
from .compression import StreamCoder, accept_encoding
from .encoder import LAST_CHUNK, encode_chunk, encode_head
from .errors import ClientDisconnect
from .framing import plan
from .headers import Headers
from .headers import request_headers as request_headers_of
from .ranges import Segment
from .responses import Response
from .trailers import trailer_section

__all__ = ["TransportWriter"]

log = logging.getLogger("respcore.writer")

_STREAM = 1
_FILE = 2
# A stream that never waits (its chunks are ready and the socket takes them) yields to the
# event loop after this many bytes, so one response cannot starve the other connections.
_YIELD_EVERY = 1 << 20
# Chunks at least this long are written as (size line, data, CRLF) without copying the data.
_GATHER_AT = 16384
_CRLF = b"\r\n"
_HAS_SENDFILE = hasattr(os, "sendfile")
_LINGER_RESET = struct.pack("ii", 1, 0)


class _ChunkTimeout(Exception):
    """The transport stayed paused for longer than ``chunk_timeout``."""


class _Deadline:
    """``complete_timeout``: when it expires the transport is aborted and the task sending
    the response is cancelled, wherever it waits (on the client, or on the stream itself)."""

    __slots__ = ("fired", "handle", "task", "transport")

    def __init__(
        self, loop: asyncio.AbstractEventLoop, seconds: float, transport: asyncio.Transport
    ) -> None:
        self.fired = False
        self.transport = transport
        self.task = asyncio.current_task(loop)
        self.handle = loop.call_later(seconds, self._fire)

    def _fire(self) -> None:
        self.fired = True
        reset(self.transport)
        if self.task is not None:
            self.task.cancel()

    def settle(self) -> None:
        """Stop the clock; undo the cancellation it requested (the caller goes on)."""
        self.handle.cancel()
        if self.fired and self.task is not None:
            # Python 3.11+: a task counts the cancellations asked of it. On 3.10 the one
            # delivered is simply gone once caught.
            cancelling = getattr(self.task, "cancelling", None)
            if cancelling is not None and cancelling():
                self.task.uncancel()  # type: ignore[attr-defined,unused-ignore]


class TransportWriter:
    """Sends responses on ``transport``, one at a time, in the order :meth:`send` is called.

    The owning protocol forwards :meth:`pause_writing`, :meth:`resume_writing` and
    :meth:`connection_lost` from its own callbacks. ``zero_copy=False`` turns ``os.sendfile``
    off (file bodies are then read off the event loop and written through the transport).
    """

    __slots__ = ("_loop", "_lost", "_paused", "_waiter", "_zero_copy", "transport")

    def __init__(self, transport: asyncio.BaseTransport, *, zero_copy: bool = True) -> None:
        # uvloop's transports are not asyncio.Transport subclasses; they have its methods.
        self.transport: asyncio.Transport = transport  # type: ignore[assignment]
        self._loop = asyncio.get_running_loop()
        self._paused = False
        self._lost = False
        self._waiter: asyncio.Future[None] | None = None
        self._zero_copy = zero_copy and _HAS_SENDFILE

    # -- what the protocol forwards -------------------------------------------------------

    def pause_writing(self) -> None:
        self._paused = True

    def resume_writing(self) -> None:
        self._paused = False
        self._wake()

    def connection_lost(self, exc: BaseException | None) -> None:
        self._lost = True
        self._paused = False
        self._wake()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    @property
    def closed(self) -> bool:
        """Whether the connection is gone (lost, or closing)."""
        return self._lost or self.transport.is_closing()

    async def _drain(self, timeout: float | None) -> None:
        """Wait until woken (the transport resumed, the socket became writable, or the
        connection was lost), at most ``timeout`` seconds."""
        waiter = self._loop.create_future()
        self._waiter = waiter
        handle = None
        if timeout:
            handle = self._loop.call_later(timeout, _time_out, waiter)
        try:
            await waiter
        finally:
            self._waiter = None
            if handle is not None:
                handle.cancel()

    # -- sending --------------------------------------------------------------------------

    def write_bytes(
        self,
        response: Response,
        method: str = "GET",
        version: str = "1.1",
        keep_alive: bool = True,
        request_headers: object = None,
    ) -> bool:
        """Send a response with a bytes body now, in one write; the result is :meth:`send`'s.
        ``request_headers`` (a ``Headers``, a mapping, or pairs of str or bytes) are read for
        Accept-Encoding only when a compression policy is in force."""
        if self._lost:
            return False
        accept = accept_encoding(request_headers) if response._compression else None
        data, persist = response._wire(method, version, keep_alive, accept)
        self.transport.write(data)
        if response._background is not None:
            _background.start(response._background)
        return persist

    async def send(
        self,
        response: Response,
        method: str = "GET",
        version: str = "1.1",
        keep_alive: bool = True,
        request_headers: object = None,
    ) -> bool:
        """Send ``response`` to a ``method`` request of HTTP/``version``; ``keep_alive`` says
        whether the request lets the connection persist; ``request_headers`` (a ``Headers``,
        a mapping or pairs) let a file body answer ranges and conditional requests, and any
        body be compressed as the request's Accept-Encoding asks (under a compression
        policy).

        Returns ``True`` when the connection may carry another response; on ``False`` the
        caller closes it (the writer has already aborted it after a timeout or a fault).

        A stream that raises, or breaks its Content-Length, raises out of here; so does a file
        that shrinks while it is sent. If the head had gone out, the connection was aborted.
        """
        if not isinstance(response, Response):
            raise TypeError(f"send() takes a respcore Response, got {type(response).__name__}")
        kind = response._kind
        if kind != _STREAM and kind != _FILE:
            return self.write_bytes(response, method, version, keep_alive, request_headers)
        if self._lost:
            return False
        if kind == _STREAM:
            accept = accept_encoding(request_headers) if response._compression else None
            persist = await self._send_stream(response, method, version, keep_alive, accept)
        else:
            headers = request_headers_of(request_headers)
            persist = await self._send_file(response, method, version, keep_alive, headers)
        if response._background is not None and not self.closed:
            # Every byte went to the transport and nothing aborted it.
            _background.start(response._background)
        return persist

    async def _send_stream(
        self, response: Response, method: str, version: str, keep_alive: bool, accept: str | None
    ) -> bool:
        status = response._status
        fields, opener = response._stream_body(accept)
        body, expected, persist, fields, _, _ = plan(
            status, fields, "stream", None, method, version, keep_alive
        )
        head = encode_head(status, fields)
        transport = self.transport
        if body == "none":
            # HEAD, 1xx, 204, 304: the stream is not iterated.
            transport.write(head)
            return persist
        chunked = body == "chunked"
        chunk_timeout = response.chunk_timeout or None
        complete = response.complete_timeout or None
        deadline = None if complete is None else _Deadline(self._loop, complete, transport)
        chunks = opener()
        finished = False  # the stream ended or raised: nothing to close
        stop_reason: BaseException | None = None
        started = False
        sent = 0
        unyielded = 0
        try:
            while True:
                try:
                    chunk = await chunks.__anext__()
                except StopAsyncIteration:
                    finished = True
                    break
                except BaseException:
                    finished = True
                    raise
                if self._lost or (deadline is not None and deadline.fired):
                    # The stream stops at the yield where the loss is seen.
                    if deadline is not None and deadline.fired:
                        stop_reason = timed_out("complete_timeout", complete)
                    else:
                        stop_reason = ClientDisconnect("the client disconnected")
                    return False
                data = chunk_bytes(chunk)
                size = len(data)
                if not size:
                    continue  # an empty chunk would end a chunked body
                sent += size
                if expected is not None and sent > expected:
                    raise length_exceeded(expected)
                if chunked and size >= _GATHER_AT:
                    pieces: tuple[bytes, ...] = (b"%x\r\n" % size, data, _CRLF)
                    transport.writelines(pieces if started else (head, *pieces))
                else:
                    frame = encode_chunk(data) if chunked else data
                    transport.write(frame if started else head + frame)
                started = True
                if self._paused:
                    unyielded = 0
                    await self._drain(chunk_timeout)
                else:
                    unyielded += size
                    if unyielded >= _YIELD_EVERY:
                        unyielded = 0
                        await asyncio.sleep(0)
            if expected is not None and sent != expected:
                raise length_missed(sent, expected)
            tail = b""
            if chunked:
                trailers = response._trailers
                if trailers is None:
                    tail = LAST_CHUNK
                else:
                    tail = trailer_section(trailers, response.headers.getall("trailer", []))
            if not started:
                transport.write(head + tail)
            elif tail:
                transport.write(tail)
            return persist
        except _ChunkTimeout:
            stop_reason = timed_out("chunk_timeout", chunk_timeout)
            reset(transport)
            return False
        except (Exception, asyncio.CancelledError):
            if deadline is not None and deadline.fired:
                # complete_timeout: the cancellation (or what the stream made of it) is ours.
                stop_reason = timed_out("complete_timeout", complete)
                return False
            if started:
                reset(transport)
            raise
        finally:
            if deadline is not None:
                deadline.settle()
            if not finished:
                await stop_stream(chunks, stop_reason if response.raise_on_disconnect else None)

    async def _send_file(
        self,
        response: Response,
        method: str,
        version: str,
        keep_alive: bool,
        request_headers: Headers | None,
    ) -> bool:
        source = response._file
        assert source is not None
        loop = self._loop
        accept = response._file_accept(request_headers)
        path, precoded = source.path, None
        if source.precompressed:
            path, precoded = await loop.run_in_executor(None, response._file_source, accept)
        file: BinaryIO = await loop.run_in_executor(None, open, path, "rb")
        try:
            st = os.fstat(file.fileno())
            if not stat.S_ISREG(st.st_mode):
                raise ValueError(f"file: {path!r} is no longer a regular file")
            chosen, coder = response._file_selection(st, method, request_headers, accept, precoded)
            status = chosen.status
            if coder is None:
                body, _, persist, fields, _, _ = plan(
                    status, chosen.fields, "file", chosen.length, method, version, keep_alive
                )
            else:
                # Compressed on the way: the length is known at the end only.
                coded = [*chosen.fields, ("Transfer-Encoding", "chunked")]
                body, _, persist, fields, _, _ = plan(
                    status, coded, "stream", None, method, version, keep_alive
                )
            transport = self.transport
            head = encode_head(status, fields)
            if body == "none":
                transport.write(head)
                return persist
            segments = chosen.segments
            complete = response.complete_timeout or None
            chunk_timeout = response.chunk_timeout or None
            deadline = None if complete is None else _Deadline(loop, complete, transport)
            try:
                transport.write(head)
                if coder is not None:
                    done = await self._copy_coded(
                        file,
                        chosen.length,
                        coder,
                        body == "chunked",
                        source.chunk_size,
                        chunk_timeout,
                    )
                elif (
                    body == "length"
                    and len(segments) == 1
                    and not isinstance(segments[0], bytes)
                    and self._can_sendfile()
                ):
                    offset, count = segments[0]
                    done = await self._sendfile(file, offset, count, chunk_timeout)
                else:
                    done = await self._copy(
                        file, segments, body == "chunked", source.chunk_size, chunk_timeout
                    )
            except _ChunkTimeout:
                reset(transport)
                return False
            except asyncio.CancelledError:
                if deadline is not None and deadline.fired:
                    return False
                raise
            finally:
                if deadline is not None:
                    deadline.settle()
            return done and persist  # plan never lets a close-delimited body persist
        finally:
            file.close()

    async def _copy_coded(
        self,
        file: BinaryIO,
        size: int,
        coder: StreamCoder,
        chunked: bool,
        chunk_size: int,
        chunk_timeout: float | None,
    ) -> bool:
        """The whole file compressed by ``coder`` on the way, each ``chunk_size`` piece read
        and coded off the event loop."""
        loop = self._loop
        transport = self.transport
        fd = file.fileno()

        def step(offset: int, count: int) -> tuple[int, bytes]:
            data = os.pread(fd, count, offset)
            return len(data), coder.feed(data) if len(data) == count else b""

        offset = 0
        while offset < size:
            if self._lost:
                return False
            count = min(chunk_size, size - offset)
            read, coded = await loop.run_in_executor(None, step, offset, count)
            if read < count:
                raise self._shrank(file, offset + read)
            offset += read
            if coded:
                transport.write(encode_chunk(coded) if chunked else coded)
                if self._paused:
                    await self._drain(chunk_timeout)
        if self._lost:
            return False
        tail = coder.finish()
        if chunked:
            transport.write(encode_chunk(tail) + LAST_CHUNK if tail else LAST_CHUNK)
        elif tail:
            transport.write(tail)
        return True

    def _can_sendfile(self) -> bool:
        transport = self.transport
        return (
            self._zero_copy
            and transport.get_extra_info("sslcontext") is None
            and transport.get_extra_info("socket") is not None
            and transport.get_write_buffer_size() == 0
        )

    def _shrank(self, file: BinaryIO, offset: int) -> RuntimeError:
        """Abort the connection: the file ended at ``offset``, short of its head's promise."""
        reset(self.transport)
        return shrank(file.name, offset)

    async def _sendfile(
        self, file: BinaryIO, offset: int, count: int, chunk_timeout: float | None
    ) -> bool:
        """Zero-copy: ``os.sendfile`` from the file to the transport's socket, whose write
        buffer is empty, waiting for writability on the event loop. The watcher is on a
        duplicate of the socket's descriptor (the loop refuses watchers on a transport's
        own) and stays registered for the whole body: it only fires while the writer waits."""
        loop = self._loop
        sock = self.transport.get_extra_info("socket")
        out = os.dup(sock.fileno())
        source = file.fileno()
        loop.add_writer(out, self._wake)
        try:
            while count:
                if self._lost:
                    return False
                try:
                    sent = os.sendfile(out, source, offset, count)
                except BlockingIOError:
                    await self._drain(chunk_timeout)
                    continue
                except OSError as exc:
                    log.debug("sendfile ended: %s", exc)
                    reset(self.transport)
                    return False
                if sent == 0:
                    raise self._shrank(file, offset)
                offset += sent
                count -= sent
            return True
        finally:
            loop.remove_writer(out)
            os.close(out)

    async def _copy(
        self,
        file: BinaryIO,
        segments: list[Segment],
        chunked: bool,
        chunk_size: int,
        chunk_timeout: float | None,
    ) -> bool:
        """The body's segments written through the transport, file spans read off the event
        loop in ``chunk_size`` pieces (chunk-coded when ``chunked``)."""
        loop = self._loop
        transport = self.transport
        fd = file.fileno()
        for piece in file_pieces(segments, chunk_size):
            if self._lost:
                return False
            if isinstance(piece, bytes):
                data = piece
            else:
                offset, size = piece
                data = await loop.run_in_executor(None, os.pread, fd, size, offset)
                if len(data) < size:
                    raise self._shrank(file, offset + len(data))
            transport.write(encode_chunk(data) if chunked else data)
            if self._paused:
                await self._drain(chunk_timeout)
        if self._lost:
            return False
        if chunked:
            transport.write(LAST_CHUNK)
        return True


def reset(transport: asyncio.BaseTransport) -> None:
    """Abort the connection with a TCP reset, not a FIN: a FIN can read as the normal end of
    a close-delimited body, a reset never does (SO_LINGER with a zero timeout)."""
    sock = transport.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_RESET)
    transport.abort()  # type: ignore[attr-defined]


def _time_out(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_exception(_ChunkTimeout())
