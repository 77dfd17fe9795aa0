#!/usr/bin/env python3
"""Differential fuzzing of the compiled core against its pure-Python twin (atheris).

    python fuzz/fuzz_encoder.py HARNESS [libFuzzer flags…] [CORPUS_DIR…]

HARNESS is one of ``HARNESSES``. Every input is turned into arguments for one entry point,
which is called on the compiled core and on the twin: both must return the same bytes or
raise the same exception type with the same message. Anything else is a finding.

``make fuzz`` builds the core with AddressSanitizer, UndefinedBehaviorSanitizer and
libFuzzer coverage (clang) into build/fuzz/ and runs each harness from there; set
``RESPCORE_FUZZ_CORE`` to the path of such a build to use it (the default is the core that
``import respcore._encoder`` finds).
"""

from __future__ import annotations

import importlib.util
import os
import sys
from collections.abc import Callable
from typing import Any

import atheris


def _load_core() -> Any:
    path = os.environ.get("RESPCORE_FUZZ_CORE")
    if not path:
        import respcore._encoder as core

        return core
    # respcore itself on its twin, so that nothing else imports a core from src/; then the
    # sanitizer build, loaded from its path under its own name.
    os.environ["RESPCORE_NO_EXTENSIONS"] = "1"
    import respcore  # noqa: F401

    spec = importlib.util.spec_from_file_location("respcore._encoder", path)
    assert spec is not None
    assert spec.loader is not None
    core = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(core)
    return core


with atheris.instrument_imports():
    compiled = _load_core()
    from respcore import _pyencoder as twin


class CompiledHeaders(compiled.FieldStore):  # type: ignore[misc,name-defined]
    """Fields on the compiled core's own storage, which encode_head reads directly."""


def outcome(fn: Callable[..., Any], *args: Any) -> tuple[Any, ...]:
    try:
        return ("returned", fn(*args))
    except (ValueError, TypeError) as exc:
        return ("raised", type(exc), str(exc))


def differ(name: str, *args: Any) -> None:
    by_compiled = outcome(getattr(compiled, name), *args)
    by_twin = outcome(getattr(twin, name), *args)
    if by_compiled != by_twin:
        raise AssertionError(f"{name}{args!r}: compiled {by_compiled!r} != twin {by_twin!r}")


# -- turning bytes into arguments -----------------------------------------------------------


def _text(fdp: atheris.FuzzedDataProvider, size: int) -> Any:
    """A field-ish value: str (any code points, often Latin-1), bytes, int or an odd type."""
    kind = fdp.ConsumeIntInRange(0, 7)
    if kind <= 2:
        return fdp.ConsumeBytes(size).decode("latin-1")
    if kind == 3:
        return fdp.ConsumeUnicodeNoSurrogates(size)
    if kind == 4:
        return fdp.ConsumeUnicode(size)
    if kind == 5:
        return fdp.ConsumeBytes(size)
    if kind == 6:
        return fdp.ConsumeIntInRange(-(2**40), 2**40)
    return [None, 1.5, True, bytearray(b"x")][fdp.ConsumeIntInRange(0, 3)]


def _status(fdp: atheris.FuzzedDataProvider) -> Any:
    if fdp.ConsumeBool():
        return fdp.ConsumeIntInRange(90, 1010)
    return [200, True, "200", None, 200.0][fdp.ConsumeIntInRange(0, 4)]


def _pairs(fdp: atheris.FuzzedDataProvider) -> list[Any]:
    return [
        (_text(fdp, 12), _text(fdp, 40)) if fdp.ConsumeIntInRange(0, 15) else _text(fdp, 4)
        for _ in range(fdp.ConsumeIntInRange(0, 8))
    ]


def head_pairs(data: bytes) -> None:
    fdp = atheris.FuzzedDataProvider(data)
    version = ["1.1", "1.0", "2.0"][fdp.ConsumeIntInRange(0, 2)]
    differ("encode_head", _status(fdp), _pairs(fdp), version)


