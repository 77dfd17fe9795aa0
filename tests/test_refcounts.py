"""Reference counting in the compiled core: 100,000 calls of each entry point, on inputs it
accepts and on inputs it refuses, leave the inputs' reference counts and the number of live
objects as they were. A missing DECREF shows as growth; a stray one as a count that falls
(and, sooner or later, a crash)."""

from __future__ import annotations

import gc
import sys
from collections.abc import Callable
from typing import Any

import pytest

compiled = pytest.importorskip("respcore._encoder", reason="the compiled core is not built")

from respcore.headers import Headers  # noqa: E402

CALLS = 100_000

HEADERS = Headers([("Content-Type", "text/plain"), ("X-Id", "7")])
GOOD_PAIRS = [("Content-Type", "text/plain"), (b"X-Bytes", b"v"), ("Content-Length", 12)]
BAD_PAIRS = [("Content-Type", "text/plain"), ("X-Bad", "a\r\nb")]

CASES: list[tuple[str, Callable[..., Any], tuple[Any, ...], type[Exception] | None]] = [
    ("status line", compiled.encode_status_line, (404, "1.1"), None),
    ("status line, bad", compiled.encode_status_line, (1000, "1.1"), ValueError),
    ("head from pairs", compiled.encode_head, (200, GOOD_PAIRS), None),
    ("head from pairs, bad", compiled.encode_head, (200, BAD_PAIRS), ValueError),
    ("head from a mapping", compiled.encode_head, (200, {"A": "1", "B": b"2"}), None),
    ("head from a mapping, bad", compiled.encode_head, (200, {"A\n": "1"}), ValueError),
    ("head from Headers", compiled.encode_head, (201, HEADERS), None),
    ("head, bad type", compiled.encode_head, (200, 5), TypeError),
    ("field check", compiled.check_field, ("X-A", " padded "), None),
    ("field check, bad", compiled.check_field, ("X-A", "\x00"), ValueError),
    ("chunk from bytes", compiled.encode_chunk, (b"x" * 100,), None),
    ("chunk from str", compiled.encode_chunk, ("héllo",), None),
    ("chunk from memoryview", compiled.encode_chunk, (memoryview(b"abcdef")[::2],), None),
    ("chunk, bad type", compiled.encode_chunk, (12,), TypeError),
    ("disposition", compiled.content_disposition, ("résumé.pdf", "inline"), None),
    ("disposition, bad", compiled.content_disposition, ("a.txt", "not a token"), ValueError),
    ("event", compiled.encode_event, ("one\ntwo", "e", "1", 10, "c"), None),
    ("event, bad", compiled.encode_event, ("x", "a\nb", None, None, None), ValueError),
    ("event, surrogate", compiled.encode_event, ("\ud800", None, None, None, None), ValueError),
]


def _call(fn: Callable[..., Any], args: tuple[Any, ...], error: type[Exception] | None) -> None:
    if error is None:
        for _ in range(CALLS):
            fn(*args)
        return
    for _ in range(CALLS):
        try:
            fn(*args)
        except error:
            pass
        else:  # pragma: no cover - the case is wrong
            raise AssertionError(f"{fn.__name__}{args!r} did not raise {error.__name__}")


def _live_objects() -> int:
    # Collected until the count settles: what the test run left behind goes first.
    count = -1
    for _ in range(5):
        gc.collect()
        previous, count = count, len(gc.get_objects())
        if count == previous:
            break
    return count


@pytest.mark.parametrize(("fn", "args", "error"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_calls_leave_refcounts_and_live_objects_unchanged(
    fn: Callable[..., Any], args: tuple[Any, ...], error: type[Exception] | None
) -> None:
    _call(fn, args, error)  # warm up: caches fill, interned strings settle
    before = [sys.getrefcount(arg) for arg in args]
    objects = _live_objects()
    blocks = sys.getallocatedblocks()
    _call(fn, args, error)
    assert [sys.getrefcount(arg) for arg in args] == before
    assert _live_objects() == objects
    # A leak of untracked objects (bytes, str) shows in the allocator, not the gc: 100,000
    # leaked results would be 100,000 blocks.
    assert sys.getallocatedblocks() - blocks < 100
