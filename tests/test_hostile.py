"""respcore's server against a corpus of hostile requests (``tests/_hostile.py``): request
smuggling and malformed messages. Each is refused with an error status and the connection is
closed; the app never runs for it, and the request pipelined behind it is never answered.
What comes back is parsed by h11 as the client."""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
import time
from collections.abc import Iterator

import pytest
from _hostile import CASES, FOLLOW, Case
from _live import (
    LOOPS,
    POSIX_ONLY,
    WAIT,
    Live,
    ResponseReader,
    connect,
    live_server,
    parse_closed,
    raise_open_files_limit,
    readable,
    recv_until_close,
    wait_until,
)

from respcore import Response
from respcore.server import Request

pytestmark = POSIX_ONLY


class Recorder:
    def __init__(self) -> None:
        self.seen: list[str] = []

    async def __call__(self, req: Request, res: Response) -> None:
        self.seen.append(f"{req.method} {req.path}")
        res.text = "the app answered\n"


@pytest.fixture(scope="module", params=LOOPS)
def hostile_server(request: pytest.FixtureRequest) -> Iterator[tuple[Live, Recorder]]:
    app = Recorder()
    with live_server(app, request.param) as server:
        yield server, app


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_hostile_request_is_refused_and_the_connection_closed(
    hostile_server: tuple[Live, Recorder], case: Case
) -> None:
    live, app = hostile_server
    app.seen.clear()
    with connect(live.port) as sock:
        sock.sendall(case.data + FOLLOW)
        closed = recv_until_close(sock, WAIT)
    reader = ResponseReader()
    reader.feed(closed.data, eof=not closed.reset)
    first = reader.read()
    assert first.complete, (case.rule, closed.data[:300])
    assert first.status in case.statuses, (case.rule, first.status)
    assert first.header("connection") == "close"
    # Nothing after the refusal: the pipelined request was not read as a request.
    leftover, _ = reader.conn.trailing_data
    assert bytes(leftover) == b"", (case.rule, closed.data[:300])
    assert app.seen == [], case.rule


def test_a_good_request_after_the_corpus_is_answered(
    hostile_server: tuple[Live, Recorder],
) -> None:
    live, app = hostile_server
    app.seen.clear()
    with connect(live.port) as sock:
        sock.sendall(FOLLOW.replace(b"/smuggled", b"/fine") + b"GET /again HTTP/1.1\r\nHost: a\r\n"
                     b"Connection: close\r\n\r\n")  # fmt: skip
        closed = recv_until_close(sock, WAIT)
    first, second = parse_closed(closed, ["GET", "GET"])
    assert (first.status, second.status) == (200, 200)
    assert app.seen == ["GET /fine", "GET /again"]


# -- slow and greedy clients -------------------------------------------------------------------


def _closed_by_server(sock: socket.socket) -> bool:
    """Whether the server has closed ``sock`` (a FIN or a reset is waiting to be read)."""
    if not readable(sock):
        return False
    try:
        return sock.recv(65536) == b""
    except (ConnectionResetError, ConnectionAbortedError):
        return True


def _trickled_until_closed(port: int, head: bytes, more: bytes) -> bool:
    """Send ``head``, then ``more`` every 50 ms (bounded by WAIT), until the server closes
    the connection; whether it did."""
    with connect(port) as sock:
        sock.sendall(head)
        for _ in range(int(WAIT / 0.05)):
            if _closed_by_server(sock):
                return True
            try:
                sock.sendall(more)
            except OSError:
                return True
            time.sleep(0.05)
    return False


@pytest.mark.parametrize(
    ("head", "more"),
    [
        (b"POST /upload HTTP/1.1\r\nHost: a\r\nContent-Length: 100000\r\n\r\n" + b"x" * 10, b"y"),
        (
            b"POST /upload HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=",
            b"a" * 100,
        ),
    ],
    ids=["body-trickled", "chunk-extension-never-ends"],
)
def test_a_body_that_does_not_finish_is_closed_by_body_timeout(head: bytes, more: bytes) -> None:
    app = Recorder()
    # keep_alive_timeout is long: the bytes trickled every 50 ms keep the connection busy
    # reading, so only body_timeout can end it.
    with live_server(app, body_timeout=0.5, keep_alive_timeout=30) as live:
        assert _trickled_until_closed(live.port, head, more)
    assert app.seen == []


def test_connections_past_max_connections_are_closed_at_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    app = Recorder()
    caplog.set_level(logging.WARNING, logger="respcore.server")
    with live_server(app, max_connections=3) as live:
        kept = [connect(live.port) for _ in range(3)]
        try:
            for sock in kept:  # each is served, so each is counted
                sock.sendall(FOLLOW)
                assert ResponseReader(sock).read().status == 200
            with connect(live.port) as extra:
                extra.sendall(FOLLOW)
                closed = recv_until_close(extra, WAIT)
            assert closed.data == b""  # closed at once, nothing answered
            assert wait_until(
                lambda: any("closed 1 new connection(s) at once" in r.getMessage()
                            for r in caplog.records)
            )  # fmt: skip
            kept.pop().close()
            assert wait_until(lambda: live.connection_count() == 2)
            with connect(live.port) as again:  # below the cap again: served
                again.sendall(FOLLOW)
                assert ResponseReader(again).read().status == 200
        finally:
            for sock in kept:
                sock.close()


def test_trickling_heads_do_not_stop_a_normal_client() -> None:
    count = 500
    raise_open_files_limit(4 * count + 256)
    app = Recorder()
    with live_server(app, head_timeout=1.0, keep_alive_timeout=30) as live:
        tricklers = [connect(live.port) for _ in range(count)]
        try:
            stop = threading.Event()
            head = b"GET /slow HTTP/1.1\r\nHost: a\r\nX-Slow: " + b"s" * 1000

            def trickle() -> None:
                # One byte on every connection every 50 ms, bounded by WAIT.
                for index in range(int(WAIT / 0.05)):
                    if stop.is_set():
                        return
                    for sock in tricklers:
                        with contextlib.suppress(OSError):
                            sock.send(head[index : index + 1])
                    time.sleep(0.05)

            thread = threading.Thread(target=trickle, daemon=True)
            thread.start()
            assert wait_until(lambda: live.connection_count() == count)
            # A normal client is answered while the 500 heads trickle in.
            with connect(live.port) as normal:
                reader = ResponseReader(normal)
                for n in range(20):
                    normal.sendall(f"GET /normal{n} HTTP/1.1\r\nHost: a\r\n\r\n".encode())
                    assert reader.read().status == 200
            # Every trickler is closed by head_timeout, long before its head would end.
            assert wait_until(lambda: live.connection_count() == 0)
            stop.set()
            thread.join(WAIT)
            closed: set[int] = set()

            def all_closed() -> bool:
                closed.update(i for i, s in enumerate(tricklers) if i not in closed
                              and _closed_by_server(s))  # fmt: skip
                return len(closed) == count

            assert wait_until(all_closed)
            assert app.seen == [f"GET /normal{n}" for n in range(20)]
        finally:
            for sock in tricklers:
                sock.close()
