"""Fixtures for the packaging tests: the wheel and the sdist built once per session from the
checkout, and fresh virtualenvs with each installed, probed from outside the checkout.

These tests install build dependencies (setuptools, Cython) from PyPI, so they skip when PyPI
cannot be reached. pip's cache is used; the builds themselves are never cached.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest
from _distkit import PROBE, ROOT, Dists, Install, clean_env, run


def _index_url() -> str:
    return os.environ.get("PIP_INDEX_URL", "https://pypi.org/simple/").rstrip("/") + "/pip/"


@pytest.fixture(scope="session")
def pypi() -> None:
    """Skip when the package index cannot be reached (one HEAD request, 5 s at most)."""
    url = _index_url()
    try:
        with urllib.request.urlopen(urllib.request.Request(url, method="HEAD"), timeout=5):
            pass
    except urllib.error.HTTPError:
        pass  # the index answered: it is reachable
    except (OSError, ValueError) as exc:
        pytest.skip(
            f"the package index ({url}) is unreachable ({exc}): these tests install "
            "build dependencies into fresh virtualenvs"
        )


def _sources_in_checkout() -> frozenset[str]:
    names = {"pyproject.toml", "setup.py", "MANIFEST.in", "README.md", "LICENSE"}
    for pattern in (
        "src/respcore/*.py",
        "src/respcore/*.pyx",
        "src/respcore/*.pyi",
        "src/respcore/py.typed",
        "tests/**/*.py",
        "docs/**/*.py",
    ):
        names.update(p.relative_to(ROOT).as_posix() for p in ROOT.glob(pattern) if p.is_file())
    return frozenset(names)


def copy_checkout(dest: Path) -> Path:
    """The checkout as a clone of it would be, with what `make build` leaves in src/ (the
    generated C and an in-place extension, which no distribution may carry), but none of
    the checkout's virtualenv, caches, build/ or stale *.egg-info (setuptools adds the files
    an old SOURCES.txt lists to a new sdist)."""
    ignore = shutil.ignore_patterns(
        ".git",
        ".venv",
        "venv",
        "build",
        "dist",
        "wheelhouse",
        "*.egg-info",
        "__pycache__",
        ".*_cache",
        ".hypothesis",
        ".benchmarks",
    )
    return Path(shutil.copytree(ROOT, dest / "respcore", ignore=ignore))


@pytest.fixture(scope="session")
def dists(pypi: None, tmp_path_factory: pytest.TempPathFactory) -> Dists:
    """``python -m build`` on a copy of the checkout: the sdist, then the wheel built from
    that sdist, as the release workflow does on a fresh clone."""
    pytest.importorskip("build", reason="needs the 'packaging' extra (make test-packaging)")
    expected = _sources_in_checkout()
    clone = copy_checkout(tmp_path_factory.mktemp("clone"))
    out = tmp_path_factory.mktemp("dist")
    run([sys.executable, "-m", "build", "--outdir", str(out), str(clone)])
    (wheel,) = out.glob("*.whl")
    (sdist,) = out.glob("*.tar.gz")
    return Dists(wheel=wheel, sdist=sdist, expected_in_sdist=expected)


def _venv_python(venv: Path) -> Path:
    if sys.platform == "win32":
        return venv / "Scripts" / "python.exe"
    return venv / "bin" / "python"


@pytest.fixture(scope="session")
def make_install(pypi: None, tmp_path_factory: pytest.TempPathFactory) -> Callable[..., Install]:
    """``make_install(target, *pip_args, **env)``: a fresh virtualenv (no pip, setuptools or
    Cython in it), ``pip install target`` into it with ``env`` added, then the probe."""

    def make(target: Path, *pip_args: str, **env: str) -> Install:
        venv = tmp_path_factory.mktemp("venv")
        run([sys.executable, "-m", "venv", "--without-pip", str(venv)])
        python = _venv_python(venv)
        pip = [sys.executable, "-m", "pip", "--python", str(python), "install", *pip_args]
        output = run([*pip, str(target)], env=clean_env(**env))
        # From an empty directory, isolated (-I), and without RESPCORE_NO_EXTENSIONS: what
        # is imported is what was installed, and COMPILED says what the install holds.
        probe_dir = tmp_path_factory.mktemp("probe")
        printed = run([str(python), "-I", "-c", PROBE], cwd=probe_dir)
        probe = json.loads(printed.splitlines()[-1])
        return Install(python=python, probe=probe, pip_output=output)

    return make


@pytest.fixture(scope="session")
def wheel_install(dists: Dists, make_install: Callable[..., Install]) -> Install:
    return make_install(dists.wheel)


@pytest.fixture(scope="session")
def sdist_install(dists: Dists, make_install: Callable[..., Install]) -> Install:
    return make_install(dists.sdist)


@pytest.fixture(scope="session")
def pure_install(
    make_install: Callable[..., Install], tmp_path_factory: pytest.TempPathFactory
) -> Install:
    """``RESPCORE_NO_EXTENSIONS=1 pip install .`` in a copy of the checkout (pip builds in
    the tree it is given: the shared checkout gets no build/ directory from this)."""
    clone = copy_checkout(tmp_path_factory.mktemp("clone"))
    return make_install(clone, RESPCORE_NO_EXTENSIONS="1")
