"""The built-in demo: ``python -m respcore serve`` with no app. A page at ``/`` links one
example of every response kind; each handler below is the whole example."""

from __future__ import annotations

import asyncio
import atexit
import csv
import html
import io
import os
import shutil
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable

from .responses import JsonResponse, Response, StreamingResponse, TextResponse
from .server import Request

__all__ = ["app"]

Handler = Callable[[Request, Response], Awaitable["Response | None"]]


async def json_(req: Request, res: Response) -> None:
    res.json = {"message": "Hello, world!", "path": req.path}


async def text(req: Request, res: Response) -> Response:
    return TextResponse("Hello, world!\n")


async def html_(req: Request, res: Response) -> None:
    res.html = "<!doctype html><title>html</title><h1>Hello, <em>world</em>!</h1>"


async def chunked(req: Request, res: Response) -> Response:
    async def lines() -> AsyncIterator[str]:
        for n in range(1, 6):
            yield f"chunk {n} of 5\n"
            await asyncio.sleep(0.3)

    return StreamingResponse(lines, media_type="text/plain")


async def close_delimited(req: Request, res: Response) -> None:
    # A stream without Content-Length and not chunked: the body ends when the server closes
    # the connection (the response says Connection: close).
    res.headers["Content-Type"] = "text/plain; charset=utf-8"

    @res.stream
    async def body() -> AsyncIterator[str]:
        for n in range(1, 4):
            yield f"line {n}: this body ends when the connection closes\n"
            await asyncio.sleep(0.2)


async def attachment(req: Request, res: Response) -> None:
    res.text = "Saved by your browser, not shown.\n"
    res.attachment = "hello.txt"


def _rows() -> list[list[object]]:
    rows: list[list[object]] = [["id", "name", "score"]]
    rows.extend([n, f"row {n}", n * n % 97] for n in range(1, 1001))
    return rows


async def csv_stream(req: Request, res: Response) -> Response:
    # A CSV generated row by row as it is sent, downloaded as a file.
    async def rows() -> AsyncIterator[str]:
        out = io.StringIO()
        writer = csv.writer(out)
        for row in _rows():
            writer.writerow(row)
            yield out.getvalue()
            out.seek(0)
            out.truncate()

    response = StreamingResponse(rows, media_type="text/csv")
    response.attachment = "rows.csv"
    return response


class _Files:
    """A CSV file written once into a temporary directory, removed at exit."""

    path: str | None = None

    def csv_path(self) -> str:
        if self.path is None:
            folder = tempfile.mkdtemp(prefix="respcore-demo-")
            atexit.register(shutil.rmtree, folder, True)
            path = os.path.join(folder, "report.csv")
            with open(path, "w", newline="", encoding="utf-8") as file:
                csv.writer(file).writerows(_rows())
            self.path = path
        return self.path


_files = _Files()


async def file(req: Request, res: Response) -> None:
    # A file on disk, sent with zero copy where the socket allows.
    res.file(_files.csv_path(), filename="report.csv")


async def slow(req: Request, res: Response) -> Response:
    # A stream that never ends: complete_timeout closes it after 10 s.
    async def ticks() -> AsyncIterator[str]:
        n = 0
        while True:
            n += 1
            yield f"tick {n}\n"
            await asyncio.sleep(1)

    return StreamingResponse(ticks, media_type="text/plain", chunk_timeout=5, complete_timeout=10)


async def request(req: Request, res: Response) -> Response:
    return JsonResponse(
        {
            "method": req.method,
            "path": req.path,
            "query_string": req.query_string,
            "version": req.version,
            "headers": list(req.headers.items()),
            "body": (await req.body()).decode("utf-8", "replace"),
        }
    )


ROUTES: dict[str, tuple[Handler, str]] = {
    "/json": (json_, "JSON, set as <code>res.json = …</code>"),
    "/text": (text, "text, returned as <code>TextResponse(…)</code>"),
    "/html": (html_, "HTML, set as <code>res.html = …</code>"),
    "/chunked": (chunked, "a chunked stream: five lines, 0.3 s apart"),
    "/close": (close_delimited, "a close-delimited stream (no length, no chunks)"),
    "/attachment": (attachment, "an attachment: <code>res.attachment = 'hello.txt'</code>"),
    "/rows.csv": (csv_stream, "a CSV generated while it streams, downloaded as rows.csv"),
    "/report.csv": (file, "a file download: <code>res.file(path)</code>"),
    "/slow": (slow, "a slow endless stream, ended by <code>complete_timeout=10</code>"),
    "/request": (request, "what the server read from your request, as JSON"),
}


def _page() -> str:
    items = "\n".join(
        f'<li><a href="{path}">{html.escape(path)}</a>: {description}</li>'
        for path, (_, description) in ROUTES.items()
    )
    return (
        "<!doctype html><html><head><meta charset=utf-8><title>respcore demo</title></head>"
        "<body><h1>respcore demo</h1><p>One link per response kind:</p>"
        f"<ul>\n{items}\n</ul></body></html>"
    )


async def app(req: Request, res: Response) -> Response | None:
    """The demo app: ``/`` and the routes in ``ROUTES``; anything else is 404."""
    if req.path == "/":
        res.html = _page()
        return None
    route = ROUTES.get(req.path)
    if route is None:
        res.status_code = 404
        res.text = f"Not Found: {req.path}\n"
        return None
    return await route[0](req, res)
