"""Micro benchmark: cookies and server-sent events, side by side with their peers in one run.

cookies  ``TextResponse("ok")`` with two ``set_cookie`` calls, then ``encode()`` (the whole
         message); against Starlette's ``PlainTextResponse`` with the same two
         ``set_cookie`` calls plus the head join an ASGI server such as uvicorn does
         (``bench_responses.server_head``). Target: respcore at least 4x.
sse      ``ServerSentEvent(...).encode()``, made and encoded, for a one-line and a
         three-line event; against sse-starlette's ``ServerSentEvent(...).encode()``.
         Target: at least 3x.

Every pair is first checked to say the same thing: the same cookies as a cookie parser reads
them, the same events as an event-stream parser reads them. Rounds of the contenders are
interleaved and the best of each is kept, so a busy machine slows all of them alike.

    .venv/bin/python bench/bench_features.py [--rounds 7] [--number 20000]
"""

from __future__ import annotations

import argparse
import http.cookies
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx
from httpx_sse import EventSource
from sse_starlette.event import ServerSentEvent as StarletteEvent
from starlette.responses import PlainTextResponse

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_responses import server_head

import respcore
from respcore import ServerSentEvent, TextResponse

# -- cookies -----------------------------------------------------------------------------------


def respcore_cookies() -> bytes:
    response = TextResponse("ok")
    response.set_cookie("session", "abc123", max_age=3600, httponly=True)
    response.set_cookie("theme", "dark", samesite="strict")
    return response.encode()


def starlette_cookies() -> bytes:
    response = PlainTextResponse("ok")
    response.set_cookie("session", "abc123", max_age=3600, httponly=True)
    response.set_cookie("theme", "dark", samesite="strict")
    head, expected = server_head(response.status_code, response.raw_headers)
    body = response.body
    if len(body) > expected:
        raise RuntimeError("Response content longer than Content-Length")
    return head + body


def _cookies(message: bytes) -> dict[str, dict[str, str]]:
    """What a cookie parser reads from each Set-Cookie line: value and attributes."""
    jar: http.cookies.SimpleCookie = http.cookies.SimpleCookie()
    for line in message.split(b"\r\n\r\n")[0].split(b"\r\n")[1:]:
        name, _, value = line.decode("latin-1").partition(":")
        if name.lower() == "set-cookie":
            jar.load(value.strip())
    return {
        key: {"value": m.value, **{k: str(v).lower() for k, v in m.items() if v}}
        for key, m in jar.items()
    }


# -- server-sent events ------------------------------------------------------------------------

ONE_LINE = {"data": "hello world", "event": "update", "id": "42"}
THREE_LINES = {
    "data": "line one\nline two\nline three",
    "event": "update",
    "id": "42",
    "retry": 1000,
}


def _events(data: bytes) -> list[tuple[str, str, str, int | None]]:
    response = httpx.Response(200, headers={"content-type": "text/event-stream"}, content=data)
    return [(e.event, e.data, e.id, e.retry) for e in EventSource(response).iter_sse()]


def respcore_event(fields: dict[str, object]) -> Callable[[], bytes]:
    data, event, id_, retry = (fields.get(k) for k in ("data", "event", "id", "retry"))
    return lambda: ServerSentEvent(data, event, id_, retry).encode()  # type: ignore[arg-type]


def starlette_event(fields: dict[str, object]) -> Callable[[], bytes]:
    data, event, id_, retry = (fields.get(k) for k in ("data", "event", "id", "retry"))
    return lambda: StarletteEvent(data, event=event, id=id_, retry=retry).encode()  # type: ignore[arg-type]


# -- timing ------------------------------------------------------------------------------------


def _once(fn: Callable[[], bytes], number: int) -> float:
    start = time.perf_counter()
    for _ in range(number):
        fn()
    return (time.perf_counter() - start) / number * 1e9


def best_ns(
    contenders: dict[str, Callable[[], bytes]], number: int, rounds: int
) -> dict[str, float]:
    """Best ns per call of each contender, rounds interleaved."""
    best = {name: float("inf") for name in contenders}
    for _ in range(rounds):
        for name, fn in contenders.items():
            best[name] = min(best[name], _once(fn, number))
    return best


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--number", type=int, default=20000)
    args = parser.parse_args()

    ours, theirs = respcore_cookies(), starlette_cookies()
    assert _cookies(ours) == _cookies(theirs), (_cookies(ours), _cookies(theirs))
    groups = [
        ("cookies", "set_cookie x2 + encode()", {
            "respcore TextResponse + set_cookie x2 + encode()": respcore_cookies,
            "starlette PlainTextResponse + set_cookie x2 + server head join": starlette_cookies,
        }, 4.0),
    ]  # fmt: skip
    for label, fields in (("sse, one line", ONE_LINE), ("sse, three lines", THREE_LINES)):
        ours_fn, theirs_fn = respcore_event(fields), starlette_event(fields)
        assert _events(ours_fn()) == _events(theirs_fn()), (ours_fn(), theirs_fn())
        groups.append((label, "ServerSentEvent(...).encode()", {
            "respcore ServerSentEvent(...).encode()": ours_fn,
            "sse-starlette ServerSentEvent(...).encode()": theirs_fn,
        }, 3.0))  # fmt: skip

    print(f"respcore.COMPILED = {respcore.COMPILED}; Python {sys.version.split()[0]}; "
          f"best of {args.rounds} interleaved rounds of {args.number} calls")  # fmt: skip
    results = []
    for label, _, contenders, target in groups:
        times = best_ns(contenders, args.number, args.rounds)
        (_ours_name, ours_ns), (peer_name, peer_ns) = times.items()
        print(f"\n{label}")
        print(f"  {'contender':66} {'ns/call':>9}")
        for name, ns in times.items():
            print(f"  {name:66} {ns:9.0f}")
        results.append((f"{label}: respcore vs {peer_name.split()[0]}", peer_ns / ours_ns, target))
    print(f"\n{'ratio':60} {'value':>7} {'target':>8}  result")
    for name, ratio, target in results:
        verdict = "PASS" if ratio >= target else "MISS"
        print(f"{name:60} {ratio:6.2f}x {f'>= {target:.0f}x':>8}  {verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
