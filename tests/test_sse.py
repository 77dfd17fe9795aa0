"""Server-sent events: ``ServerSentEvent``, ``EventSourceResponse`` and ``@res.event_stream``.
What goes out is read back by a real event-stream parser (httpx-sse) from bytes, from
respcore's live server and from a real uvicorn; raw bytes are parsed by h11."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Callable, Iterator

import httpx
import pytest
from _live import LOOPS, POSIX_ONLY, WAIT, Live, ResponseReader, connect, live_server, request
from _live import recv_until as recv_until_marker
from _servers import Routes as AsgiRoutes
from _servers import serve as serve_asgi
from httpx_sse import EventSource, connect_sse

from respcore import (
    ClientDisconnect,
    EventSourceResponse,
    Response,
    ResponseTimeout,
    ServerSentEvent,
)
from respcore.server import Request


def parse(data: bytes) -> list[tuple[str, str, str, int | None]]:
    """``(event, data, id, retry)`` of each event a browser-like parser dispatches."""
    response = httpx.Response(200, headers={"content-type": "text/event-stream"}, content=data)
    return [(e.event, e.data, e.id, e.retry) for e in EventSource(response).iter_sse()]


# -- the wire format -------------------------------------------------------------------------


def test_data_lines_split_on_cr_lf_and_crlf() -> None:
    data = ServerSentEvent("one\ntwo\r\nthree\rfour").encode()
    assert data == b"data: one\ndata: two\ndata: three\ndata: four\n\n"
    assert parse(data) == [("message", "one\ntwo\nthree\nfour", "", None)]


def test_every_field_is_read_back() -> None:
    event = ServerSentEvent(data="payload", event="update", id="42", retry=2500, comment="hi")
    data = event.encode()
    assert data == b": hi\nevent: update\nid: 42\nretry: 2500\ndata: payload\n\n"
    assert parse(data) == [("update", "payload", "42", 2500)]


def test_leading_space_and_colons_in_data_survive() -> None:
    data = ServerSentEvent(" spaced: value").encode()
    assert parse(data) == [("message", " spaced: value", "", None)]


def test_empty_data_is_an_event_with_empty_data() -> None:
    assert parse(ServerSentEvent("").encode()) == [("message", "", "", None)]


def test_non_ascii_data_is_utf8() -> None:
    data = ServerSentEvent("héllo ✓").encode()
    assert data == "data: héllo ✓\n\n".encode()
    assert parse(data) == [("message", "héllo ✓", "", None)]


def test_a_multiline_comment_stays_a_comment() -> None:
    data = ServerSentEvent(comment="one\ntwo\rdata: not an event").encode()
    assert data == b": one\n: two\n: data: not an event\n\n"
    assert parse(data) == []


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"event": "a\nb"}, ValueError, "event 'a\\\\nb' contains CR or LF"),
        ({"event": "a\rb"}, ValueError, "event 'a\\\\rb' contains CR or LF"),
        ({"id": "1\n2"}, ValueError, "id '1\\\\n2' contains CR or LF"),
        ({"id": "1\x002"}, ValueError, "id '1\\\\x002' contains NUL"),
        ({"retry": -1}, ValueError, "retry must be >= 0 milliseconds"),
        ({"retry": True}, TypeError, "retry must be an int"),
        ({"retry": "10"}, TypeError, "retry must be an int"),
        ({"data": b"bytes"}, TypeError, "data must be str or None, got bytes"),
        ({"event": 1}, TypeError, "event must be str or None"),
        ({}, ValueError, "no field is set"),
    ],
)
def test_bad_event_raises_naming_the_field(
    kwargs: dict[str, object], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        ServerSentEvent(**kwargs)  # type: ignore[arg-type]


def test_event_stream_headers() -> None:
    async def events() -> AsyncIterator[str]:
        yield "x"

    response = EventSourceResponse(events)
    framing = response.framing()
    assert framing.body == "chunked"
    fields = dict((name.lower(), value) for name, value in framing.fields)
    assert fields["content-type"] == "text/event-stream; charset=utf-8"
    assert fields["cache-control"] == "no-cache"
    assert fields["x-accel-buffering"] == "no"


def test_event_stream_timeouts_and_ping_are_checked() -> None:
    with pytest.raises(TypeError, match="ping must be seconds"):
        EventSourceResponse(["x"], ping=-1)
    with pytest.raises(TypeError, match="chunk_timeout must be seconds"):
        EventSourceResponse(["x"], chunk_timeout="1")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="stream must be a no-argument async generator"):
        Response().event_stream(lambda: None)  # type: ignore[arg-type]


# -- live: respcore's server -------------------------------------------------------------------


class Seen:
    def __init__(self) -> None:
        self.done = threading.Event()
        self.thrown: list[BaseException] = []
        self.go = threading.Event()


def endless(seen: Seen, pause: float = 0.005) -> Callable[[], AsyncIterator[str]]:
    """An async generator function: an event every ``pause`` seconds, bounded in count."""

    async def events() -> AsyncIterator[str]:
        try:
            for n in range(100_000):
                yield f"tick {n}"
                await asyncio.sleep(pause)
        except BaseException as exc:
            seen.thrown.append(exc)
            raise
        finally:
            seen.done.set()

    return events


class EventApp:
    def __init__(self) -> None:
        self.seen = Seen()

    async def __call__(self, req: Request, res: Response) -> Response | None:
        seen = self.seen
        if req.path == "/events":

            async def events() -> AsyncIterator[object]:
                yield ServerSentEvent("first", event="greeting", id="1")
                yield {"data": "second\nline", "id": "2"}
                yield "third"

            return EventSourceResponse(events, ping=None)
        if req.path == "/mutable":

            @res.event_stream(ping=None)
            async def numbers() -> AsyncIterator[str]:
                for n in range(3):
                    yield str(n)

            return None
        if req.path == "/ping":

            async def waiting() -> AsyncIterator[str]:
                yield "before"
                # The client sets go once it has read a ping; bounded by WAIT.
                await asyncio.get_running_loop().run_in_executor(None, seen.go.wait, WAIT)
                yield "after"

            return EventSourceResponse(waiting, ping=0.05)
        if req.path == "/endless":
            return EventSourceResponse(endless(seen), ping=None)
        if req.path == "/endless-ping":
            return EventSourceResponse(endless(seen, pause=0.2), ping=0.01)
        if req.path == "/raise":
            res.event_stream(ping=None, raise_on_disconnect=True)(endless(seen))
            return None
        if req.path == "/deadline":
            return EventSourceResponse(
                endless(seen), ping=None, complete_timeout=0.2, raise_on_disconnect=True
            )
        if req.path == "/bad-item":

            async def bad() -> AsyncIterator[object]:
                yield {"colour": "red"}

            return EventSourceResponse(bad, ping=None)
        res.status_code = 404
        return None


@pytest.fixture(scope="module", params=LOOPS)
def sse_server(request: pytest.FixtureRequest) -> Iterator[tuple[Live, EventApp]]:
    app = EventApp()
    with live_server(app, request.param) as server:
        yield server, app


def read_events(url: str) -> tuple[httpx.Headers, list[tuple[str, str, str]]]:
    with httpx.Client(timeout=WAIT) as client, connect_sse(client, "GET", url) as source:
        events = [(e.event, e.data, e.id) for e in source.iter_sse()]
        return source.response.headers, events


EXPECTED = [("greeting", "first", "1"), ("message", "second\nline", "2"), ("message", "third", "2")]


@POSIX_ONLY
def test_event_source_response_read_by_a_parser(sse_server: tuple[Live, EventApp]) -> None:
    live, _ = sse_server
    headers, events = read_events(live.url + "/events")
    assert headers["content-type"] == "text/event-stream; charset=utf-8"
    assert headers["cache-control"] == "no-cache"
    assert headers["transfer-encoding"] == "chunked"
    assert events == EXPECTED


@POSIX_ONLY
def test_res_event_stream_read_by_a_parser(sse_server: tuple[Live, EventApp]) -> None:
    live, _ = sse_server
    _, events = read_events(live.url + "/mutable")
    assert [data for _, data, _ in events] == ["0", "1", "2"]


@POSIX_ONLY
def test_each_event_is_one_chunk_and_the_stream_ends_cleanly(
    sse_server: tuple[Live, EventApp],
) -> None:
    live, _ = sse_server
    with connect(live.port) as sock:
        sock.sendall(request("GET", "/events"))
        message = ResponseReader(sock).read()
    assert message.complete
    assert parse(message.body) == [(e, d, i, None) for e, d, i in EXPECTED]


@POSIX_ONLY
def test_ping_comment_goes_out_while_the_stream_is_idle(
    sse_server: tuple[Live, EventApp],
) -> None:
    live, app = sse_server
    app.seen.go.clear()
    with connect(live.port) as sock:
        sock.sendall(request("GET", "/ping"))
        seen = recv_until_marker(sock, b": ping\n\n")
        app.seen.go.set()
        rest = ResponseReader(sock)
        rest.feed(seen)
        message = rest.read()
    assert message.complete
    assert b": ping\n\n" in message.body
    assert message.body.startswith(b"data: before\n\n")
    assert message.body.endswith(b"data: after\n\n")
    assert parse(message.body) == [("message", "before", "", None), ("message", "after", "", None)]


@POSIX_ONLY
@pytest.mark.parametrize("path", ["/endless", "/endless-ping"])
def test_disconnect_closes_the_event_generator(
    sse_server: tuple[Live, EventApp], path: str
) -> None:
    live, app = sse_server
    app.seen = Seen()
    with connect(live.port) as sock:
        sock.sendall(request("GET", path))
        recv_until_marker(sock, b"data: tick 0\n\n")
    assert app.seen.done.wait(WAIT)
    assert not any(isinstance(exc, ClientDisconnect) for exc in app.seen.thrown)


@POSIX_ONLY
def test_raise_on_disconnect_throws_into_the_event_generator(
    sse_server: tuple[Live, EventApp],
) -> None:
    live, app = sse_server
    app.seen = Seen()
    with connect(live.port) as sock:
        sock.sendall(request("GET", "/raise"))
        recv_until_marker(sock, b"data: tick 0\n\n")
    assert app.seen.done.wait(WAIT)
    assert [type(exc) for exc in app.seen.thrown] == [ClientDisconnect]


@POSIX_ONLY
def test_complete_timeout_ends_an_endless_event_stream(
    sse_server: tuple[Live, EventApp],
) -> None:
    live, app = sse_server
    app.seen = Seen()
    with connect(live.port) as sock:
        sock.sendall(request("GET", "/deadline"))
        message = ResponseReader(sock).read()
    assert message.status == 200
    assert not message.complete  # aborted, never read as a complete stream
    assert app.seen.done.wait(WAIT)
    # At a yield the timeout is thrown in; inside the generator's own await it is cancelled.
    assert len(app.seen.thrown) == 1
    assert isinstance(app.seen.thrown[0], (ResponseTimeout, asyncio.CancelledError))


@POSIX_ONLY
def test_an_unknown_event_field_is_answered_500(sse_server: tuple[Live, EventApp]) -> None:
    live, _ = sse_server
    with httpx.Client(timeout=WAIT) as client:
        assert client.get(live.url + "/bad-item").status_code == 500


# -- live: under uvicorn -----------------------------------------------------------------------


@POSIX_ONLY
def test_event_source_response_under_uvicorn() -> None:
    routes = AsgiRoutes()
    seen = Seen()

    async def events() -> AsyncIterator[object]:
        yield ServerSentEvent("first", event="greeting", id="1")
        yield {"data": "second\nline", "id": "2"}
        yield "third"

    routes.add("/events", lambda scope: EventSourceResponse(events, ping=None))
    routes.add("/endless", lambda scope: EventSourceResponse(endless(seen), ping=0.01))
    with serve_asgi(routes) as url:
        headers, got = read_events(url + "/events")
        assert headers["content-type"] == "text/event-stream; charset=utf-8"
        assert got == EXPECTED
        with (
            httpx.Client(timeout=WAIT) as client,
            connect_sse(client, "GET", url + "/endless") as source,
        ):
            first = next(iter(source.iter_sse()))
            assert first.data == "tick 0"
        assert seen.done.wait(WAIT)
