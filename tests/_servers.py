"""A real uvicorn (uvloop event loop, httptools parser) on 127.0.0.1, in a thread of the test
process, so tests can hand it apps and watch what those apps did through threading events."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import threading
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Any

import uvicorn
import uvloop

Scope = dict[str, Any]
ASGIApp = Callable[[Scope, Any, Any], Awaitable[None]]

START_TIMEOUT = 10.0


class _Server(uvicorn.Server):
    """uvicorn's server, telling the test thread when it accepts connections."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.ready = threading.Event()

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        self.ready.set()


@contextmanager
def serve(app: ASGIApp) -> Iterator[str]:
    """Run ``app`` under uvicorn on 127.0.0.1 (a free port); yield its base URL; stop it."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        app,
        http="httptools",
        lifespan="off",
        access_log=False,
        log_level="critical",
        timeout_graceful_shutdown=1,
    )
    server = _Server(config)
    failure: list[BaseException] = []

    def run() -> None:
        try:
            with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
                runner.run(server.serve(sockets=[sock]))
        except BaseException as exc:  # reported to the test thread
            failure.append(exc)
            server.ready.set()

    thread = threading.Thread(target=run, name="uvicorn", daemon=True)
    thread.start()
    try:
        if not server.ready.wait(START_TIMEOUT) or failure:
            raise RuntimeError(f"uvicorn did not start: {failure!r}")
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(START_TIMEOUT)
        sock.close()


class Routes:
    """An ASGI app that dispatches on the path to handlers a test registers; a handler gets
    ``(scope, receive, send)`` or returns an ASGI app (a respcore response) to call."""

    def __init__(self) -> None:
        self.handlers: dict[str, Callable[[Scope], Any]] = {}

    def add(self, path: str, handler: Callable[[Scope], Any]) -> None:
        self.handlers[path] = handler

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        handler = self.handlers[scope["path"]]
        app = handler(scope)
        if asyncio.iscoroutine(app):
            app = await app
        await app(scope, receive, send)


def curl(*args: str, timeout: float = 10.0) -> subprocess.CompletedProcess[bytes]:
    """Run curl with ``args`` (silent, failing on errors) and return the finished process."""
    return subprocess.run(
        ["curl", "--silent", "--show-error", "--max-time", str(timeout), *args],
        capture_output=True,
        timeout=timeout + 5,
        check=False,
    )
