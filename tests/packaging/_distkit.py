"""Helpers for the packaging tests: running commands, the version as the source states it,
the probe run inside each fresh install, and the records the fixtures hand to the tests."""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
VERSION_FILE = ROOT / "src" / "respcore" / "_version.py"

# Fields the probe encodes in each fresh install; the tests judge the bytes with real parsers.
PROBE_FIELDS = [
    ("Content-Type", "text/plain; charset=utf-8"),
    ("Content-Length", 5),
    ("Set-Cookie", "a=1; Path=/"),
    ("Set-Cookie", "b=2; Path=/"),
]

# Runs inside a fresh virtualenv with ``python -I`` from an empty directory, so the
# checkout's src/ cannot be what gets imported. Prints one JSON object, on its last line.
PROBE = f"""
import importlib.metadata, importlib.util, json, sys
from pathlib import Path

import respcore
import respcore.protocol

package = Path(respcore.__file__).parent
try:
    respcore.encode_head(200, [("Location", "/a\\r\\nSet-Cookie: admin=1")])
except ValueError as exc:
    error = str(exc)
else:
    error = None
print(json.dumps({{
    "prefix": sys.prefix,
    "file": respcore.__file__,
    "compiled": respcore.COMPILED,
    "core": respcore.encode_head.__module__,
    "protocol": respcore.protocol.Core.__module__,
    "version": respcore.__version__,
    "metadata_version": importlib.metadata.version("respcore"),
    "package_files": sorted(p.name for p in package.iterdir() if p.is_file()),
    "cython_installed": importlib.util.find_spec("Cython") is not None,
    "head": respcore.encode_head(201, {PROBE_FIELDS!r}).decode("latin-1"),
    "status_line": respcore.encode_status_line(413, "1.0").decode("latin-1"),
    "chunks": (respcore.encode_chunk("h\\u00e9llo") + respcore.LAST_CHUNK).decode("latin-1"),
    "disposition": respcore.content_disposition("/srv/r\\u00e9sum\\u00e9.pdf"),
    "error": error,
}}))
"""


def source_version() -> str:
    """The version as written in src/respcore/_version.py, the one place that holds it."""
    namespace: dict[str, Any] = {}
    exec(VERSION_FILE.read_text(), namespace)
    version = namespace["__version__"]
    assert isinstance(version, str)
    return version


def clean_env(**extra: str) -> dict[str, str]:
    """The environment for builds and probes: nothing that points Python at the checkout or
    forces the pure-Python twin, unless asked for."""
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("RESPCORE_NO_EXTENSIONS", "PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP")
        and not key.startswith("CIBW_")
    }
    env.update(PIP_DISABLE_PIP_VERSION_CHECK="1", PIP_NO_INPUT="1", **extra)
    return env


def run(args: list[str], *, cwd: Path | None = None, env: dict[str, str] | None = None) -> str:
    """Run a command; fail the test with its output when it fails; return stdout+stderr."""
    result = subprocess.run(
        args,
        cwd=cwd,
        env=clean_env() if env is None else env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        pytest.fail(
            f"{' '.join(args)} exited with {result.returncode}:\n{result.stdout[-6000:]}",
            pytrace=False,
        )
    return result.stdout


@dataclass(frozen=True)
class Dists:
    wheel: Path
    sdist: Path
    # Files the sdist must carry, listed from the checkout just before the build.
    expected_in_sdist: frozenset[str]


@dataclass(frozen=True)
class Install:
    """A fresh virtualenv with respcore installed, and what the probe saw in it."""

    python: Path
    probe: dict[str, Any]
    pip_output: str
