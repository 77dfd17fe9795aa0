"""Background work: ``Response(..., background=fn)`` / ``res.background = fn`` runs after the
last byte went to the transport, on respcore's server (bytes, stream and file bodies), under
a real uvicorn, and through FastAPI; never after an abort; what it raises is logged.

"After" is shown, not timed: each background function waits for the test client to have
read the whole response first, so a function that ran too early would hold the response
back and the test would time out."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import httpx
import pytest
from _live import LOOPS, POSIX_ONLY, WAIT, Live, ResponseReader, connect, live_server, request
from _live import recv_until as recv_until_marker
from _servers import Routes as AsgiRoutes
from _servers import serve as serve_asgi
from fastapi import BackgroundTasks, FastAPI

from respcore import (
    FileResponse,
    JsonResponse,
    RedirectResponse,
    Response,
    StreamingResponse,
    TextResponse,
)
from respcore.server import Request
from respcore.starlette import adapt


class Work:
    """Background functions the test can watch: ``ran`` once they finished; they first wait
    for ``release`` (set by the test once it has the whole response)."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.ran = threading.Event()
        self.threads: list[int] = []

    async def async_fn(self) -> None:
        await asyncio.get_running_loop().run_in_executor(None, self.release.wait, WAIT)
        assert self.release.is_set()
        self.ran.set()

    def sync_fn(self) -> None:
        self.threads.append(threading.get_ident())
        self.release.wait(WAIT)
        self.ran.set()


class BackgroundApp:
    def __init__(self, tmp: Path) -> None:
        self.work = Work()
        self.file = tmp / "data.bin"
        self.file.write_bytes(b"f" * 200_000)
        self.loop_thread = 0
        self.stream_done = threading.Event()

    async def __call__(self, req: Request, res: Response) -> Response | None:
        self.loop_thread = threading.get_ident()
        work = self.work
        kind, _, style = req.path.strip("/").partition("/")
        fn: Callable[[], object] = work.sync_fn if style == "sync" else work.async_fn
        if kind == "bytes":
            return JsonResponse({"ok": True}, background=fn)
        if kind == "mutable":
            res.text = "mutable\n"
            res.background = fn
            return None
        if kind == "stream":

            async def chunks() -> AsyncIterator[bytes]:
                for _ in range(20):
                    yield b"s" * 10_000

            return StreamingResponse(chunks, background=fn)
        if kind == "file":
            return FileResponse(self.file, background=fn)
        if kind == "raises":

            async def broken() -> AsyncIterator[bytes]:
                yield b"first"
                raise RuntimeError("the stream broke")

            return StreamingResponse(broken, background=fn)
        if kind == "endless":

            async def endless() -> AsyncIterator[bytes]:
                try:
                    for _ in range(100_000):
                        yield b"e" * 1024
                        await asyncio.sleep(0.001)
                finally:
                    self.stream_done.set()

            return StreamingResponse(endless, background=fn)
        if kind == "failing":

            def fails() -> None:
                raise ValueError("background failure for the log")

            return TextResponse("fine\n", background=fails)
        return RedirectResponse("/bytes", background=fn)


@pytest.fixture(scope="module", params=LOOPS)
def bg_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Live, BackgroundApp]]:
    app = BackgroundApp(tmp_path_factory.mktemp("bg"))
    with live_server(app, request.param) as server:
        yield server, app


@POSIX_ONLY
@pytest.mark.parametrize("kind", ["bytes", "mutable", "stream", "file", "redirect"])
@pytest.mark.parametrize("style", ["async", "sync"])
def test_background_runs_after_the_whole_response(
    bg_server: tuple[Live, BackgroundApp], kind: str, style: str
) -> None:
    live, app = bg_server
    app.work = work = Work()
    with connect(live.port) as sock:
        sock.sendall(request("GET", f"/{kind}/{style}"))
        message = ResponseReader(sock).read()
        assert message.complete
        assert not work.ran.is_set()
        work.release.set()
        assert work.ran.wait(WAIT)
    if style == "sync":
        # Off the event loop: a slow sync function cannot stall other connections.
        assert work.threads
        assert work.threads[0] != app.loop_thread


