"""The wheel and the sdist built from the checkout, and what each gives once installed into a
fresh virtualenv: the compiled core from the wheel and from the sdist (Cython brought by build
isolation), the pure-Python twin from ``RESPCORE_NO_EXTENSIONS=1 pip install .``."""

from __future__ import annotations

import email.parser
import importlib.machinery
import json
import platform
import re
import signal
import subprocess
import sys
import tarfile
import threading
import zipfile
from pathlib import Path, PurePosixPath
from typing import Any

import httpx
import pytest
from _distkit import Dists, Install, run, source_version
from _judges import disposition_filename, parse_h11, parse_httptools

pytestmark = pytest.mark.packaging

EXTENSION_SUFFIXES = tuple(importlib.machinery.EXTENSION_SUFFIXES)
GENERATED = (".c", ".o", ".obj", ".h")

EXPECTED_HEAD = (
    b"HTTP/1.1 201 Created\r\n"
    b"Content-Type: text/plain; charset=utf-8\r\n"
    b"Content-Length: 5\r\n"
    b"Set-Cookie: a=1; Path=/\r\n"
    b"Set-Cookie: b=2; Path=/\r\n"
    b"\r\n"
)


def wheel_names(wheel: Path) -> list[str]:
    with zipfile.ZipFile(wheel) as archive:
        return archive.namelist()


def wheel_text(wheel: Path, name: str) -> str:
    with zipfile.ZipFile(wheel) as archive:
        return archive.read(name).decode()


def sdist_names(sdist: Path) -> dict[str, tarfile.TarInfo]:
    """Members of the sdist by their path below its top directory."""
    with tarfile.open(sdist) as archive:
        members = archive.getmembers()
    top = f"respcore-{source_version()}"
    assert all(PurePosixPath(m.name).parts[0] == top for m in members)
    return {
        PurePosixPath(*PurePosixPath(m.name).parts[1:]).as_posix(): m
        for m in members
        if len(PurePosixPath(m.name).parts) > 1
    }


def sdist_text(sdist: Path, name: str) -> str:
    with tarfile.open(sdist) as archive:
        member = archive.extractfile(f"respcore-{source_version()}/{name}")
        assert member is not None
        return member.read().decode()


def metadata(text: str) -> Any:
    return email.parser.Parser().parsestr(text)


def extension_files(names: list[str]) -> list[str]:
    return [n for n in names if n.endswith(EXTENSION_SUFFIXES) or n.endswith((".so", ".pyd"))]


# The wheel


def test_wheel_holds_the_compiled_core_its_stub_and_py_typed(dists: Dists) -> None:
    names = wheel_names(dists.wheel)
    extensions = sorted(extension_files(names))
    assert [e.split(".")[0] for e in extensions] == ["respcore/_encoder", "respcore/_protocol"]
    for extension in extensions:
        assert extension.endswith(EXTENSION_SUFFIXES[0])  # built for this interpreter
    assert "respcore/_encoder.pyi" in names
    assert "respcore/_protocol.pyi" in names
    assert "respcore/py.typed" in names


def test_wheel_holds_no_generated_c_nor_build_inputs(dists: Dists) -> None:
    names = wheel_names(dists.wheel)
    assert [n for n in names if n.endswith((*GENERATED, ".pyx"))] == []
    assert [n for n in names if not n.startswith(("respcore/", "respcore-"))] == []


def test_wheel_holds_every_module_of_the_package(dists: Dists) -> None:
    in_sdist = {
        PurePosixPath(n).name
        for n in sdist_names(dists.sdist)
        if n.startswith("src/respcore/") and n.endswith(".py")
    }
    in_wheel = {
        PurePosixPath(n).name
        for n in wheel_names(dists.wheel)
        if n.startswith("respcore/") and n.endswith(".py")
    }
    assert in_wheel == in_sdist
    assert {"__init__.py", "_version.py", "_pyencoder.py", "encoder.py"} <= in_wheel


def test_wheel_is_a_platform_wheel_for_this_interpreter(dists: Dists) -> None:
    from packaging.tags import sys_tags
    from packaging.utils import parse_wheel_filename

    name, version, _, tags = parse_wheel_filename(dists.wheel.name)
    assert name == "respcore"
    assert str(version) == source_version()
    assert tags & set(sys_tags())  # pip would install it here
    assert all(tag.abi != "none" and tag.platform != "any" for tag in tags)
    wheel = metadata(wheel_text(dists.wheel, f"respcore-{version}.dist-info/WHEEL"))
    assert wheel["Root-Is-Purelib"] == "false"


