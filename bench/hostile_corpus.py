"""The hostile-request corpus of ``tests/_hostile.py`` against respcore's server, uvicorn
(httptools) and nginx, side by side: how each answers every case, as a table.

    .venv/bin/python bench/hostile_corpus.py

Each server is a subprocess on a free 127.0.0.1 port, behind the same tiny app (an ASGI app
for uvicorn, static files for nginx) that answers ``/`` and ``/smuggled`` with 200. For each
case the table shows the status of the first response, whether the server then closed the
connection (``close``) or kept it open (``open``), and ``+N`` when it answered N more
responses, the pipelined ``/smuggled`` request among them (a desynchronised connection).
The verdict is ``refused`` for an error status followed by a close and nothing more.
Needs nginx (apt-get install -y nginx); a missing server is reported, not fatal.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))

from _hostile import ACCEPTED, CASES, FOLLOW, Case  # noqa: E402

ALL = CASES + ACCEPTED

HOST = "127.0.0.1"
READY = 20.0  # seconds for a server to start answering
CLOSE_WAIT = 2.0  # seconds a server gets to close after its answer
STATUS = re.compile(rb"(?:^|\n)HTTP/1\.[01] (\d{3}) ")

APPS = """
async def asgi(scope, receive, send):
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": b"the app answered\\n"})


async def respcore_app(req, res):
    res.text = "the app answered\\n"
"""

NGINX_CONF = """
{user}
daemon off;
master_process off;
worker_processes 1;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections 256; }}
http {{
    access_log off;
    client_body_temp_path {prefix}/body;
    proxy_temp_path {prefix}/proxy;
    fastcgi_temp_path {prefix}/fastcgi;
    uwsgi_temp_path {prefix}/uwsgi;
    scgi_temp_path {prefix}/scgi;
    server {{
        listen {host}:{port};
        root {root};
        error_page 405 =200 /index.html;
    }}
}}
"""


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        port: int = probe.getsockname()[1]
    return port


def _wait_ready(port: int, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + READY
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"exited with status {process.returncode}")
        try:
            with socket.create_connection((HOST, port), timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"not listening on {port} after {READY} s")


@contextmanager
def _running(command: list[str], port: int, cwd: Path) -> Iterator[int]:
    process = subprocess.Popen(
        command, cwd=cwd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        _wait_ready(port, process)
        yield port
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)


def respcore_server(work: Path) -> list[str] | None:
    port = _free_port()
    return [sys.executable, "-m", "respcore", "serve", "corpus_apps:respcore_app",
            "--host", HOST, "--port", str(port)]  # fmt: skip


def uvicorn_server(work: Path) -> list[str] | None:
    port = _free_port()
    return [sys.executable, "-m", "uvicorn", "corpus_apps:asgi", "--host", HOST,
            "--port", str(port), "--loop", "uvloop", "--http", "httptools",
            "--lifespan", "off", "--no-access-log", "--log-level", "critical"]  # fmt: skip


def nginx_server(work: Path) -> list[str] | None:
    binary = shutil.which("nginx") or (
        "/usr/sbin/nginx" if os.path.exists("/usr/sbin/nginx") else None
    )
    if binary is None:
        return None
    port = _free_port()
    prefix = work / "nginx"
    prefix.mkdir(exist_ok=True)
    root = work / "root"
    root.mkdir(exist_ok=True)
    for name in ("index.html", "smuggled"):
        (root / name).write_text("the app answered\n")
    user = ""
    if os.geteuid() == 0:
        import grp
        import pwd

        entry = pwd.getpwuid(os.getuid())
        user = f"user {entry.pw_name} {grp.getgrgid(entry.pw_gid).gr_name};"
    conf = NGINX_CONF.format(user=user, prefix=prefix, root=root, host=HOST, port=port)
    (prefix / "nginx.conf").write_text(conf)
    return [binary, "-p", str(prefix), "-e", str(prefix / "error.log"), "-c", "nginx.conf"]


def _port_of(command: list[str]) -> int:
    if "--port" in command:
        return int(command[command.index("--port") + 1])
    conf = Path(command[command.index("-p") + 1]) / "nginx.conf"
    match = re.search(r"listen [0-9.]+:(\d+);", conf.read_text())
    assert match is not None
    return int(match.group(1))


def probe(port: int, case: Case) -> tuple[str, bool]:
    """What the server did with ``case``: the cell text, and whether it refused cleanly."""
    with socket.create_connection((HOST, port), timeout=5) as sock:
        sock.sendall(case.data + FOLLOW)
        sock.settimeout(CLOSE_WAIT)
        data = b""
        closed = False
        deadline = time.monotonic() + CLOSE_WAIT + 3
        while time.monotonic() < deadline:
            try:
                chunk = sock.recv(65536)
            except TimeoutError:
                break
            except ConnectionResetError:
                closed = True
                break
            if not chunk:
                closed = True
                break
            data += chunk
    statuses = [int(s) for s in STATUS.findall(data)]
    if not statuses:
        return ("close, no answer" if closed else "open, no answer"), False
    more = len(statuses) - 1
    cell = f"{statuses[0]} {'close' if closed else 'open'}" + (f" +{more}" if more else "")
    refused = statuses[0] >= 400 and closed and not more
    return cell, refused


SERVERS: list[tuple[str, Callable[[Path], list[str] | None]]] = [
    ("respcore", respcore_server),
    ("uvicorn (httptools)", uvicorn_server),
    ("nginx", nginx_server),
]


def main() -> int:
    results: dict[str, dict[str, tuple[str, bool]]] = {}
    with tempfile.TemporaryDirectory(prefix="respcore-corpus-") as folder:
        work = Path(folder)
        (work / "corpus_apps.py").write_text(textwrap.dedent(APPS))
        for name, make in SERVERS:
            command = make(work)
            if command is None:
                print(f"{name}: not installed, skipped")
                continue
            try:
                with _running(command, _port_of(command), work) as port:
                    results[name] = {case.name: probe(port, case) for case in ALL}
            except RuntimeError as exc:
                print(f"{name}: did not start ({exc}), skipped")
    names = list(results)
    width = max(len(case.name) for case in ALL)
    print(f"\n{'case':{width}}  " + "  ".join(f"{n:>20}" for n in names))
    for case in ALL:
        cells = [results[n][case.name][0] for n in names]
        print(f"{case.name:{width}}  " + "  ".join(f"{c:>20}" for c in cells))
    print(f"\n{'refused (error status, closed, nothing more)':{width}}  " + "  ".join(
        f"{sum(ok for _, ok in results[n].values()):>11} of {len(ALL):<5}" for n in names
    ))  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