def head_mapping(data: bytes) -> None:
    fdp = atheris.FuzzedDataProvider(data)
    status = _status(fdp)
    try:
        mapping = dict(pair for pair in _pairs(fdp) if isinstance(pair, tuple))
    except TypeError:  # an unhashable name
        return
    differ("encode_head", status, mapping)


def head_headers(data: bytes) -> None:
    fdp = atheris.FuzzedDataProvider(data)
    status = _status(fdp)
    headers = CompiledHeaders()
    for pair in _pairs(fdp):
        try:
            headers._fields.append(compiled.check_field(*pair))
        except (ValueError, TypeError):
            continue
    by_compiled = outcome(compiled.encode_head, status, headers)
    by_twin = outcome(twin.encode_head, status, list(headers._fields))
    if by_compiled != by_twin:
        raise AssertionError(
            f"encode_head({status!r}, {headers._fields!r}): compiled "
            f"{by_compiled!r} != twin {by_twin!r}"
        )


def status_line(data: bytes) -> None:
    fdp = atheris.FuzzedDataProvider(data)
    version = [None, "1.0", "1.1", "1.2", 1.1][fdp.ConsumeIntInRange(0, 4)]
    args = (_status(fdp),) if version is None else (_status(fdp), version)
    differ("encode_status_line", *args)


def chunk(data: bytes) -> None:
    fdp = atheris.FuzzedDataProvider(data)
    kind = fdp.ConsumeIntInRange(0, 5)
    payload = fdp.ConsumeBytes(fdp.ConsumeIntInRange(0, 4096))
    value: Any = [
        payload,
        bytearray(payload),
        memoryview(payload),
        memoryview(payload)[:: max(1, len(payload) % 5)],
        payload.decode("latin-1"),
        fdp.ConsumeUnicode(64),
    ][kind]
    differ("encode_chunk", value)


def disposition(data: bytes) -> None:
    fdp = atheris.FuzzedDataProvider(data)
    kind = ["attachment", "inline", fdp.ConsumeUnicode(8), 3][fdp.ConsumeIntInRange(0, 3)]
    filename: Any = fdp.ConsumeUnicode(48) if fdp.ConsumeIntInRange(0, 9) else None
    differ("content_disposition", filename, kind)


def event(data: bytes) -> None:
    fdp = atheris.FuzzedDataProvider(data)

    def field() -> Any:
        choice = fdp.ConsumeIntInRange(0, 6)
        if choice == 0:
            return None
        if choice == 6:
            return b"bytes"
        return fdp.ConsumeUnicode(fdp.ConsumeIntInRange(0, 80))

    retry: Any = None
    if fdp.ConsumeBool():
        retry = fdp.ConsumeIntInRange(-3, 2**40) if fdp.ConsumeIntInRange(0, 7) else True
    differ("encode_event", field(), field(), field(), retry, field())


HARNESSES: dict[str, Callable[[bytes], None]] = {
    "head_pairs": head_pairs,
    "head_mapping": head_mapping,
    "head_headers": head_headers,
    "status_line": status_line,
    "chunk": chunk,
    "disposition": disposition,
    "event": event,
}


def main() -> None:
    # libFuzzer re-runs this script for -merge and -fork without the harness argument: the
    # choice travels to those runs in the environment.
    name = os.environ.get("RESPCORE_FUZZ_HARNESS")
    if name is None:
        if len(sys.argv) < 2 or sys.argv[1] not in HARNESSES:
            raise SystemExit(
                "usage: fuzz_encoder.py HARNESS [libFuzzer flags]; HARNESS is one of "
                + ", ".join(HARNESSES)
            )
        name = sys.argv.pop(1)
        os.environ["RESPCORE_FUZZ_HARNESS"] = name
    atheris.Setup(sys.argv, HARNESSES[name])
    atheris.Fuzz()


if __name__ == "__main__":
    main()