@POSIX_ONLY
def test_background_does_not_run_after_a_stream_aborts(
    bg_server: tuple[Live, BackgroundApp], caplog: pytest.LogCaptureFixture
) -> None:
    live, app = bg_server
    app.work = aborted = Work()
    aborted.release.set()
    with connect(live.port) as sock:
        sock.sendall(request("GET", "/raises/async"))
        message = ResponseReader(sock).read()
    assert not message.complete
    # The next response's background runs; the aborted one's never did.
    app.work = later = Work()
    later.release.set()
    with httpx.Client(timeout=WAIT) as client:
        assert client.get(live.url + "/bytes/async").status_code == 200
    assert later.ran.wait(WAIT)
    assert not aborted.ran.is_set()


@POSIX_ONLY
def test_background_does_not_run_after_the_client_disconnects(
    bg_server: tuple[Live, BackgroundApp],
) -> None:
    live, app = bg_server
    app.stream_done.clear()
    app.work = aborted = Work()
    aborted.release.set()
    with connect(live.port) as sock:
        sock.sendall(request("GET", "/endless/async"))
        recv_until_marker(sock, b"\r\n\r\n")
    assert app.stream_done.wait(WAIT)
    app.work = later = Work()
    later.release.set()
    with httpx.Client(timeout=WAIT) as client:
        assert client.get(live.url + "/bytes/sync").status_code == 200
    assert later.ran.wait(WAIT)
    assert not aborted.ran.is_set()


@POSIX_ONLY
def test_a_failing_background_is_logged_and_never_sent(
    bg_server: tuple[Live, BackgroundApp], caplog: pytest.LogCaptureFixture
) -> None:
    live, _ = bg_server
    caplog.set_level(logging.ERROR, logger="respcore.background")
    with httpx.Client(base_url=live.url, timeout=WAIT) as client:
        first = client.get("/failing")
        assert (first.status_code, first.text) == (200, "fine\n")

        def logged() -> bool:
            return any("background work" in r.getMessage() for r in caplog.records)

        deadline = threading.Event()
        for _ in range(int(WAIT / 0.01)):
            if logged():
                break
            deadline.wait(0.01)
        assert logged()
        record = next(r for r in caplog.records if "background work" in r.getMessage())
        assert record.exc_info is not None
        assert "background failure for the log" in str(record.exc_info[1])
        # The connection goes on serving.
        assert client.get("/bytes/none").status_code == 200


def test_background_must_be_callable() -> None:
    with pytest.raises(TypeError, match="background must be a no-argument callable or None"):
        Response(background=42)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="background must be a no-argument callable or None"):
        JsonResponse({}, background="later")  # type: ignore[arg-type]
    res = Response()
    with pytest.raises(TypeError, match="background must be"):
        res.background = 1  # type: ignore[assignment]
    res.background = print
    assert res.background is print
    res.background = None
    assert res.background is None


# -- ASGI --------------------------------------------------------------------------------------


@POSIX_ONLY
@pytest.mark.parametrize("kind", ["bytes", "stream", "file"])
def test_background_runs_under_uvicorn(kind: str, tmp_path: Path) -> None:
    work = Work()
    path = tmp_path / "f.bin"
    path.write_bytes(b"z" * 100_000)

    async def chunks() -> AsyncIterator[bytes]:
        yield b"a" * 1000
        yield b"b" * 1000

    def make(scope: object) -> Response:
        if kind == "bytes":
            return TextResponse("hello", background=work.async_fn)
        if kind == "stream":
            return StreamingResponse(chunks, background=work.sync_fn)
        return FileResponse(path, background=work.async_fn)

    routes = AsgiRoutes()
    routes.add("/", make)
    with serve_asgi(routes) as url, httpx.Client(timeout=WAIT) as client:
        response = client.get(url + "/")
        assert response.status_code == 200
        assert not work.ran.is_set()
        work.release.set()
        assert work.ran.wait(WAIT)


@POSIX_ONLY
def test_fastapi_runs_the_responses_background_and_its_own_tasks() -> None:
    work = Work()
    work.release.set()
    fastapi_ran = threading.Event()
    app = FastAPI()

    @app.get("/", response_model=None)
    async def home(tasks: BackgroundTasks) -> object:
        tasks.add_task(fastapi_ran.set)
        return adapt(JsonResponse({"hi": 1}, background=work.async_fn))

    with serve_asgi(app) as url, httpx.Client(timeout=WAIT) as client:
        assert client.get(url + "/").json() == {"hi": 1}
        assert work.ran.wait(WAIT)
        assert fastapi_ran.wait(WAIT)