def test_wheel_and_sdist_metadata_carry_the_version_from_version_py(dists: Dists) -> None:
    version = source_version()
    in_wheel = metadata(wheel_text(dists.wheel, f"respcore-{version}.dist-info/METADATA"))
    in_sdist = metadata(sdist_text(dists.sdist, "PKG-INFO"))
    for meta in (in_wheel, in_sdist):
        assert meta["Name"] == "respcore"
        assert meta["Version"] == version
        assert meta["Requires-Python"] == ">=3.10"
        assert meta["License-Expression"] == "MIT"
    assert dists.sdist.name == f"respcore-{version}.tar.gz"
    assert f"respcore-{version}.dist-info/licenses/LICENSE" in wheel_names(dists.wheel)


@pytest.mark.skipif(
    sys.platform != "linux" or platform.libc_ver()[0] != "glibc", reason="glibc Linux only"
)
def test_auditwheel_show_reports_a_manylinux_tag(dists: Dists) -> None:
    pytest.importorskip("auditwheel", reason="needs the 'packaging' extra")
    output = run([sys.executable, "-m", "auditwheel", "show", str(dists.wheel)])
    assert re.search(r'platform tag:\s+"manylinux_2_\d+_\w+"', output), output


# The sdist


def test_sdist_carries_the_sources_tests_docs_and_typing_files(dists: Dists) -> None:
    names = sdist_names(dists.sdist)
    missing = sorted(dists.expected_in_sdist - names.keys())
    assert missing == []
    for name in (
        "PKG-INFO",
        "README.md",
        "LICENSE",
        "src/respcore/_encoder.pyx",
        "src/respcore/_encoder.pyi",
        "src/respcore/_protocol.pyx",
        "src/respcore/_protocol.pyi",
        "src/respcore/py.typed",
        "tests/conftest.py",
        "tests/packaging/conftest.py",
    ):
        assert name in names


def test_sdist_carries_no_generated_c_binaries_or_caches(dists: Dists) -> None:
    names = sdist_names(dists.sdist)
    unwanted = [
        name
        for name in names
        if name.endswith((*GENERATED, ".so", ".pyd", ".pyc", ".whl"))
        or re.match(r"(build|dist|wheelhouse|\.venv|\.git)(/|$)", name)
        or "__pycache__" in name
    ]
    assert unwanted == []


# What each install gives


def test_wheel_install_runs_on_the_compiled_core(wheel_install: Install) -> None:
    probe = wheel_install.probe
    assert probe["compiled"] is True
    assert probe["core"] == "respcore._encoder"
    assert probe["protocol"] == "respcore._protocol"
    assert Path(probe["file"]).is_relative_to(probe["prefix"])  # not the checkout's src/
    assert probe["version"] == probe["metadata_version"] == source_version()
    assert {"_encoder.pyi", "py.typed"} <= set(probe["package_files"])
    assert [f for f in probe["package_files"] if f.endswith(GENERATED)] == []


def test_sdist_install_compiles_the_core_with_cython_from_build_isolation(
    sdist_install: Install,
) -> None:
    probe = sdist_install.probe
    assert probe["cython_installed"] is False  # the fresh venv never had Cython
    assert probe["compiled"] is True
    assert probe["core"] == "respcore._encoder"
    assert probe["protocol"] == "respcore._protocol"
    assert Path(probe["file"]).is_relative_to(probe["prefix"])
    assert len(extension_files(probe["package_files"])) == 2
    assert probe["version"] == probe["metadata_version"] == source_version()


def test_pure_install_runs_the_twin_and_holds_no_extension(pure_install: Install) -> None:
    probe = pure_install.probe
    # The probe runs without RESPCORE_NO_EXTENSIONS: the install itself is pure.
    assert probe["compiled"] is False
    assert probe["core"] == "respcore._pyencoder"
    assert probe["protocol"] == "respcore._pyprotocol"
    assert Path(probe["file"]).is_relative_to(probe["prefix"])
    assert extension_files(probe["package_files"]) == []
    assert {"_encoder.pyi", "py.typed"} <= set(probe["package_files"])
    assert probe["version"] == probe["metadata_version"] == source_version()


