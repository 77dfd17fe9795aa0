"""The demo page in headless Chromium (Debian's ``chromium``, driven by Playwright): every
route is shown with its link and the head respcore sends for it, that head is the one the
server really sends, and the server-sent-events clock ticks in the browser."""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator

import pytest
from _live import POSIX_ONLY, WAIT, Live, connect, live_server, recv_until, request

from respcore import demo
from respcore.compression import negotiate

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")

pytestmark = [POSIX_ONLY]

if os.environ.get("RESPCORE_REQUIRE_BROWSER"):
    # .ci/run installs Debian's chromium and asks for this test: a missing browser or
    # Playwright there is a failure, not a skip.
    if CHROMIUM is None:
        raise RuntimeError("RESPCORE_REQUIRE_BROWSER is set, but chromium is not installed")
    import playwright.sync_api as sync_api
else:
    sync_api = pytest.importorskip("playwright.sync_api")
needs_chromium = pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed")

# Chromium as root in a closed network: no sandbox, no GPU, no background traffic.
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def demo_server() -> Iterator[Live]:
    with live_server(demo.app, "uvloop") as server:
        yield server


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


def _without_date(head: str) -> list[str]:
    return [line for line in head.replace("\r\n", "\n").split("\n") if not line.startswith("Date:")]


def _sent_head(port: int, path: str) -> str:
    with connect(port) as sock:
        sock.sendall(request("GET", path))
        data = recv_until(sock, b"\r\n\r\n")
    return data.split(b"\r\n\r\n")[0].decode("latin-1") + "\r\n\r\n"


@needs_chromium
def test_every_route_is_shown_with_the_head_it_sends(demo_server: Live, browser: object) -> None:
    page = browser.new_page()  # type: ignore[attr-defined]
    try:
        page.goto(demo_server.url + "/", timeout=WAIT * 1000)
        assert page.title() == "respcore demo"
        items = page.locator("li[data-route]")
        shown = {items.nth(i).get_attribute("data-route"): i for i in range(items.count())}
        assert set(shown) == {*demo.ROUTES, *demo.STREAMS}
        for path, index in shown.items():
            item = items.nth(index)
            links = item.locator("a")
            if path in demo.ROUTES:
                assert links.count() == 1
                assert links.first.get_attribute("href") == path
                assert links.first.is_visible()
            else:
                assert links.count() == 0  # an endless stream is not a link
            head = item.locator("pre.head").inner_text()
            assert re.match(r"HTTP/1\.1 200 OK\n", head), (path, head)
            assert _without_date(head) == _without_date(_sent_head(demo_server.port, path)), path
        # The stylesheet applies: each head is a dark block.
        background = page.locator("pre.head").first.evaluate(
            "element => getComputedStyle(element).backgroundColor"
        )
        assert background == "rgb(29, 35, 42)"
    finally:
        page.close()


@needs_chromium
def test_the_event_source_clock_ticks(demo_server: Live, browser: object) -> None:
    page = browser.new_page()  # type: ignore[attr-defined]
    try:
        page.goto(demo_server.url + "/clock", timeout=WAIT * 1000)
        # Two events, a second apart, arrive through the browser's own EventSource.
        page.wait_for_function(
            "Number(document.getElementById('count').textContent) >= 2", timeout=WAIT * 1000
        )
        assert re.fullmatch(r"\d\d:\d\d:\d\d UTC", page.locator("#clock").inner_text())
    finally:
        page.close()


@needs_chromium
def test_the_browser_decodes_the_compressed_route(demo_server: Live, browser: object) -> None:
    page = browser.new_page()  # type: ignore[attr-defined]
    try:
        response = page.goto(demo_server.url + "/compressed", timeout=WAIT * 1000)
        accepted = response.request.all_headers()["accept-encoding"]
        headers = response.all_headers()
        # The network log: the coding respcore chose is the one the browser's own
        # Accept-Encoding prefers, and the browser decoded it.
        assert headers["content-encoding"] == negotiate(accepted, ("zstd", "br", "gzip"))
        assert headers["vary"] == "Accept-Encoding"
        items = page.evaluate("JSON.parse(document.body.innerText).items")
        assert len(items) == 500
        assert items[0] == {"id": 1, "name": "item 1", "price": 1.25, "tags": ["demo", "json"]}
    finally:
        page.close()
