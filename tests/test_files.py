"""File bodies end to end: ranges and conditional requests (RFC 9110 §13-14) answered the same
way by respcore's server (zero-copy and read paths) and by the ASGI path under uvicorn, judged
by curl, httpx and the standard library's multipart parser; and a 1 GiB file sent with the
server's memory held flat."""

from __future__ import annotations

import email
import email.policy
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from _live import live_server
from _servers import curl, serve

from respcore import FileResponse, Response
from respcore.server import Request

SIZE = 200_000


@pytest.fixture(scope="module")
def data_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("files") / "data.bin"
    path.write_bytes(os.urandom(SIZE))
    # Older than a second: Last-Modified is a strong validator for If-Range (RFC 9110 §8.8.2.2).
    old = time.time() - 60
    os.utime(path, (old, old))
    return path


@pytest.fixture(scope="module", params=["server", "server-no-zero-copy", "asgi"])
def base_url(request: pytest.FixtureRequest, data_file: Path) -> Iterator[str]:
    """The same file response (``res.file(..., attach=False)``, ``text/plain`` for the
    multipart parts) on each sending path."""
    if request.param == "asgi":
        with serve(FileResponse(data_file, attach=False, media_type="text/plain")) as url:
            yield url
        return

    async def app(req: Request, res: Response) -> None:
        res.file(data_file, attach=False, media_type="text/plain")

    zero_copy = request.param == "server"
    with live_server(app, zero_copy=zero_copy) as live:
        yield live.url


def get(url: str, **headers: str) -> httpx.Response:
    return httpx.get(url, headers=headers, timeout=10)


def test_whole_file_has_validators_and_accept_ranges(base_url: str, data_file: Path) -> None:
    response = get(base_url)
    assert response.status_code == 200
    assert response.content == data_file.read_bytes()
    assert response.headers["accept-ranges"] == "bytes"
    assert response.headers["content-length"] == str(SIZE)
    assert re.fullmatch(r'"[0-9a-f]+-[0-9a-f]+"', response.headers["etag"])
    assert response.headers["last-modified"].endswith(" GMT")


@pytest.mark.parametrize(
    ("spec", "first", "last"),
    [("100-199", 100, 199), (f"{SIZE - 10}-", SIZE - 10, SIZE - 1), ("-10", SIZE - 10, SIZE - 1)],
)
def test_curl_range_gives_the_bytes(
    base_url: str, data_file: Path, spec: str, first: int, last: int
) -> None:
    result = curl("-s", "-D", "-", "--range", spec, base_url)
    head, _, body = result.stdout.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 206 Partial Content\r\n")
    # uvicorn lowercases header names
    assert f"content-range: bytes {first}-{last}/{SIZE}".encode() in head.lower()
    assert body == data_file.read_bytes()[first : last + 1]


def test_curl_resume_completes_a_partial_download(
    base_url: str, data_file: Path, tmp_path: Path
) -> None:
    target = tmp_path / "partial.bin"
    target.write_bytes(data_file.read_bytes()[:12345])
    curl("-s", "-C", "-", "-o", str(target), base_url)
    assert target.read_bytes() == data_file.read_bytes()


def test_multiple_ranges_are_multipart_and_parse_back(base_url: str, data_file: Path) -> None:
    # 5-12 overlaps 0-9: coalesced into 0-12; the parts keep the order of the request.
    response = get(base_url, Range="bytes=50000-50099, 0-9, 5-12")
    assert response.status_code == 206
    content_type = response.headers["content-type"]
    assert content_type.startswith("multipart/byteranges; boundary=")
    assert int(response.headers["content-length"]) == len(response.content)
    message = email.message_from_bytes(
        f"Content-Type: {content_type}\r\n\r\n".encode() + response.content,
        policy=email.policy.HTTP,
    )
    parts = list(message.iter_parts())
    data = data_file.read_bytes()
    assert [part["Content-Range"] for part in parts] == [
        f"bytes 50000-50099/{SIZE}",
        f"bytes 0-12/{SIZE}",
    ]
    assert [part.get_payload(decode=True) for part in parts] == [data[50000:50100], data[0:13]]
    assert all(part["Content-Type"] == "text/plain" for part in parts)


@pytest.mark.parametrize("spec", [f"bytes={SIZE}-", "bytes=-0", f"bytes={SIZE + 5}-{SIZE + 9}"])
def test_unsatisfiable_range_is_416(base_url: str, spec: str) -> None:
    response = get(base_url, Range=spec)
    assert response.status_code == 416
    assert response.headers["content-range"] == f"bytes */{SIZE}"
    assert response.content == b""


