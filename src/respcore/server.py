"""A small HTTP/1.1 server: uvloop, httptools request parsing, a :class:`TransportWriter` per
connection. It runs the demo and the benchmarks, and serves ``async def app(req, res)``.

``app`` mutates ``res`` (a :class:`respcore.Response`) or returns a response to send instead.
Requests on a connection are answered one at a time, in the order they arrived (pipelining).
An app that finishes without waiting on anything is run to completion inside the read
callback, without a task; one that waits goes on in a task from where it stopped.

The per-request path (parser callbacks, the request, the app call, the write of a bytes
response) is ``respcore.protocol.Core``, compiled or its twin; the connection class here adds
what waits or is rare. ``serve(app, workers=N)`` runs N such servers in worker processes on
one port under a supervisor (:class:`_Supervisor`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import logging.handlers
import os
import queue
import signal
import socket
import sys
import time
from collections.abc import Callable, Coroutine, Generator
from typing import Any, Union

from .protocol import SERVER_ERROR, TOO_LARGE_BODY, Core, Refusal, Request
from .responses import Response
from .writer import TransportWriter, reset

__all__ = ["App", "Request", "Server", "serve", "start_server"]

log = logging.getLogger("respcore.server")
access_log = logging.getLogger("respcore.access")

App = Callable[[Request, Response], Coroutine[Any, Any, Union[Response, None]]]

_BYTES = 0
_FILE = 2


class _Resume:
    """Awaiting this goes on with a coroutine that was started outside a task and stopped at
    ``signal`` (the future it waits on): the task that awaits it drives the coroutine from
    there, exactly as if it had run it from the start."""

    __slots__ = ("coro", "signal")

    def __init__(self, coro: Coroutine[Any, Any, Any], signal: Any) -> None:
        self.coro = coro
        self.signal = signal

    def __await__(self) -> Generator[Any, Any, Any]:
        coro = self.coro
        signal = self.signal
        while True:
            try:
                value = yield signal
            except BaseException as exc:
                try:
                    signal = coro.throw(exc)
                except StopIteration as stop:
                    return stop.value
            else:
                try:
                    signal = coro.send(value)
                except StopIteration as stop:
                    return stop.value


_CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"


class _Connection(Core, asyncio.Protocol):
    """One client connection: :class:`respcore.protocol.Core` reads requests and answers
    those with bytes bodies; what needs waiting (streams, files, apps that await) and what is
    rare (refusals, 100-continue, closing) is here."""

    __slots__ = ()

    # -- transport callbacks --------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses; they have its methods.
        # Both loops turn Nagle's algorithm off on TCP transports.
        self.transport = transport  # type: ignore[assignment]
        self.writer = TransportWriter(transport, zero_copy=self.server.zero_copy)
        server = self.server
        if len(server.connections) >= server.max_connections:
            # Past the cap: closed at once (a flood cannot use up file descriptors), and
            # counted for the next sweep's log line.
            server.refused += 1
            self._closing = True
            self.lost = True
            transport.abort()  # type: ignore[attr-defined]
            return
        server.connections.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self._closing = True
        self.lost = True
        self._queue.clear()
        self.writer.connection_lost(exc)
        self.server.connections.discard(self)

    def pause_writing(self) -> None:
        self.writer.pause_writing()

    def resume_writing(self) -> None:
        self.writer.resume_writing()

    def _refuse(self, response: Response | None) -> None:
        """Read no more; answer ``response`` after the requests before it, then close.
        ``None``: the last request asked for a protocol switch; nothing more is answered."""
        self._closing = True
        if self._reading:
            self._reading = False
            self.transport.pause_reading()
        if response is None:
            # After an Upgrade or CONNECT request, answered (or being answered) already.
            if not self._busy:
                self._close()
            return
        if self._busy:
            self._queue.append(Refusal(response))
        else:
            self._write_refusal(response)

    def _write_refusal(self, response: Response) -> None:
        self.writer.write_bytes(response, "GET", "1.1", False)
        self._close()

    def _expected(self) -> None:
        """``Expect: 100-continue`` (RFC 9110 §10.1.1): the client may wait for a 100 before
        it sends the body. A body announced over the limit gets the final 413 at once; else
        the 100 goes out now, or once the responses ahead of this request are sent."""
        if self.parser.get_http_version() != "1.1":
            return
        limit = self.max_body_size
        for name, value in self._fields:
            declared = value.strip()
            if name.lower() == b"content-length" and declared.isdigit() and int(declared) > limit:
                self._refusal = TOO_LARGE_BODY
                return
        if self._busy:
            self._owe_continue = True
        else:
            self.transport.write(_CONTINUE)

    # -- answering what needs waiting -----------------------------------------------------

    async def _finish(
        self, request: Request, res: Response, coro: Coroutine[Any, Any, Any], signal: Any
    ) -> None:
        try:
            result = await _Resume(coro, signal)
        except Exception:
            log.exception("app raised for %r", request)
            result = SERVER_ERROR
        await self._send(request, res if result is None else self._chosen(request, result))

    async def _send(self, request: Request, response: Response) -> None:
        writer = self.writer
        try:
            persist = await writer.send(
                response,
                request.method,
                request.version,
                request.keep_alive,
                # A file answers ranges and conditionals from the request's headers; a stream
                # reads only Accept-Encoding, and only under a compression policy.
                request.headers if response._kind == _FILE else request._fields,
            )
        except Exception:
            if self.lost or self.transport.is_closing():
                log.exception("sending the response to %r failed; connection aborted", request)
                persist = False
            else:
                # Nothing went out: the fault is answered with a 500.
                log.exception("the response to %r failed before its head was sent", request)
                persist = writer.write_bytes(SERVER_ERROR, request.method, request.version, False)
        else:
            if self.access_log:
                size = len(response._body) if response._kind == _BYTES else None
                self._log_access(request, response._status, size)
        self._busy = False
        if not persist:
            self._close()
            return
        self.seen = self.server.tick
        queue = self._queue
        while queue and not self._busy and not self.lost:
            item = queue.popleft()
            if type(item) is Refusal:
                self._write_refusal(item.response)
                return
            self._answer(item)  # type: ignore[arg-type]
        if self._busy or self.lost:
            return
        if self._closing:
            # After an Upgrade request, or a refusal already written: nothing more is read.
            self._close()
            return
        if self._owe_continue:
            self._owe_continue = False
            self.transport.write(_CONTINUE)
        if not self._reading:
            self._reading = True
            self.transport.resume_reading()

    def _log_access(self, request: Request, status: int, size: int | None) -> None:
        """One line in the common log format on the ``respcore.access`` logger (a queue
        handler: the line is written on a thread of its own, never on the loop)."""
        if size is not None and request.method == "HEAD":
            size = 0
        peer = self.transport.get_extra_info("peername")
        host = peer[0] if isinstance(peer, tuple) and peer else "-"
        access_log.info(
            '%s - - [%s] "%s %s HTTP/%s" %d %s',
            host,
            _clf_time(),
            request.method,
            request.url.decode("latin-1"),
            request.version,
            status,
            "-" if size is None else size,
        )

    def _close(self) -> None:
        self._closing = True
        self._queue.clear()
        self.transport.close()

    def close_if_idle(self) -> bool:
        """Close the connection unless a response is in progress; ``True`` if closed."""
        if self._busy or self._queue:
            return False
        self._close()
        return True


_clf_cache: list[Any] = [0, ""]


def _clf_time() -> str:
    """Now, as the common log format writes it (``03/Dec/2026:07:26:04 +0000``), made once
    a second."""
    now = int(time.time())
    if _clf_cache[0] != now:
        _clf_cache[0] = now
        _clf_cache[1] = time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now))
    return str(_clf_cache[1])


class _AccessLog:
    """The ``respcore.access`` logger's lines go through a queue to a thread that writes
    them to stderr, so a slow terminal or pipe never stalls the event loop. When the logger
    has handlers of the user's already, those are left as they are."""

    def __init__(self, handler: logging.handlers.QueueHandler | None) -> None:
        self.handler = handler
        self.listener: logging.handlers.QueueListener | None = None

    @classmethod
    def start(cls) -> _AccessLog:
        if access_log.handlers:
            return cls(None)
        lines: queue.SimpleQueue[logging.LogRecord] = queue.SimpleQueue()
        output = logging.StreamHandler(sys.stderr)
        output.setFormatter(logging.Formatter("%(message)s"))
        handler = logging.handlers.QueueHandler(lines)
        access = cls(handler)
        access.listener = logging.handlers.QueueListener(lines, output)
        access.listener.start()
        access_log.addHandler(handler)
        access_log.setLevel(logging.INFO)
        access_log.propagate = False
        return access

    def stop(self) -> None:
        if self.handler is not None:
            access_log.removeHandler(self.handler)
        if self.listener is not None:
            self.listener.stop()  # writes what is queued, then ends the thread


