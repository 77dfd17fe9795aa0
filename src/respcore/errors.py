"""Exceptions a sending path raises, or throws into a stream, for the application to see."""

from __future__ import annotations

__all__ = ["ClientDisconnect", "ResponseTimeout"]


class ClientDisconnect(Exception):
    """The client went away while a stream was being sent.

    Thrown into a stream made with ``raise_on_disconnect=True`` at the yield where the
    disconnect was seen, so the generator can tell an unfinished response from a finished one.
    """


class ResponseTimeout(TimeoutError):
    """The client did not take a chunk within ``chunk_timeout`` seconds, or the whole body
    within ``complete_timeout`` seconds. The stream has been closed when this is raised."""
