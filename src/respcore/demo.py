"""The built-in demo: ``python -m respcore serve`` with no app. A page at ``/`` links one
example of every response kind and shows, beside each link, the head respcore sends for it
(rendered from the same framing and encoder that send it); each handler below is the whole
example."""

from __future__ import annotations

import asyncio
import atexit
import csv
import hashlib
import html
import io
import os
import shutil
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable

from .compression import Compression
from .encoder import encode_head
from .responses import (
    EventSourceResponse,
    HtmlResponse,
    JsonResponse,
    Response,
    StreamingResponse,
    TextResponse,
)
from .server import Request
from .sse import ServerSentEvent

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


async def cookies(req: Request, res: Response) -> None:
    # Two Set-Cookie fields: a visit counter the browser sends back, and a session id only
    # the server can read (HttpOnly).
    visits = 0
    for pair in req.headers.get("cookie", "").split(";"):
        name, _, value = pair.strip().partition("=")
        if name == "visits" and value.isdigit():
            visits = int(value)
    res.set_cookie("visits", str(visits + 1), max_age=3600)
    res.set_cookie("session", "demo-session", httponly=True, samesite="strict")
    res.text = f"visit {visits + 1}: reload to count; the browser sends the cookies back\n"


_CLOCK_PAGE = """<!doctype html><html lang=en><head><meta charset=utf-8>
<title>respcore clock</title><style>body{font:2rem system-ui,sans-serif;margin:3rem}</style>
</head><body><p>Server time: <time id=clock>waiting for the first event</time></p>
<p><small>events received: <span id=count>0</span></small></p>
<script>
const source = new EventSource("/clock/events");
source.addEventListener("tick", (event) => {
  document.getElementById("clock").textContent = event.data;
  const count = document.getElementById("count");
  count.textContent = String(Number(count.textContent) + 1);
});
</script></body></html>"""


async def clock(req: Request, res: Response) -> Response:
    # A page whose clock an EventSource updates once a second from /clock/events.
    return HtmlResponse(_CLOCK_PAGE)


async def clock_events(req: Request, res: Response) -> Response:
    async def ticks() -> AsyncIterator[ServerSentEvent]:
        for n in range(1, 3601):  # an hour at most, then the browser reconnects
            now = time.strftime("%H:%M:%S", time.gmtime())
            yield ServerSentEvent(f"{now} UTC", event="tick", id=str(n))
            await asyncio.sleep(1)

    return EventSourceResponse(ticks, ping=15)


async def trailers(req: Request, res: Response) -> Response:
    # The body's SHA-256, known only at its end, sent as a trailer field after the last
    # chunk (curl --raw shows it; browsers read the body).
    digest = hashlib.sha256()

    async def lines() -> AsyncIterator[bytes]:
        for n in range(1, 4):
            line = f"line {n} of 3\n".encode()
            digest.update(line)
            yield line

    return StreamingResponse(
        lines,
        media_type="text/plain",
        headers={"Trailer": "Digest"},
        trailers=lambda: [("Digest", f"sha-256={digest.hexdigest()}")],
    )


_COMPRESSION = Compression()  # zstd, br, gzip at levels 3, 4, 6; from 512 bytes


async def compressed(req: Request, res: Response) -> Response:
    # About 30 KB of JSON, sent in the coding the browser's Accept-Encoding prefers among
    # zstd, br and gzip (the response's Content-Encoding says which; Vary tells caches).
    catalog = [
        {"id": n, "name": f"item {n}", "price": round(n * 1.25, 2), "tags": ["demo", "json"]}
        for n in range(1, 501)
    ]
    return JsonResponse({"items": catalog}, compression=_COMPRESSION)


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
    "/cookies": (cookies, "two cookies: <code>res.set_cookie(…)</code>, a counter and HttpOnly"),
    "/clock": (clock, "server-sent events: a clock an <code>EventSource</code> updates"),
    "/trailers": (trailers, "a chunked stream with its SHA-256 in a trailer field"),
    "/request": (request, "what the server read from your request, as JSON"),
    "/compressed": (
        compressed,
        "30 KB of JSON compressed as your browser asks: <code>compression=Compression()</code>",
    ),
}
# Routes shown on the page with their heads but not linked: an endless event stream is read
# by the page that uses it.
STREAMS: dict[str, tuple[Handler, str]] = {
    "/clock/events": (clock_events, "the event stream behind /clock (text/event-stream)"),
}

_STYLE = """
body{font:16px/1.5 system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;
color:#1d232a;background:#f7f8fa}
h1{margin-bottom:.2rem}p.lead{color:#56606b;margin-top:0}
ol{list-style:none;padding:0}li{background:#fff;border:1px solid #dde1e6;border-radius:8px;
margin:.8rem 0;padding:.8rem 1rem}
a,span.route{font-weight:600;font-family:ui-monospace,monospace;color:#0b5cad}
pre.head{background:#1d232a;color:#e6edf3;border-radius:6px;padding:.6rem .8rem;
overflow-x:auto;font-size:13px;margin:.5rem 0 0}
code{background:#eef1f4;border-radius:4px;padding:0 .25rem}
"""


async def _head(path: str, handler: Handler) -> str:
    """The head respcore sends for ``GET path``: the handler's response, framed and encoded
    as the server frames and encodes it (the stream is not iterated)."""
    req = Request("GET", path.encode("latin-1"), [(b"Host", b"127.0.0.1")], "1.1", True)
    res: Response = Response()
    result = await handler(req, res)
    response = res if result is None else result
    framing = response.framing("GET", "1.1", True)
    return encode_head(response.status_code, framing.fields).decode("latin-1")


async def _page() -> str:
    items = []
    for routes, linked in ((ROUTES, True), (STREAMS, False)):
        for path, (handler, description) in routes.items():
            shown = html.escape(path)
            route = (
                f'<a href="{shown}">{shown}</a>'
                if linked
                else f'<span class="route">{shown}</span>'
            )
            head = html.escape(await _head(path, handler))
            items.append(
                f'<li data-route="{shown}">{route}: {description}'
                f'<pre class="head">{head}</pre></li>'
            )
    body = "\n".join(items)
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>respcore demo</title><style>{_STYLE}</style></head><body>"
        "<h1>respcore demo</h1><p class=lead>One link per response kind, each with the exact "
        "head respcore sends for it.</p>"
        f"<ol>\n{body}\n</ol></body></html>"
    )


async def app(req: Request, res: Response) -> Response | None:
    """The demo app: ``/`` and the routes in ``ROUTES`` and ``STREAMS``; anything else is
    404."""
    if req.path == "/":
        res.html = await _page()
        return None
    route = ROUTES.get(req.path) or STREAMS.get(req.path)
    if route is None:
        res.status_code = 404
        res.text = f"Not Found: {req.path}\n"
        return None
    return await route[0](req, res)
