"""The ``Date`` header value (RFC 9110 §6.6.1), formatted once a second and cached."""

from __future__ import annotations

import time

__all__ = ["clock", "format_http_date", "http_date"]

_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def format_http_date(timestamp: float) -> str:
    """``timestamp`` (seconds since the epoch) as an IMF-fixdate, the preferred HTTP date
    format (RFC 9110 §5.6.7): ``Sun, 06 Nov 1994 08:49:37 GMT``."""
    t = time.gmtime(timestamp)
    return (
        f"{_DAYS[t.tm_wday]}, {t.tm_mday:02d} {_MONTHS[t.tm_mon - 1]} {t.tm_year:04d} "
        f"{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d} GMT"
    )


class _Clock:
    """The text of the current second, and when it expires: a response asks for the date many
    times a second, the text changes once a second."""

    __slots__ = ("expires", "text")

    def __init__(self) -> None:
        self.expires = 0.0
        self.text = ""

    def refresh(self, now: float) -> None:
        second = int(now)
        self.text = format_http_date(second)
        self.expires = second + 1.0


clock = _Clock()
_time = time.time


def http_date() -> str:
    """The current time as an IMF-fixdate, recomputed at most once a second."""
    now = _time()
    if now >= clock.expires:
        clock.refresh(now)
    return clock.text
