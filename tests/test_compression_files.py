"""Compressed file bodies: precompressed ``.zst``/``.br``/``.gz`` siblings sent zero-copy with
ranges and conditional requests on that representation, and files compressed on the way
under a policy. Against respcore's live server (the transport writer, ``os.sendfile``) and a
real uvicorn (the ASGI path); bodies decoded by the codecs' own libraries and by curl."""

from __future__ import annotations

import gzip
import os
from collections.abc import Iterator
from pathlib import Path

import brotli
import httpx
import pytest
import zstandard
from _live import POSIX_ONLY, WAIT, Live, live_server
from _servers import Routes as AsgiRoutes
from _servers import curl
from _servers import serve as serve_asgi

from respcore import Compression, FileResponse, Response
from respcore.server import Request

POLICY = Compression(minimum_size=64)
CONTENT = ("function hello(name) { return 'hello, ' + name; }\n" * 400).encode()


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("static")
    (root / "app.js").write_bytes(CONTENT)
    (root / "app.js.gz").write_bytes(gzip.compress(CONTENT, 9, mtime=0))
    (root / "app.js.br").write_bytes(brotli.compress(CONTENT, quality=11))
    (root / "app.js.zst").write_bytes(zstandard.ZstdCompressor(level=19).compress(CONTENT))
    # A stale sibling: older than its file, so it no longer holds the file's bytes.
    (root / "stale.js").write_bytes(CONTENT)
    (root / "stale.js.br").write_bytes(b"old bytes")
    os.utime(root / "stale.js.br", ns=(1, 1))
    (root / "plain.js").write_bytes(CONTENT)
    (root / "small.txt").write_bytes(b"tiny")
    (root / "empty.txt").write_bytes(b"")
    (root / "image.png").write_bytes(b"\x89PNG" + bytes(range(256)) * 20)
    return root


def _response(root: Path, path: str) -> Response:
    name = path.strip("/")
    if name.startswith("pre/"):
        return FileResponse(root / name[4:], attach=False, precompressed=True)
    return FileResponse(root / name, attach=False, compression=POLICY)


@pytest.fixture(scope="module")
def live(files: Path) -> Iterator[Live]:
    async def app(req: Request, res: Response) -> Response:
        return _response(files, req.path)

    with live_server(app) as server:
        yield server


@pytest.fixture(scope="module")
def asgi_url(files: Path) -> Iterator[str]:
    routes = AsgiRoutes()
    for path in ("/pre/app.js", "/pre/stale.js", "/plain.js", "/small.txt", "/image.png"):
        routes.add(path, lambda scope: _response(files, scope["path"]))
    with serve_asgi(routes) as url:
        yield url


@pytest.fixture(params=["respcore", "uvicorn"])
def base_url(request: pytest.FixtureRequest, live: Live) -> str:
    if request.param == "respcore":
        return live.url
    return str(request.getfixturevalue("asgi_url"))


def _get(url: str, coding: str | None = None, **headers: str) -> httpx.Response:
    sent = {"Accept-Encoding": coding or "identity"}
    sent.update({name.replace("_", "-"): value for name, value in headers.items()})
    with httpx.Client(timeout=WAIT) as client:
        response = client.get(url, headers=sent)
        response.read()
        return response


def _get_raw(url: str, coding: str, method: str = "GET", **headers: str) -> httpx.Response:
    sent = {"Accept-Encoding": coding}
    sent.update({name.replace("_", "-"): value for name, value in headers.items()})
    with httpx.Client(timeout=WAIT) as client:
        request = client.build_request(method, url, headers=sent)
        response = client.send(request, stream=True)
        response.raw_body = b"".join(response.iter_raw())  # type: ignore[attr-defined]
        response.close()
        return response


# -- precompressed siblings --------------------------------------------------------------------


@pytest.mark.parametrize(("coding", "suffix"), [("gzip", ".gz"), ("br", ".br"), ("zstd", ".zst")])
def test_precompressed_sibling_is_sent(
    base_url: str, files: Path, coding: str, suffix: str
) -> None:
    response = _get_raw(base_url + "/pre/app.js", coding)
    sibling = (files / ("app.js" + suffix)).read_bytes()
    assert response.status_code == 200
    assert response.headers["content-encoding"] == coding
    assert response.headers["vary"] == "Accept-Encoding"
    assert "javascript" in response.headers["content-type"]
    assert int(response.headers["content-length"]) == len(sibling)
    assert response.raw_body == sibling  # type: ignore[attr-defined]


def test_precompressed_follows_the_servers_order_and_the_clients_weights(base_url: str) -> None:
    assert _get_raw(base_url + "/pre/app.js", "gzip, br, zstd").headers["content-encoding"] == (
        "zstd"
    )
    chosen = _get_raw(base_url + "/pre/app.js", "gzip, br;q=0.5, zstd;q=0")
    assert chosen.headers["content-encoding"] == "gzip"


def test_httpx_decodes_a_precompressed_sibling(base_url: str) -> None:
    for coding in ("gzip", "br", "zstd"):
        response = _get(base_url + "/pre/app.js", coding)
        assert response.headers["content-encoding"] == coding
        assert response.content == CONTENT


def test_identity_when_no_sibling_is_accepted(base_url: str, files: Path) -> None:
    response = _get_raw(base_url + "/pre/app.js", "deflate")
    assert "content-encoding" not in response.headers
    assert response.headers["vary"] == "Accept-Encoding"
    assert response.raw_body == CONTENT  # type: ignore[attr-defined]


