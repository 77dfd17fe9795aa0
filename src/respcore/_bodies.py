"""What every sending path (the transport writer, the ASGI path) does to a stream or file body
in the same way: turn chunks into bytes, stop a stream, cut file spans into reads, and name
what went wrong in one set of words."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

from .errors import ResponseTimeout
from .ranges import Segment

__all__ = [
    "as_bytes",
    "chunk_bytes",
    "file_pieces",
    "length_exceeded",
    "length_missed",
    "shrank",
    "stop_stream",
    "timed_out",
]


def as_bytes(value: object) -> bytes | None:
    """Body bytes from bytes, bytearray, memoryview or str (UTF-8); ``None`` for any other
    type, so each caller can name what was wrong in its own words."""
    if type(value) is bytes:
        return value
    if isinstance(value, str):
        return value.encode("utf-8")
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    return None


def chunk_bytes(chunk: object) -> bytes:
    """A stream's chunk as bytes; ``TypeError`` naming it when it is neither str nor bytes."""
    data = as_bytes(chunk)
    if data is None:
        raise TypeError(
            f"stream yielded {type(chunk).__name__} {chunk!r}; a stream must yield str or bytes"
        )
    return data


async def stop_stream(chunks: AsyncIterator[Any], reason: BaseException | None = None) -> None:
    """Close a stream at the yield where it is suspended (its ``finally`` blocks run); with a
    ``reason`` (``ClientDisconnect``, ``ResponseTimeout``), throw that in there instead."""
    if reason is not None:
        athrow = getattr(chunks, "athrow", None)
        if athrow is not None:
            try:
                await athrow(reason)
            except (StopAsyncIteration, type(reason)):
                return
            # It caught the exception and yielded again: nobody is left to send to.
    aclose = getattr(chunks, "aclose", None)
    if aclose is not None:
        await aclose()


def timed_out(which: str, seconds: float | None) -> ResponseTimeout:
    """The timeout ``which`` (``"chunk_timeout"`` or ``"complete_timeout"``) expired."""
    if which == "chunk_timeout":
        return ResponseTimeout(f"chunk_timeout: the client took no chunk for {seconds} s")
    return ResponseTimeout(f"complete_timeout: the response took longer than {seconds} s")


def length_exceeded(expected: int) -> RuntimeError:
    return RuntimeError(f"Content-Length: the stream yielded more than the {expected} bytes set")


def length_missed(sent: int, expected: int) -> RuntimeError:
    return RuntimeError(f"Content-Length: the stream yielded {sent} bytes, not the {expected} set")


def shrank(name: object, offset: int) -> RuntimeError:
    """The file ended at ``offset``, before the bytes its head announced."""
    return RuntimeError(
        f"file: {name!r} shrank while it was sent; the bytes from {offset} on are missing"
    )


def file_pieces(segments: list[Segment], chunk_size: int) -> Iterator[bytes | tuple[int, int]]:
    """A file body's segments in order, its spans cut into ``(offset, size)`` reads of at
    most ``chunk_size`` bytes."""
    for segment in segments:
        if isinstance(segment, bytes):
            yield segment
            continue
        offset, count = segment
        end = offset + count
        while offset < end:
            size = min(chunk_size, end - offset)
            yield offset, size
            offset += size