def test_pure_install_is_a_universal_wheel(pure_install: Install) -> None:
    # py3-none-any: what PyPy and machines without a compiler can install as it is.
    dist_info = Path(pure_install.probe["file"]).parent.parent / (
        f"respcore-{source_version()}.dist-info"
    )
    wheel = metadata((dist_info / "WHEEL").read_text())
    assert wheel.get_all("Tag") == ["py3-none-any"]
    assert wheel["Root-Is-Purelib"] == "true"


@pytest.mark.skipif(sys.platform == "win32", reason="CC selects the compiler on POSIX only")
def test_sdist_without_a_working_compiler_installs_the_pure_twin(
    dists: Dists, make_install: Any
) -> None:
    install = make_install(dists.sdist, "--verbose", CC="false")
    assert install.probe["compiled"] is False
    assert extension_files(install.probe["package_files"]) == []
    assert "respcore's compiled core was not built" in install.pip_output


INSTALLS = ["wheel_install", "sdist_install", "pure_install"]


@pytest.mark.parametrize("install", INSTALLS)
def test_installed_head_is_read_back_by_real_parsers(
    install: str, request: pytest.FixtureRequest
) -> None:
    probe = request.getfixturevalue(install).probe
    head = probe["head"].encode("latin-1")
    assert head == EXPECTED_HEAD
    for parse in (parse_h11, parse_httptools):
        parsed = parse(head + b"hello")
        assert parsed.status == 201
        assert parsed.reason == b"Created"
        assert [(n.lower(), v) for n, v in parsed.headers] == [
            (b"content-type", b"text/plain; charset=utf-8"),
            (b"content-length", b"5"),
            (b"set-cookie", b"a=1; Path=/"),
            (b"set-cookie", b"b=2; Path=/"),
        ]
        assert parsed.body == b"hello"
        assert parsed.complete


@pytest.mark.parametrize("install", INSTALLS)
def test_installed_encoder_frames_chunks_names_files_and_refuses_splitting(
    install: str, request: pytest.FixtureRequest
) -> None:
    probe = request.getfixturevalue(install).probe
    assert probe["status_line"] == "HTTP/1.0 413 Content Too Large\r\n"
    assert probe["chunks"].encode("latin-1") == b"6\r\nh\xc3\xa9llo\r\n0\r\n\r\n"
    assert disposition_filename(probe["disposition"]) == "résumé.pdf"
    assert "location" in probe["error"].lower()


def test_compiled_and_pure_installs_give_the_same_bytes(
    wheel_install: Install, sdist_install: Install, pure_install: Install
) -> None:
    keys = ("head", "status_line", "chunks", "disposition", "error")
    outputs = [{k: i.probe[k] for k in keys} for i in (wheel_install, sdist_install, pure_install)]
    assert outputs[0] == outputs[1] == outputs[2]


def _serve_demo(python: Path, cwd: Path) -> tuple[int, str, dict[str, Any], bytes]:
    """``python -m respcore serve --port 0`` from ``python``'s install: the demo's page and
    its JSON, fetched over 127.0.0.1, then SIGTERM. Returns the exit code, the log, the JSON
    and the page."""
    process = subprocess.Popen(
        [str(python), "-I", "-m", "respcore", "serve", "--port", "0"],
        cwd=cwd,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stderr is not None
    lines: list[str] = []
    found = threading.Event()
    url: list[str] = []

    def read() -> None:
        assert process.stderr is not None
        for line in process.stderr:
            lines.append(line)
            match = re.search(r"serving on (http://127\.0\.0\.1:\d+)", line)
            if match:
                url.append(match.group(1))
                found.set()
        found.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        assert found.wait(30), "no address logged within 30 s"
        assert url, "".join(lines)
        with httpx.Client(base_url=url[0], timeout=10) as client:
            page = client.get("/")
            data = client.get("/json")
        assert page.status_code == 200
        assert data.headers["content-type"] == "application/json"
        process.send_signal(signal.SIGTERM)
        code = process.wait(15)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(5)
    reader.join(5)
    return code, "".join(lines), json.loads(data.content), page.content


@pytest.mark.skipif(sys.platform == "win32", reason="SIGTERM is POSIX")
@pytest.mark.parametrize("install", INSTALLS)
def test_installed_cli_serves_the_demo_on_loopback(
    install: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    python = request.getfixturevalue(install).python
    code, log, data, page = _serve_demo(python, tmp_path)
    assert data == {"message": "Hello, world!", "path": "/json"}
    assert b'href="/report.csv"' in page
    assert code == 0, log
    assert "respcore shutting down" in log
