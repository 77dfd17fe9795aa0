"""Background work: a no-argument callable, sync or async, run after a response's last byte
went to the transport (``Response(..., background=fn)``, ``res.background = fn``).

It is never run after an abort, and whatever it raises is logged, never sent: the response is
already on the wire. A sync callable runs in the loop's default executor, so it cannot stall
the other connections; an async one runs on the loop.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Union

__all__ = ["Background", "check_background", "run", "start"]

log = logging.getLogger("respcore.background")

Background = Callable[[], Union[Awaitable[Any], Any]]

# Tasks started by start(): held here so they are not collected while they run.
_TASKS: set[asyncio.Task[None]] = set()


def check_background(fn: object) -> Background | None:
    """``fn`` when it is ``None`` or callable; ``TypeError`` naming the field otherwise."""
    if fn is None or callable(fn):
        return fn
    raise TypeError(f"background must be a no-argument callable or None, got {fn!r}")


async def run(fn: Background) -> None:
    """Run ``fn`` to its end; an exception it raises is logged, not raised."""
    try:
        if inspect.iscoroutinefunction(fn):
            await fn()
            return
        loop = asyncio.get_running_loop()
        result = await loop.run_in_executor(None, fn)
        if inspect.isawaitable(result):
            # A plain callable that returned an awaitable (a functools.partial of a coroutine
            # function, say): the work is that awaitable.
            await result
    except Exception:
        log.exception("background work %r raised", fn)


def start(fn: Background) -> None:
    """Start ``fn`` in a task of its own on the running loop and return at once: for senders
    that go on with the next response (the server, the transport writer)."""
    task = asyncio.get_running_loop().create_task(run(fn))
    _TASKS.add(task)
    task.add_done_callback(_TASKS.discard)
