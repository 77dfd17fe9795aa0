"""Micro benchmark: a hello-world JSON response turned into wire bytes.

respcore: ``JsonResponse(...).encode()`` (the whole message, Date included).
Baseline: Starlette's ``JSONResponse(...)`` plus a head join the way an ASGI server such as
uvicorn does it (validate each field, lowercase, join with the status line and its own
``server``/``date`` fields) plus the body.

    .venv/bin/python -m pytest bench/bench_responses.py --benchmark-only   # tables
    .venv/bin/python bench/bench_responses.py                             # ratios
"""

from __future__ import annotations

import http
import re
import sys
import timeit
from collections.abc import Callable
from typing import Any

import orjson
import pytest
from starlette.responses import JSONResponse as StarletteJSONResponse

import respcore
from respcore import JsonResponse, set_json_dumps
from respcore._date import http_date

# -- the baseline: written here, shaped like an ASGI server's head join ------------------------

_NAME_FAULT = re.compile(rb"[^!#$%&'*+\-.^_`|~0-9A-Za-z]")
_VALUE_FAULT = re.compile(rb"[\x00-\x08\x0A-\x1F\x7F]")
_STATUS_LINES = {
    s.value: b"HTTP/1.1 %d %s\r\n" % (s.value, s.phrase.encode()) for s in http.HTTPStatus
}


_SERVER_DEFAULTS = [(b"server", b"uvicorn"), (b"date", http_date().encode())]


def server_head(
    status: int, headers: list[tuple[bytes, bytes]], method: bytes = b"GET"
) -> tuple[bytes, int]:
    """What an ASGI server does with ``http.response.start`` on HTTP/1.1: its own default
    fields first (refreshed by a timer, so a constant here), then for every field: check the
    name and value, lowercase the name, note Content-Length, Transfer-Encoding and
    ``Connection: close``; add chunked framing when nothing delimits the body."""
    parts = [_STATUS_LINES[status]]
    chunked: bool | None = None
    expected = 0
    keep_alive = True
    for name, value in _SERVER_DEFAULTS + list(headers):
        if _NAME_FAULT.search(name) or _VALUE_FAULT.search(value):
            raise ValueError("invalid header")
        name = name.lower()
        if name == b"content-length" and chunked is None:
            expected = int(value.decode())
            chunked = False
        elif name == b"transfer-encoding" and value.lower() == b"chunked":
            chunked = True
        elif name == b"connection" and value.lower() == b"close":
            keep_alive = False
        parts.extend([name, b": ", value, b"\r\n"])
    if chunked is None and method != b"HEAD" and status not in (204, 304):
        parts.append(b"transfer-encoding: chunked\r\n")
    parts.append(b"\r\n")
    assert keep_alive or expected >= 0
    return b"".join(parts), expected


def starlette_json() -> bytes:
    response = StarletteJSONResponse({"message": "Hello, world!"})
    head, expected = server_head(response.status_code, response.raw_headers)
    body = response.body
    if len(body) > expected:
        raise RuntimeError("Response content longer than Content-Length")
    return head + body


def respcore_json() -> bytes:
    return JsonResponse({"message": "Hello, world!"}).encode()


def respcore_json_orjson_per_response() -> bytes:
    return JsonResponse({"message": "Hello, world!"}, dumps=orjson.dumps).encode()


def respcore_json_orjson_module_wide() -> bytes:
    return JsonResponse({"message": "Hello, world!"}).encode()


@pytest.fixture
def orjson_module_wide() -> Any:
    previous = set_json_dumps(orjson.dumps)
    yield
    set_json_dumps(previous)


@pytest.mark.benchmark(group="json-hello")
def test_starlette_jsonresponse_and_server_head(benchmark: Any) -> None:
    assert benchmark(starlette_json).endswith(b'{"message":"Hello, world!"}')


@pytest.mark.benchmark(group="json-hello")
def test_respcore_jsonresponse_encode(benchmark: Any) -> None:
    assert benchmark(respcore_json).endswith(b'{"message":"Hello, world!"}')


@pytest.mark.benchmark(group="json-hello")
def test_respcore_jsonresponse_encode_orjson_per_response(benchmark: Any) -> None:
    assert benchmark(respcore_json_orjson_per_response).endswith(b'{"message":"Hello, world!"}')


@pytest.mark.benchmark(group="json-hello")
def test_respcore_jsonresponse_encode_orjson_module_wide(
    benchmark: Any, orjson_module_wide: Any
) -> None:
    assert benchmark(respcore_json_orjson_module_wide).endswith(b'{"message":"Hello, world!"}')


# -- ratios ------------------------------------------------------------------------------------


def _best_ns(fn: Callable[[], bytes], number: int, repeat: int) -> float:
    return min(timeit.repeat(fn, number=number, repeat=repeat)) / number * 1e9


def main() -> None:
    number, repeat = 100_000, 7
    cases: list[tuple[str, Callable[[], bytes], float]] = [
        ("respcore JsonResponse().encode() [stdlib json]", respcore_json, 4.0),
        (
            "respcore JsonResponse(dumps=orjson.dumps).encode()",
            respcore_json_orjson_per_response,
            6.0,
        ),
    ]
    baseline = _best_ns(starlette_json, number, repeat)
    rows = [("starlette JSONResponse + server head join", baseline, None, None)]
    for name, fn, target in cases:
        rows.append((name, _best_ns(fn, number, repeat), target, None))
    previous = set_json_dumps(orjson.dumps)
    try:
        rows.append(
            ("respcore JsonResponse().encode() [set_json_dumps(orjson.dumps)]",
             _best_ns(respcore_json_orjson_module_wide, number, repeat), 6.0, None)
        )  # fmt: skip
    finally:
        set_json_dumps(previous)
    print(f"respcore.COMPILED = {respcore.COMPILED}; Python {sys.version.split()[0]}")
    print(f"{'case':68} {'ns/op':>8} {'speed-up':>9} {'target':>7}")
    for name, ns, target, _ in rows:
        ratio = baseline / ns
        goal = "" if target is None else f">={target:.0f}x {'ok' if ratio >= target else 'MISS'}"
        print(f"{name:68} {ns:8.0f} {ratio:8.2f}x {goal:>7}")


if __name__ == "__main__":
    main()