def test_a_stale_sibling_is_not_sent(base_url: str) -> None:
    response = _get_raw(base_url + "/pre/stale.js", "br")
    assert "content-encoding" not in response.headers
    assert response.raw_body == CONTENT  # type: ignore[attr-defined]


def test_precompressed_etag_differs_and_answers_conditionals(base_url: str) -> None:
    identity = _get_raw(base_url + "/pre/app.js", "identity")
    coded = _get_raw(base_url + "/pre/app.js", "br")
    assert coded.headers["etag"] != identity.headers["etag"]
    again = _get_raw(base_url + "/pre/app.js", "br", If_None_Match=coded.headers["etag"])
    assert again.status_code == 304
    assert again.raw_body == b""  # type: ignore[attr-defined]
    # The identity tag does not match the br representation.
    other = _get_raw(base_url + "/pre/app.js", "br", If_None_Match=identity.headers["etag"])
    assert other.status_code == 200


def test_ranges_apply_to_the_precompressed_representation(base_url: str, files: Path) -> None:
    sibling = (files / "app.js.gz").read_bytes()
    response = _get_raw(base_url + "/pre/app.js", "gzip", Range="bytes=10-19")
    assert response.status_code == 206
    assert response.headers["content-encoding"] == "gzip"
    assert response.headers["content-range"] == f"bytes 10-19/{len(sibling)}"
    assert response.raw_body == sibling[10:20]  # type: ignore[attr-defined]


def test_head_of_a_precompressed_file(base_url: str) -> None:
    get = _get_raw(base_url + "/pre/app.js", "br")
    head = _get_raw(base_url + "/pre/app.js", "br", "HEAD")
    assert {k: v for k, v in head.headers.items() if k != "date"} == {
        k: v for k, v in get.headers.items() if k != "date"
    }
    assert head.raw_body == b""  # type: ignore[attr-defined]


def test_precompressed_and_refused_compression_sends_the_file(files: Path) -> None:
    async def app(req: Request, res: Response) -> Response:
        return FileResponse(files / "app.js", precompressed=True, compression=False)

    with live_server(app) as server:
        response = _get_raw(server.url, "br")
    assert "content-encoding" not in response.headers
    assert "vary" not in response.headers
    assert response.raw_body == CONTENT  # type: ignore[attr-defined]


@POSIX_ONLY
def test_curl_decodes_a_precompressed_file(base_url: str) -> None:
    done = curl("--compressed", "-H", "Accept-Encoding: br", base_url + "/pre/app.js")
    assert done.returncode == 0, done.stderr
    assert done.stdout == CONTENT


# -- compressed on the way ---------------------------------------------------------------------


@pytest.mark.parametrize("coding", ["gzip", "br", "zstd"])
def test_file_is_compressed_on_the_way(base_url: str, coding: str) -> None:
    response = _get(base_url + "/plain.js", coding)
    assert response.headers["content-encoding"] == coding
    assert response.headers["transfer-encoding"] == "chunked"
    assert response.headers["vary"] == "Accept-Encoding"
    assert "content-length" not in response.headers
    assert response.content == CONTENT


def test_range_request_gets_the_identity_representation(base_url: str) -> None:
    response = _get_raw(base_url + "/plain.js", "gzip", Range="bytes=0-99")
    assert response.status_code == 206
    assert "content-encoding" not in response.headers
    assert response.headers["vary"] == "Accept-Encoding"
    assert response.raw_body == CONTENT[:100]  # type: ignore[attr-defined]


def test_compressed_file_etag_differs_and_answers_conditionals(base_url: str) -> None:
    identity = _get_raw(base_url + "/plain.js", "identity")
    coded = _get_raw(base_url + "/plain.js", "gzip")
    assert identity.headers["etag"] != coded.headers["etag"]
    again = _get_raw(base_url + "/plain.js", "gzip", If_None_Match=coded.headers["etag"])
    assert again.status_code == 304
    assert again.headers["etag"] == coded.headers["etag"]


def test_head_of_a_file_compressed_on_the_way(base_url: str) -> None:
    get = _get_raw(base_url + "/plain.js", "zstd")
    head = _get_raw(base_url + "/plain.js", "zstd", "HEAD")
    assert {k: v for k, v in head.headers.items() if k != "date"} == {
        k: v for k, v in get.headers.items() if k != "date"
    }
    assert head.raw_body == b""  # type: ignore[attr-defined]


def test_small_and_binary_files_are_not_compressed(base_url: str, files: Path) -> None:
    for name in ("small.txt", "image.png"):
        response = _get_raw(f"{base_url}/{name}", "gzip")
        assert "content-encoding" not in response.headers
        assert "vary" not in response.headers
        assert response.raw_body == (files / name).read_bytes()  # type: ignore[attr-defined]


@POSIX_ONLY
def test_curl_decodes_a_file_compressed_on_the_way(base_url: str) -> None:
    done = curl("--compressed", "-H", "Accept-Encoding: gzip", base_url + "/plain.js")
    assert done.returncode == 0, done.stderr
    assert done.stdout == CONTENT


def test_an_empty_file_is_sent_empty(files: Path) -> None:
    async def app(req: Request, res: Response) -> Response:
        return FileResponse(files / "empty.txt", compression=Compression(minimum_size=0))

    with live_server(app) as server:
        response = _get_raw(server.url, "gzip")
    assert response.status_code == 200
    assert "content-encoding" not in response.headers
    assert response.headers["content-length"] == "0"
    assert response.raw_body == b""  # type: ignore[attr-defined]