@pytest.mark.parametrize(
    "spec",
    [
        "bytes=5-4",  # last before first: malformed
        "items=0-5",  # not a bytes range
        "bytes=abc",
        ",".join(f"{n * 2}-{n * 2}" for n in range(500)),  # 500 tiny ranges: over the cap
    ],
)
def test_malformed_or_too_many_ranges_get_the_whole_file(
    base_url: str, data_file: Path, spec: str
) -> None:
    header = spec if spec.startswith(("bytes", "items")) else f"bytes={spec}"
    response = get(base_url, Range=header)
    assert response.status_code == 200
    assert response.content == data_file.read_bytes()


def test_suffix_longer_than_the_file_is_the_whole_file_as_206(
    base_url: str, data_file: Path
) -> None:
    response = get(base_url, Range=f"bytes=-{SIZE * 3}")
    assert response.status_code == 206
    assert response.headers["content-range"] == f"bytes 0-{SIZE - 1}/{SIZE}"
    assert response.content == data_file.read_bytes()


def test_if_none_match_gives_304_with_validators_and_no_body(base_url: str) -> None:
    first = get(base_url)
    etag, modified = first.headers["etag"], first.headers["last-modified"]
    for headers in ({"If-None-Match": etag}, {"If-None-Match": f'"other", W/{etag}'}, {}):
        if not headers:
            headers = {"If-Modified-Since": modified}
        response = get(base_url, **headers)
        assert response.status_code == 304
        assert response.content == b""
        assert response.headers["etag"] == etag
        assert response.headers["last-modified"] == modified
        assert "content-length" not in response.headers
        assert "content-type" not in response.headers


def test_if_none_match_takes_precedence_over_if_modified_since(base_url: str) -> None:
    modified = get(base_url).headers["last-modified"]
    response = get(base_url, **{"If-None-Match": '"other"', "If-Modified-Since": modified})
    assert response.status_code == 200


def test_failed_preconditions_give_412(base_url: str) -> None:
    assert get(base_url, **{"If-Match": '"other"'}).status_code == 412
    since = "Sun, 06 Nov 1994 08:49:37 GMT"
    assert get(base_url, **{"If-Unmodified-Since": since}).status_code == 412
    etag = get(base_url).headers["etag"]
    assert get(base_url, **{"If-Match": etag}).status_code == 200


def test_if_range_matching_gives_the_range_else_the_whole_file(
    base_url: str, data_file: Path
) -> None:
    first = get(base_url)
    etag, modified = first.headers["etag"], first.headers["last-modified"]
    for validator in (etag, modified):
        response = get(base_url, Range="bytes=0-3", **{"If-Range": validator})
        assert response.status_code == 206
        assert response.content == data_file.read_bytes()[:4]
    for stale in ('"stale"', f"W/{etag}", "Sun, 06 Nov 1994 08:49:37 GMT"):
        response = get(base_url, Range="bytes=0-3", **{"If-Range": stale})
        assert response.status_code == 200
        assert response.content == data_file.read_bytes()


def test_head_ignores_range_and_gets_the_get_head(base_url: str) -> None:
    response = httpx.head(base_url, headers={"Range": "bytes=0-3"}, timeout=10)
    assert response.status_code == 200
    assert response.headers["content-length"] == str(SIZE)
    assert response.content == b""


BIG_APP = """
import os
from respcore import FileResponse

async def app(req, res):
    return FileResponse(os.environ["BIG_FILE"], attach=False)
"""


def _peak_rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise AssertionError("no VmHWM")


@pytest.mark.skipif(sys.platform != "linux", reason="reads /proc")
def test_one_gib_file_is_sent_whole_with_flat_server_memory(tmp_path: Path) -> None:
    big = tmp_path / "big.bin"
    with big.open("wb") as file:
        file.truncate(1 << 30)  # sparse: reads as zeros without touching the disk
    (tmp_path / "bigapp.py").write_text(BIG_APP)
    process = subprocess.Popen(
        [sys.executable, "-m", "respcore", "serve", "bigapp:app", "--port", "0"],
        cwd=tmp_path,
        env={**os.environ, "BIG_FILE": str(big)},
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stderr is not None
        url = None
        for line in process.stderr:
            match = re.search(r"serving on (http://\S+)", line)
            if match:
                url = match.group(1)
                break
        assert url is not None, "the server did not log its address"
        warm = httpx.get(url, headers={"Range": "bytes=0-1048575"}, timeout=10)
        assert warm.status_code == 206
        before = _peak_rss_kib(process.pid)
        result = curl("-s", "-o", "/dev/null", "-w", "%{http_code} %{size_download}", url)
        assert result.stdout == f"200 {1 << 30}".encode()
        growth = _peak_rss_kib(process.pid) - before
        assert growth < 16 * 1024, f"peak RSS grew by {growth} KiB"
    finally:
        process.terminate()
        process.wait(10)
