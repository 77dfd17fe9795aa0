"""Where a request's time goes in the server, without the kernel: each protocol is fed 100
pipelined GETs per ``data_received`` call on a transport that drops what it is given, so what
is timed is the Python (and compiled) work per request only. Best of many runs, in µs.

    .venv/bin/python bench/breakdown_server.py [--runs 30]

Rows: the ceiling's protocol (bench/load_apps.py: httptools callbacks, precomputed bytes);
respcore's connection (compiled, and its twin) with an app that returns one premade response,
with JsonResponse(DATA) and with the realistic response; the pieces an app pays for on its own
(building the response, serializing the 2 KiB JSON, framing a response with fields). The
difference to the load benchmark's wall-clock per request is the kernel, uvloop and the
client sharing the machine.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import load_apps
import uvloop

import respcore._pyprotocol
import respcore.protocol
import respcore.server
from respcore import JsonResponse, Response

GET = b"GET / HTTP/1.1\r\nHost: 127.0.0.1:8000\r\nUser-Agent: wrk\r\n\r\n"
REALISTIC = b"GET /realistic HTTP/1.1\r\nHost: 127.0.0.1:8000\r\nUser-Agent: wrk\r\n\r\n"
BATCH = 100


class DropTransport:
    """Takes writes and drops them: only the protocol's own work is timed."""

    def write(self, data: bytes) -> None:
        pass

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return default

    def is_closing(self) -> bool:
        return False

    def close(self) -> None:
        pass

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


PREMADE = JsonResponse(load_apps.DATA)


async def premade(req: Any, res: Response) -> Response:
    return PREMADE


def _twin_server_class() -> type[respcore.server.Server]:
    namespace = {
        name: value
        for name, value in vars(respcore.server._Connection).items()
        if name not in ("__dict__", "__weakref__")
    }
    twin = type("_Twin", (respcore._pyprotocol.Core, asyncio.Protocol), namespace)
    return type("_TwinServer", (respcore.server.Server,), {"connection_class": twin})


def per_request(make: Callable[[], Any], data: bytes, batches: int, runs: int) -> float:
    """Best µs per request over ``runs`` runs of ``batches`` batches of BATCH requests."""
    payload = data * BATCH
    best = float("inf")
    for _ in range(runs):
        protocol = make()
        protocol.connection_made(DropTransport())
        started = time.perf_counter()
        for _ in range(batches):
            protocol.data_received(payload)
        best = min(best, (time.perf_counter() - started) / (batches * BATCH))
    return best * 1e6


def per_call(fn: Callable[[], object], number: int, runs: int) -> float:
    best = float("inf")
    for _ in range(runs):
        started = time.perf_counter()
        for _ in range(number):
            fn()
        best = min(best, (time.perf_counter() - started) / number)
    return best * 1e6


async def main(runs: int) -> None:
    servers: list[tuple[str, type[respcore.server.Server]]] = [("twin", _twin_server_class())]
    if respcore.protocol.COMPILED:
        servers.insert(0, ("compiled", respcore.server.Server))
    rows: list[tuple[str, float]] = []
    rows.append(("ceiling protocol, GET /", per_request(load_apps.CeilingProtocol, GET, 5, runs)))
    for label, server_class in servers:
        for app_name, app, data, batches in (
            ("premade response", premade, GET, 5),
            ("JsonResponse(DATA)", load_apps.json_response, GET, 5),
            ("realistic", load_apps.json_response, REALISTIC, 1),
        ):
            server = server_class(app)
            value = per_request(lambda s=server: s.connection_class(s), data, batches, runs)
            rows.append((f"respcore {label}, {app_name}", value))
    response = JsonResponse(load_apps.REALISTIC, headers=load_apps.REALISTIC_FIELDS)
    rows += [
        ("  JsonResponse(DATA) alone", per_call(lambda: JsonResponse(load_apps.DATA), 5000, runs)),
        (
            "  JsonResponse(REALISTIC, headers=...) alone",
            per_call(
                lambda: JsonResponse(load_apps.REALISTIC, headers=load_apps.REALISTIC_FIELDS),
                500,
                runs,
            ),
        ),
        (
            "  the 2 KiB JSON serialized (stdlib C encoder)",
            per_call(lambda: load_apps.compact_json(load_apps.REALISTIC), 500, runs),
        ),
        (
            "  realistic response framed (plan + head + body)",
            per_call(lambda: response._wire("GET", "1.1", True), 5000, runs),
        ),
    ]
    width = max(len(label) for label, _ in rows)
    print(f"per request, best of {runs} runs (µs); compiled core: {respcore.protocol.COMPILED}")
    for label, value in rows:
        print(f"  {label.ljust(width)}  {value:8.2f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=30)
    uvloop.run(main(parser.parse_args().runs))
