#!/usr/bin/env python3
"""Differential fuzzing of the server's compiled per-request path against its twin (atheris).

    python fuzz/fuzz_protocol.py protocol [libFuzzer flags…] [CORPUS_DIR…]

Each input is cut into reads and fed, read by read, to two connections of the server: one
built on the compiled ``Core`` (``respcore._protocol``), one on the pure-Python ``Core``
(``respcore._pyprotocol``), each on an in-memory transport inside a stock asyncio loop. Both
must write the same bytes (the Date field aside) and close the connection alike.

``RESPCORE_FUZZ_PROTOCOL`` names a sanitizer build of ``_protocol`` (``make fuzz-build``);
without it the compiled protocol ``import respcore._protocol`` finds is used.
"""

from __future__ import annotations

import asyncio
import importlib.util
import logging
import os
import re
import sys
from typing import Any

import atheris


def _load_protocol() -> Any:
    path = os.environ.get("RESPCORE_FUZZ_PROTOCOL")
    if not path:
        import respcore._protocol as protocol

        return protocol
    # respcore on its twins, so nothing else imports a core from src/; then the sanitizer
    # build of the protocol, loaded from its path under its own name.
    os.environ["RESPCORE_NO_EXTENSIONS"] = "1"
    import respcore  # noqa: F401

    spec = importlib.util.spec_from_file_location("respcore._protocol", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


with atheris.instrument_imports():
    compiled = _load_protocol()
    import respcore._pyprotocol as twin
    from respcore import JsonResponse, Response
    from respcore.server import Server, _Connection

_DATE = re.compile(rb"\r\nDate: [^\r]*")
# The app's faults are logged on every input; the outcome on the wire is what is compared.
logging.disable(logging.CRITICAL)


def _connection_class(core: type) -> type:
    namespace = {
        name: value
        for name, value in vars(_Connection).items()
        if name not in ("__dict__", "__weakref__")
    }
    return type(f"Fuzzed{core.__module__}", (core, asyncio.Protocol), namespace)


CLASSES = {"compiled": _connection_class(compiled.Core), "twin": _connection_class(twin.Core)}


class MemoryTransport(asyncio.Transport):
    """A transport that keeps what is written, for a connection driven by hand."""

    def __init__(self) -> None:
        super().__init__()
        self.written = bytearray()
        self.closed = False
        self.aborted = False
        self.reading = True

    def write(self, data: Any) -> None:
        if not self.closed:
            self.written += data

    def writelines(self, list_of_data: Any) -> None:
        for data in list_of_data:
            self.write(data)

    def close(self) -> None:
        self.closed = True

    def abort(self) -> None:
        self.closed = self.aborted = True

    def is_closing(self) -> bool:
        return self.closed

    def pause_reading(self) -> None:
        self.reading = False

    def resume_reading(self) -> None:
        self.reading = True

    def get_write_buffer_size(self) -> int:
        return 0

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return default


async def app(req: Any, res: Response) -> Response | None:
    path = req.path
    if path.startswith("/wait"):
        await asyncio.sleep(0)
    if path.startswith("/raise"):
        raise RuntimeError("the app failed")
    body = await req.body()
    if path.startswith("/text"):
        res.text = f"{req.method} {req.query_string} {len(body)}"
        res.headers["X-Version"] = req.version
        return None
    return JsonResponse({"m": req.method, "p": req.raw_path.decode("latin-1"), "b": len(body)})


async def _serve(kind: str, reads: list[bytes]) -> tuple[bytes, bool]:
    server = Server(app, max_head_size=600, max_body_size=64, zero_copy=False)
    connection = CLASSES[kind](server)
    transport = MemoryTransport()
    connection.connection_made(transport)
    for data in reads:
        if transport.closed:
            break
        connection.data_received(data)
        for _ in range(4):  # let apps that wait, and their sends, run (bounded)
            await asyncio.sleep(0)
    for _ in range(8):
        await asyncio.sleep(0)
    for task in list(server.tasks):
        task.cancel()
    if server.tasks:
        await asyncio.wait(list(server.tasks), timeout=1)
    return _DATE.sub(b"", bytes(transport.written)), transport.closed


LOOP = asyncio.new_event_loop()


def protocol(data: bytes) -> None:
    fdp = atheris.FuzzedDataProvider(data)
    reads = [
        fdp.ConsumeBytes(fdp.ConsumeIntInRange(1, 64)) for _ in range(fdp.ConsumeIntInRange(1, 6))
    ]
    reads.append(fdp.ConsumeBytes(fdp.remaining_bytes()))
    reads = [r for r in reads if r]
    by_compiled = LOOP.run_until_complete(_serve("compiled", reads))
    by_twin = LOOP.run_until_complete(_serve("twin", reads))
    if by_compiled != by_twin:
        raise AssertionError(f"reads {reads!r}: compiled {by_compiled!r} != twin {by_twin!r}")


HARNESSES = {
    "protocol": protocol,
}


def main() -> None:
    os.environ.setdefault("RESPCORE_FUZZ_HARNESS", "protocol")
    if len(sys.argv) > 1 and sys.argv[1] in HARNESSES:
        sys.argv.pop(1)
    atheris.Setup(sys.argv, HARNESSES[os.environ["RESPCORE_FUZZ_HARNESS"]])
    atheris.Fuzz()


if __name__ == "__main__":
    main()