class Server:
    """A listening server (see :func:`start_server`). ``port`` is the port it listens on."""

    # What each accepted connection is (a subclass may name another built the same way).
    connection_class: type[_Connection] = _Connection

    def __init__(
        self,
        app: App,
        *,
        max_head_size: int = 65536,
        max_body_size: int = 16 * 1024 * 1024,
        keep_alive_timeout: float = 5.0,
        head_timeout: float = 10.0,
        body_timeout: float = 30.0,
        max_connections: int = 10_000,
        zero_copy: bool = True,
        access_log: bool = False,
    ) -> None:
        if not callable(app):
            raise TypeError(f"app must be an async function app(req, res), got {app!r}")
        for name, value in (
            ("max_head_size", max_head_size),
            ("max_body_size", max_body_size),
            ("max_connections", max_connections),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive int, got {value!r}")
        for name, seconds in (
            ("keep_alive_timeout", keep_alive_timeout),
            ("head_timeout", head_timeout),
            ("body_timeout", body_timeout),
        ):
            if (
                isinstance(seconds, bool)
                or not isinstance(seconds, (int, float))
                or not 0 < seconds < float("inf")
            ):
                raise ValueError(f"{name} must be seconds > 0, got {seconds!r}")
        if not isinstance(access_log, bool):
            raise TypeError(f"access_log must be True or False, got {access_log!r}")
        self.app = app
        self.access_log = access_log
        self._access: _AccessLog | None = None
        self.max_head_size = max_head_size
        self.max_body_size = max_body_size
        self.keep_alive_timeout = float(keep_alive_timeout)
        self.head_timeout = float(head_timeout)
        self.body_timeout = float(body_timeout)
        self.max_connections = max_connections
        # Connections closed at once for being past max_connections, since the last sweep.
        self.refused = 0
        self.zero_copy = zero_copy
        self.connections: set[_Connection] = set()
        # The sweep's clock, in ticks: a connection notes the tick of its last read.
        self.tick = 0
        self.tasks: set[asyncio.Task[None]] = set()
        self._sweep_every = min(
            1.0, self.keep_alive_timeout / 4, self.head_timeout / 4, self.body_timeout / 4
        )
        self._sweeper: asyncio.TimerHandle | None = None
        self._listener: asyncio.base_events.Server | None = None
        self.host = ""
        self.port = 0

    def spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def listen(self, host: str, port: int, sock: socket.socket | None = None) -> None:
        """Listen on ``host``:``port``, or on ``sock``, a socket bound already (a worker's)."""
        loop = asyncio.get_running_loop()
        if sock is None:
            listener = await loop.create_server(
                lambda: self.connection_class(self), host, port, backlog=2048, reuse_address=True
            )
        else:
            listener = await loop.create_server(
                lambda: self.connection_class(self), sock=sock, backlog=2048
            )
        if self.access_log:
            self._access = _AccessLog.start()
        self._listener = listener
        self.host, self.port = listener.sockets[0].getsockname()[:2]
        self._sweeper = loop.call_later(self._sweep_every, self._sweep)

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def _sweep(self) -> None:
        """Close connections that read nothing for ``keep_alive_timeout`` while no response
        was in progress (idle keep-alive connections, and heads that never finish), and those
        whose request head has taken longer than ``head_timeout`` or whose request body has
        taken longer than ``body_timeout`` (one trickled slowly)."""
        self.tick += 1
        limit = self.tick - max(1, round(self.keep_alive_timeout / self._sweep_every))
        head_limit = self.tick - max(1, round(self.head_timeout / self._sweep_every))
        body_limit = self.tick - max(1, round(self.body_timeout / self._sweep_every))
        for connection in list(self.connections):
            if (
                connection.seen <= limit
                or 0 <= connection._head_since <= head_limit
                or 0 <= connection._body_since <= body_limit
            ):
                connection.close_if_idle()
        if self.refused:
            log.warning(
                "closed %d new connection(s) at once: %d open, max_connections=%d",
                self.refused,
                len(self.connections),
                self.max_connections,
            )
            self.refused = 0
        self._sweeper = asyncio.get_running_loop().call_later(self._sweep_every, self._sweep)

    async def shutdown(self, grace: float = 10.0) -> None:
        """Stop listening, close idle connections, give responses in flight ``grace``
        seconds to finish, then close what is left."""
        if self._listener is not None:
            self._listener.close()
        if self._sweeper is not None:
            self._sweeper.cancel()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + grace
        while True:
            busy = [c for c in list(self.connections) if not c.close_if_idle()]
            if not busy or loop.time() >= deadline:
                break
            await asyncio.sleep(0.05)
        for connection in list(self.connections):
            # A reset: a response cut here must not read as complete.
            reset(connection.transport)
        for task in list(self.tasks):
            task.cancel()
        if self.tasks:
            await asyncio.wait(list(self.tasks), timeout=1.0)
        if self._listener is not None:
            await self._listener.wait_closed()
        if self._access is not None:
            self._access.stop()
            self._access = None


async def start_server(
    app: App, host: str = "127.0.0.1", port: int = 8000, **options: Any
) -> Server:
    """Start serving ``app`` on the running loop; return the :class:`Server` (``port=0``
    picks a free port: read ``server.port``). Options: ``max_head_size`` (bytes of request
    head, default 64 KiB, larger → 431), ``max_body_size`` (default 16 MiB, larger → 413),
    ``keep_alive_timeout`` (seconds an idle connection is kept, default 5), ``head_timeout``
    (seconds a request head may take from its first byte, default 10; then the connection
    closes), ``body_timeout`` (seconds a request body may take once its head is read, default
    30; then the connection closes), ``max_connections`` (open connections at most, default
    10,000; past it a new connection is closed at once and counted in the log),
    ``zero_copy``, ``access_log`` (one common-log-format line per request on the
    ``respcore.access`` logger, written off the loop; default off)."""
    server = Server(app, **options)
    await server.listen(host, port)
    return server


def _new_loop() -> asyncio.AbstractEventLoop:
    try:
        import uvloop
    except ImportError:  # pragma: no cover - platforms without uvloop
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


def _check_workers(workers: object) -> int:
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ValueError(f"workers must be a positive int, got {workers!r}")
    return workers


def serve(
    app: App, host: str = "127.0.0.1", port: int = 8000, *, workers: int = 1, **options: Any
) -> None:
    """Serve ``app`` on uvloop until SIGINT or SIGTERM, then shut down cleanly (see
    :meth:`Server.shutdown`). Logs the address it listens on.

    ``workers=N`` (N > 1, POSIX): N worker processes serve on one port, each with its own
    event loop; this process supervises them: a worker that dies is replaced, and SIGTERM
    or SIGINT stops every worker gracefully. Other options are :func:`start_server`'s."""
    workers = _check_workers(workers)
    Server(app, **options)  # a bad option raises here, before anything listens
    if workers == 1:
        _run(app, host, port, options, None, announce=True)
    else:
        _Supervisor(app, host, port, workers, options).run()


def _run(
    app: App,
    host: str,
    port: int,
    options: dict[str, Any],
    sock: socket.socket | None,
    *,
    announce: bool,
) -> None:
    loop = _new_loop()
    asyncio.set_event_loop(loop)
    try:
        loop.run_until_complete(_serve(app, host, port, options, sock, announce))
    finally:
        loop.run_until_complete(loop.shutdown_asyncgens())
        asyncio.set_event_loop(None)
        loop.close()


async def _serve(
    app: App,
    host: str,
    port: int,
    options: dict[str, Any],
    sock: socket.socket | None = None,
    announce: bool = True,
) -> None:
    loop = asyncio.get_running_loop()
    server = Server(app, **options)
    await server.listen(host, port, sock)
    stop = asyncio.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(signum, stop.set)
    if announce:
        log.info("respcore serving on %s (press Ctrl+C to stop)", server.url)
    else:
        log.info("respcore worker %d started", os.getpid())
    sys.stderr.flush()
    try:
        await stop.wait()
    finally:
        if announce:
            log.info("respcore shutting down")
        else:
            log.info("respcore worker %d stopping", os.getpid())
        await server.shutdown()


# -- workers -----------------------------------------------------------------------------------

# SO_REUSEPORT: each worker listens on a socket of its own and the kernel spreads new
# connections over them. Where the platform lacks it (or does not balance with it), the
# workers share the supervisor's listening socket.
_REUSE_PORT = hasattr(socket, "SO_REUSEPORT") and sys.platform.startswith("linux")
_SIGNALS = {signal.SIGCHLD, signal.SIGINT, signal.SIGTERM} if os.name == "posix" else set()
_QUICK_DEATH = 1.0  # seconds: a worker that dies sooner is restarted after this long
_STOP_GRACE = 15.0  # seconds workers get to stop (their shutdown grace is 10) before SIGKILL


class _Supervisor:
    """Binds the port, forks ``workers`` processes that serve on it, replaces one that dies,
    and on SIGTERM or SIGINT passes SIGTERM on and waits for all of them."""

    def __init__(
        self, app: App, host: str, port: int, workers: int, options: dict[str, Any]
    ) -> None:
        if not hasattr(os, "fork"):
            raise RuntimeError("workers > 1 needs os.fork (POSIX); serve with workers=1")
        self.app = app
        self.workers = workers
        self.options = options
        self.host = host
        family, _, _, _, address = socket.getaddrinfo(
            host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
        self.family = family
        self.sock = self._socket(family)
        try:
            self.sock.bind(address)
            if not _REUSE_PORT:
                self.sock.listen(2048)
        except BaseException:
            self.sock.close()
            raise
        # With SO_REUSEPORT this socket only holds the port (it never listens, so it is
        # handed no connections); the workers listen on sockets bound to the same address.
        self.address = self.sock.getsockname()
        self.pids: dict[int, float] = {}  # worker pid -> when it started

    def _socket(self, family: int) -> socket.socket:
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if _REUSE_PORT:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        return sock

    @property
    def url(self) -> str:
        host, port = self.address[:2]
        host = f"[{host}]" if ":" in host else host
        return f"http://{host}:{port}"

    def run(self) -> None:
        signal.pthread_sigmask(signal.SIG_BLOCK, _SIGNALS)
        try:
            for _ in range(self.workers):
                self._start()
            log.info(
                "respcore serving on %s with %d workers (press Ctrl+C to stop)",
                self.url,
                self.workers,
            )
            sys.stderr.flush()
            self._watch()
        finally:
            for pid in self.pids:  # only after a fault in the supervisor itself
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            self.sock.close()
            signal.pthread_sigmask(signal.SIG_UNBLOCK, _SIGNALS)

    def _start(self) -> None:
        sys.stderr.flush()
        pid = os.fork()
        if pid:
            self.pids[pid] = time.monotonic()
            return
        # The worker: it never returns into the caller's code.
        status = 1
        try:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, _SIGNALS)
            if _REUSE_PORT:
                sock = self._socket(self.family)
                sock.bind(self.address)
                sock.listen(2048)
                self.sock.close()
            else:
                sock = self.sock
            _run(self.app, self.host, 0, self.options, sock, announce=False)
            status = 0
        except BaseException:
            log.exception("respcore worker %d failed", os.getpid())
        finally:
            sys.stderr.flush()
            os._exit(status)

    def _watch(self) -> None:
        """Restart dead workers until SIGTERM or SIGINT; then stop them."""
        restart: list[float] = []  # when each owed restart is due
        while True:
            now = time.monotonic()
            timeout = max(0.0, min([1.0, *(due - now for due in restart)]))
            info = signal.sigtimedwait(_SIGNALS, timeout)
            for pid, status in self._reap():
                lived = time.monotonic() - self.pids.pop(pid)
                log.warning("respcore worker %d %s; starting another", pid, _describe(status))
                restart.append(time.monotonic() + (_QUICK_DEATH if lived < _QUICK_DEATH else 0))
            if info is not None and info.si_signo != signal.SIGCHLD:
                self._stop()
                return
            now = time.monotonic()
            for due in [due for due in restart if due <= now]:
                restart.remove(due)
                self._start()

    def _reap(self) -> list[tuple[int, int]]:
        dead = []
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                break
            if pid in self.pids:
                dead.append((pid, status))
        return dead

    def _stop(self) -> None:
        log.info("respcore stopping %d workers", len(self.pids))
        for pid in self.pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + _STOP_GRACE
        while self.pids:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                for pid in self.pids:
                    log.warning("respcore worker %d did not stop; killing it", pid)
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGKILL)
                deadline = time.monotonic() + _STOP_GRACE
            info = signal.sigtimedwait(_SIGNALS, min(remaining, 1.0) if remaining > 0 else 1.0)
            if info is not None and info.si_signo != signal.SIGCHLD:
                # A second SIGINT or SIGTERM: no more waiting.
                deadline = time.monotonic()
            for pid, _ in self._reap():
                del self.pids[pid]
        log.info("respcore stopped")


def _describe(status: int) -> str:
    if os.WIFSIGNALED(status):
        return f"was killed by signal {os.WTERMSIG(status)}"
    return f"exited with status {os.waitstatus_to_exitcode(status)}"
