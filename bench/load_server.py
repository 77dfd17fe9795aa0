"""Load benchmark of the respcore server: side by side in one run with a uvloop + httptools
ceiling, uvicorn + Starlette, aiohttp on uvloop, granian (ASGI and RSGI) and nginx; prints the
tables, the ratios and the targets (PASS/MISS), and writes bench/results/load.md and
bench/results/load.png.

    .venv/bin/python bench/load_server.py [--duration 10s] [--quick] [--only json,stream,file]

json    hello-world JSON (GET /) and a realistic response (GET /realistic: eight header
        fields, two of them Set-Cookie, and a 2 KiB JSON body) under wrk -t1 --latency, 64 and
        8 connections: req/s, p50, p99 and how busy the server's CPU was; best of 2 rounds,
        the rounds interleaved. Besides the compiled server: its pure-Python protocol twin
        (with the compiled encoder), the whole pure-Python build, the server as it was before
        the compiled protocol (commit BEFORE, run from a git archive with this build's
        compiled encoder, the same .pyx) and --workers 2 (not pinned: both CPUs, which wrk
        shares, so no target).
stream  a 1 GiB chunked stream (one 64 KiB chunk, 16384 times) fetched with curl: MiB/s, best
        of 3; and the server's peak RSS growth while a client asks for it and reads nothing.
file    a 256 MiB file fetched with curl: MiB/s, best of 3; and the respcore server's peak RSS
        growth while a client asks for a 1 GiB file and reads nothing.

--quick: 2 s wrk runs, a 256 MiB stream, a 64 MiB file, one round (a smoke check, not a
measurement). The default run takes about four minutes. Exit status 1 when a contender
failed (the rest are still measured and reported); a missed target is not an error.

Needs wrk and curl, nginx for the file part (apt-get install -y wrk curl nginx) and matplotlib
for the chart (without it the PNG is skipped). The apps are in bench/load_apps.py. Each server
is a subprocess listening on a free 127.0.0.1 port, checked to answer correctly before it is
loaded and killed afterwards. With taskset and two CPUs, servers run on the first CPU and
wrk, curl and this driver on the second.
"""

from __future__ import annotations

import argparse
import grp
import hashlib
import json
import os
import platform
import pwd
import re
import shutil
import signal
import socket
import string
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import httpx

import respcore

sys.path.insert(0, str(Path(__file__).resolve().parent))
from load_apps import REALISTIC_BODY

HERE = Path(__file__).resolve().parent
HOST = "127.0.0.1"
MIB = 1 << 20
GIB = 1 << 30
BODY = b'{"message":"Hello, world!"}'
CHUNK = bytes(range(256)) * 256  # load_apps.CHUNK, which every stream repeats
READY_TIMEOUT = 20.0  # seconds for a server to answer after it is started
STOP_TIMEOUT = 5.0
CONNECTIONS = (64, 8)
RSS_SECONDS = 3.0
RSS_INTERVAL = 0.05
RSS_LIMIT_MIB = 16.0
STARVED_CPU = 85.0  # % of a CPU below which a loaded server was not running flat out

# Contender names, as printed.
RC_RETURN = "respcore JsonResponse"
RC_MUTATE = "respcore res.json"
CEILING = "ceiling (uvloop+httptools)"
UVICORN = "uvicorn+Starlette"
AIOHTTP = "aiohttp (uvloop)"
RC_SERVER = "respcore server"
NGINX = "nginx (sendfile)"
UVICORN_RC = "uvicorn+respcore"
RC_TWIN = "respcore protocol twin"
RC_PURE = "respcore all pure-Python"
RC_WORKERS = "respcore --workers 2"
GRANIAN_ASGI = "granian asgi (raw app)"
GRANIAN_RSGI = "granian rsgi"
# The server before its per-request path was compiled (issue 12): "today's server" there.
BEFORE = "96b0b23"
RC_BEFORE = f"respcore before ({BEFORE})"
ROUTES = ("/", "/realistic")
ROUTE_NAMES = {"/": "hello-world JSON", "/realistic": "realistic (8 fields, 2 KiB JSON)"}


class ContenderError(Exception):
    """A contender that did not start, answered wrongly or failed under load."""


# What makes one contender fail, not the whole run: its own errors, HTTP and socket errors.
FAILURES = (ContenderError, httpx.HTTPError, OSError)


# -- settings ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Pinning:
    server: list[str]  # command prefix for servers
    client: list[str]  # command prefix for wrk and curl
    client_cpu: int | None
    note: str


def _pinning() -> Pinning:
    cpus = sorted(os.sched_getaffinity(0))
    if shutil.which("taskset") is None:
        return Pinning([], [], None, "off (taskset not found)")
    if len(cpus) < 2:
        return Pinning([], [], None, f"off (only CPU {cpus[0]} available)")
    server, client = cpus[0], cpus[1]
    note = f"taskset: servers on CPU {server}; wrk, curl and the driver on CPU {client}"
    return Pinning(["taskset", "-c", str(server)], ["taskset", "-c", str(client)], client, note)


@dataclass(frozen=True)
class Settings:
    duration: str  # for wrk -d
    json_rounds: int  # wrk runs of each contender, best kept
    rounds: int  # curl fetches of each stream and file, best kept
    stream_chunks: int
    file_bytes: int
    quick: bool
    parts: tuple[str, ...]
    pin: Pinning
    out: Path

    @property
    def stream_bytes(self) -> int:
        return self.stream_chunks * len(CHUNK)


def _seconds(duration: str) -> int:
    match = re.fullmatch(r"(\d+)([smh]?)", duration)
    if match is None or int(match.group(1)) == 0:
        raise argparse.ArgumentTypeError(f"not a wrk duration such as 10s or 1m: {duration!r}")
    return int(match.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600}[match.group(2)]


# -- servers -----------------------------------------------------------------------------------

Command = Callable[[int], list[str]]  # the command line that serves on a port


@dataclass(frozen=True)
class Contender:
    name: str
    command: Command
    file_path: str = "/file"  # where it serves the benchmark file (part 3)
    env: dict[str, str] = field(default_factory=dict)  # added to the server's environment
    pinned: bool = True  # on the servers' CPU; False: on every CPU (several workers)


@dataclass(frozen=True)
class Server:
    name: str
    process: subprocess.Popen[bytes]
    port: int
    log: Path

    def url(self, path: str) -> str:
        return f"http://{HOST}:{self.port}{path}"


def _free_port() -> int:
    # The server binds the port itself (uvicorn handed a bound socket leaves Nagle on); the
    # port is free as of this call.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        port: int = probe.getsockname()[1]
    return port


def _tail(log: Path, lines: int = 12) -> str:
    try:
        text = log.read_text(errors="replace").strip()
    except OSError:
        return "(no log)"
    return "\n".join("    | " + line for line in text.splitlines()[-lines:]) or "    | (empty)"


def _wait_ready(server: Server) -> None:
    """Poll the port until the server answers any HTTP response, for READY_TIMEOUT at most."""
    deadline = time.monotonic() + READY_TIMEOUT
    with httpx.Client(timeout=2.0) as client:
        while time.monotonic() < deadline:
            status = server.process.poll()
            if status is not None:
                raise ContenderError(
                    f"exited with status {status} before answering; its output:\n"
                    + _tail(server.log)
                )
            try:
                with client.stream("GET", server.url("/")):
                    return
            except httpx.TransportError:
                time.sleep(0.1)
    raise ContenderError(
        f"not answering on port {server.port} after {READY_TIMEOUT:.0f} s; its output:\n"
        + _tail(server.log)
    )


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(STOP_TIMEOUT)


@contextmanager
def serving(contender: Contender, settings: Settings, env: dict[str, str]) -> Iterator[Server]:
    """Start the contender, wait until it answers, and stop it afterwards (also on error)."""
    port = _free_port()
    slug = re.sub(r"[^a-z0-9]+", "-", contender.name.lower()).strip("-")
    log = Path(env["RESPCORE_BENCH_DIR"]) / f"{slug}.log"
    command = (settings.pin.server if contender.pinned else []) + contender.command(port)
    with log.open("wb") as output:
        try:
            process = subprocess.Popen(
                command, stdin=subprocess.DEVNULL, stdout=output, stderr=subprocess.STDOUT,
                cwd=HERE, env={**env, **contender.env},
            )  # fmt: skip
        except OSError as exc:
            raise ContenderError(f"cannot run {command[0]}: {exc}") from exc
    server = Server(contender.name, process, port, log)
    try:
        _wait_ready(server)
        yield server
    finally:
        _stop(process)


def _respcore(app: str, *options: str) -> Command:
    def command(port: int) -> list[str]:
        return [
            sys.executable, "-m", "respcore", "serve", f"load_apps:{app}",
            "--host", HOST, "--port", str(port), *options,
        ]  # fmt: skip

    return command


def _granian(interface: str, app: str) -> Command:
    def command(port: int) -> list[str]:
        return [
            sys.executable, "-m", "granian", "--interface", interface, "--workers", "1",
            "--runtime-threads", "1", "--http", "1", "--no-ws", "--host", HOST,
            "--port", str(port), "--log-level", "warning", "--no-access-log",
            f"load_apps:{app}",
        ]  # fmt: skip

    return command


def _before_source(root: Path) -> Path:
    """The package as of commit BEFORE, unpacked under ``root`` (git archive), with this
    build's compiled encoder copied in when the encoder's .pyx is the same there."""
    dest = root / "before"
    source = dest / "src"
    if source.exists():
        return source
    dest.mkdir()
    checkout = HERE.parent
    try:
        archive = subprocess.run(
            ["git", "-C", str(checkout), "archive", BEFORE, "src"], capture_output=True, timeout=60
        )
        if archive.returncode != 0:
            raise ContenderError(f"git archive {BEFORE} failed: {archive.stderr.decode()}")
        subprocess.run(["tar", "-x", "-C", str(dest)], input=archive.stdout, check=True)
        old = subprocess.run(
            ["git", "-C", str(checkout), "show", f"{BEFORE}:src/respcore/_encoder.pyx"],
            capture_output=True,
            timeout=60,
        ).stdout
    except (OSError, subprocess.SubprocessError) as exc:
        raise ContenderError(f"cannot unpack {BEFORE}: {exc}") from exc
    package = Path(respcore.__file__).parent
    if respcore.COMPILED and old == (package / "_encoder.pyx").read_bytes():
        for built in package.glob("_encoder.*"):
            if built.suffix in (".so", ".pyd"):
                shutil.copy(built, source / "respcore" / built.name)
    return source


def _script(server: str) -> Command:
    def command(port: int) -> list[str]:
        return [sys.executable, str(HERE / "load_apps.py"), server, "--port", str(port)]

    return command


def _uvicorn(app: str) -> Command:
    def command(port: int) -> list[str]:
        return [
            sys.executable, "-m", "uvicorn", f"load_apps:{app}", "--host", HOST,
            "--port", str(port), "--loop", "uvloop", "--http", "httptools", "--workers", "1",
            "--lifespan", "off", "--no-access-log", "--log-level", "warning",
            "--app-dir", str(HERE),
        ]  # fmt: skip

    return command


def _nginx_binary() -> str | None:
    return shutil.which("nginx") or next(
        (path for path in ("/usr/sbin/nginx", "/usr/local/sbin/nginx") if os.access(path, os.X_OK)),
        None,
    )


def _nginx(root: Path) -> Command:
    """nginx serving ``root``, its configuration and scratch files in root/nginx."""

    def command(port: int) -> list[str]:
        binary = _nginx_binary()
        if binary is None:
            raise ContenderError("nginx is not installed (apt-get install -y nginx)")
        prefix = root / "nginx"
        prefix.mkdir(exist_ok=True)
        user = ""
        if os.geteuid() == 0:
            # As root nginx would switch to "nobody", who cannot read the 0700 temp dir.
            entry = pwd.getpwuid(os.getuid())
            user = f"user {entry.pw_name} {_group_name(entry.pw_gid)};"
        template = string.Template((HERE / "nginx.conf.template").read_text())
        config = template.substitute(user=user, prefix=prefix, root=root, port=port)
        (prefix / "nginx.conf").write_text(config)
        return [binary, "-p", str(prefix), "-e", str(prefix / "error.log"), "-c", "nginx.conf"]

    return command


def _group_name(gid: int) -> str:
    return grp.getgrgid(gid).gr_name


# -- measuring ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class WrkResult:
    rps: float
    p50_ms: float
    p99_ms: float
    server_cpu: float  # % of one CPU the server used during the run
    errors: str | None  # wrk's socket error line, if any


_UNITS_MS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3}


def _wrk(
    settings: Settings, server: Server, path: str, connections: int, duration: str
) -> WrkResult:
    command = [
        *settings.pin.client,
        "wrk", "-t1", f"-c{connections}", f"-d{duration}", "--latency", server.url(path),
    ]  # fmt: skip
    cpu = _tree_cpu_seconds(server.process.pid)
    started = time.monotonic()
    try:
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=_seconds(duration) + 30
        )
    except subprocess.TimeoutExpired as exc:
        raise ContenderError(f"wrk did not finish: {' '.join(command)}") from exc
    cpu = _tree_cpu_seconds(server.process.pid) - cpu
    busy = 100 * cpu / (time.monotonic() - started)
    out = done.stdout
    rate = re.search(r"Requests/sec:\s*([\d.]+)", out)
    p50 = re.search(r"^\s*50%\s+([\d.]+)(us|ms|s|m)\s*$", out, re.MULTILINE)
    p99 = re.search(r"^\s*99%\s+([\d.]+)(us|ms|s|m)\s*$", out, re.MULTILINE)
    if done.returncode != 0 or rate is None or p50 is None or p99 is None:
        raise ContenderError(f"wrk failed (status {done.returncode}):\n{out}{done.stderr}")
    non_2xx = re.search(r"Non-2xx or 3xx responses:\s*(\d+)", out)
    if non_2xx is not None:
        raise ContenderError(f"{non_2xx.group(1)} responses were not 2xx under wrk")
    if float(rate.group(1)) == 0:
        raise ContenderError(f"no requests completed under wrk:\n{out}")
    errors = re.search(r"Socket errors:\s*(.*)", out)
    return WrkResult(
        float(rate.group(1)),
        float(p50.group(1)) * _UNITS_MS[p50.group(2)],
        float(p99.group(1)) * _UNITS_MS[p99.group(2)],
        busy,
        None if errors is None else errors.group(1).strip(),
    )


def _curl(settings: Settings, url: str, expected: int) -> float:
    """Fetch ``url`` with curl into /dev/null; MiB/s. The body must be ``expected`` bytes."""
    max_time = 120
    command = [
        *settings.pin.client,
        "curl", "-s", "-o", "/dev/null", "--max-time", str(max_time),
        "-w", "%{http_code} %{size_download} %{time_total}", url,
    ]  # fmt: skip
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=max_time + 10)
    except subprocess.TimeoutExpired as exc:
        raise ContenderError(f"curl did not finish: {' '.join(command)}") from exc
    fields = done.stdout.split()
    if done.returncode != 0 or len(fields) != 3:
        raise ContenderError(f"curl failed (status {done.returncode}): {done.stdout!r}")
    status, size, seconds = fields[0], int(fields[1]), float(fields[2])
    if status != "200" or size != expected:
        raise ContenderError(f"curl got status {status}, {size} bytes; expected {expected}")
    return size / seconds / MIB


def _tree(pid: int) -> list[int]:
    """The process and its descendants."""
    found: list[int] = []
    pending = [pid]
    while pending and len(found) < 64:
        current = pending.pop()
        found.append(current)
        for task in Path(f"/proc/{current}/task").glob("*/children"):
            try:
                pending.extend(int(child) for child in task.read_text().split())
            except OSError:
                continue
    return found


def _tree_rss_kib(pid: int) -> int:
    """VmRSS of the process and its descendants, in KiB."""
    total = 0
    for member in _tree(pid):
        try:
            status = Path(f"/proc/{member}/status").read_text()
        except OSError:
            continue
        match = re.search(r"^VmRSS:\s+(\d+) kB", status, re.MULTILINE)
        total += int(match.group(1)) if match else 0
    return total


def _tree_cpu_seconds(pid: int) -> float:
    """User plus system CPU time of the process and its descendants."""
    ticks = 0
    for member in _tree(pid):
        try:
            stat = Path(f"/proc/{member}/stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        ticks += int(fields[11]) + int(fields[12])  # utime, stime
    return ticks / os.sysconf("SC_CLK_TCK")


def _rss_growth(server: Server, path: str) -> float:
    """Peak RSS growth (MiB) of the server while a client that reads nothing asks for
    ``path``, sampled every RSS_INTERVAL for RSS_SECONDS from just before the request."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as client:
        client.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        client.connect((HOST, server.port))
        baseline = _tree_rss_kib(server.process.pid)
        peak = baseline
        client.sendall(f"GET {path} HTTP/1.1\r\nHost: {HOST}\r\n\r\n".encode())
        deadline = time.monotonic() + RSS_SECONDS
        while time.monotonic() < deadline:
            time.sleep(RSS_INTERVAL)
            peak = max(peak, _tree_rss_kib(server.process.pid))
        client.setblocking(False)
        try:
            head = client.recv(12, socket.MSG_PEEK)  # the server did start answering?
        except BlockingIOError:
            head = b""
    if server.process.poll() is not None:
        raise ContenderError(f"died while a client did not read; its output:\n{_tail(server.log)}")
    if head != b"HTTP/1.1 200":
        raise ContenderError(f"the stalled GET {path} got {head!r} in {RSS_SECONDS:g} s")
    return (peak - baseline) / 1024


# -- correctness checks before loading ---------------------------------------------------------


def _check_json(server: Server, path: str = "/") -> None:
    response = httpx.get(server.url(path), timeout=10)
    content_type = response.headers.get("content-type", "")
    expected = BODY if path == "/" else REALISTIC_BODY
    if (
        response.status_code != 200
        or json.loads(response.content) != json.loads(expected)
        or len(response.content) != len(expected)
        or not content_type.startswith("application/json")
    ):
        raise ContenderError(
            f"GET {path} answered {response.status_code} {content_type!r} "
            f"{response.content[:200]!r}"
        )
    if path == "/realistic":
        fields = response.headers.multi_items()
        cookies = [value for name, value in fields if name == "set-cookie"]
        if len(cookies) != 2 or len(fields) < 7:
            raise ContenderError(f"GET {path}: fields {fields!r}")


def _check_stream(server: Server, notes: list[str]) -> None:
    """The stream starts with the expected chunks (curl checks the length)."""
    with httpx.Client(timeout=10) as client, client.stream("GET", server.url("/stream")) as r:
        if r.status_code != 200:
            raise ContenderError(f"GET /stream answered {r.status_code}")
        if r.headers.get("transfer-encoding") != "chunked":
            notes.append(f"{server.name}: /stream is not chunked ({dict(r.headers)})")
        head = b""
        for piece in r.iter_raw():
            head += piece
            if len(head) >= MIB:
                break
    if head[:MIB] != (CHUNK * (MIB // len(CHUNK)))[: len(head)]:
        raise ContenderError("GET /stream does not carry the expected chunks")


def _check_file(server: Server, path: str, size: int, digest: str) -> None:
    """The whole file arrives intact."""
    sha = hashlib.sha256()
    received = 0
    with httpx.Client(timeout=30) as client, client.stream("GET", server.url(path)) as r:
        if r.status_code != 200:
            raise ContenderError(f"GET {path} answered {r.status_code}")
        for piece in r.iter_raw(MIB):
            sha.update(piece)
            received += len(piece)
    if received != size or sha.hexdigest() != digest:
        raise ContenderError(f"GET {path}: {received} bytes, not the {size}-byte file")


# -- results and targets -----------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    part: str
    label: str
    value: float | None  # None when a contender has no result
    goal: float
    at_least: bool  # value >= goal, else value < goal
    unit: str = "x"

    @property
    def status(self) -> str:
        if self.goal == 0:
            return "(no target)"
        if self.value is None:
            return "n/a"
        met = self.value >= self.goal if self.at_least else self.value < self.goal
        return "PASS" if met else "MISS"

    @property
    def shown(self) -> str:
        if self.value is None:
            return "-"
        return (
            f"{self.value:.2f}{self.unit}" if self.unit == "x" else f"{self.value:.1f}{self.unit}"
        )

    @property
    def goal_shown(self) -> str:
        if self.goal == 0:
            return "-"
        sign = ">=" if self.at_least else "<"
        return f"{sign} {self.goal:g}{self.unit}"


@dataclass
class Results:
    json: dict[str, dict[str, dict[int, WrkResult]]] = field(default_factory=dict)  # by route
    stream: dict[str, float] = field(default_factory=dict)  # MiB/s
    file: dict[str, float] = field(default_factory=dict)  # MiB/s
    rss: dict[str, float] = field(default_factory=dict)  # MiB of growth
    errors: dict[str, str] = field(default_factory=dict)  # "part: contender" -> why
    notes: list[str] = field(default_factory=list)
    targets: list[Target] = field(default_factory=list)


def _ratio(numerator: float | None, denominator: float | None) -> float | None:
    if numerator is None or denominator is None or denominator == 0:
        return None
    return numerator / denominator


def _failed(results: Results, part: str, name: str, exc: Exception) -> None:
    results.errors[f"{part}: {name}"] = str(exc)
    print(f"  {name}: ERROR: {exc}", flush=True)


# -- the three parts ---------------------------------------------------------------------------


def run_json(settings: Settings, env: dict[str, str], results: Results) -> None:
    root = Path(env["RESPCORE_BENCH_DIR"])
    contenders = [
        Contender(RC_RETURN, _respcore("json_response")),
        Contender(RC_MUTATE, _respcore("json_mutable")),
        Contender(RC_TWIN, _script("twin")),
        Contender(RC_PURE, _respcore("json_response"), env={"RESPCORE_NO_EXTENSIONS": "1"}),
        Contender(RC_WORKERS, _respcore("json_response", "--workers", "2"), pinned=False),
        Contender(CEILING, _script("ceiling")),
        Contender(UVICORN, _uvicorn("starlette_app")),
        Contender(AIOHTTP, _script("aiohttp")),
        Contender(GRANIAN_ASGI, _granian("asgi", "raw_asgi")),
        Contender(GRANIAN_RSGI, _granian("rsgi", "raw_rsgi")),
    ]
    try:
        before = _before_source(root)
    except ContenderError as exc:
        _failed(results, "json", RC_BEFORE, exc)
    else:
        paths = os.pathsep.join(filter(None, [str(before), env.get("PYTHONPATH")]))
        contenders.insert(
            3, Contender(RC_BEFORE, _respcore("json_response"), env={"PYTHONPATH": paths})
        )
    print(
        f"\n== json: {', '.join(ROUTES)}; wrk -t1 -d{settings.duration} --latency, best of "
        f"{settings.json_rounds} (rounds interleaved) ==",
        flush=True,
    )
    failed: set[str] = set()
    for _ in range(settings.json_rounds):
        for contender in contenders:
            if contender.name in failed:
                continue
            try:
                with serving(contender, settings, env) as server:
                    for route in ROUTES:
                        _check_json(server, route)
                    _wrk(settings, server, "/", 64, "1s")  # warm-up
                    for route in ROUTES:
                        for connections in CONNECTIONS:
                            run = _wrk(settings, server, route, connections, settings.duration)
                            best = results.json.setdefault(route, {}).setdefault(contender.name, {})
                            if connections not in best or run.rps > best[connections].rps:
                                best[connections] = run
                            print(
                                f"  {contender.name} {route}: c{connections} {run.rps:,.0f} "
                                f"req/s, server CPU {run.server_cpu:.0f}%",
                                flush=True,
                            )
            except FAILURES as exc:
                failed.add(contender.name)
                _failed(results, "json", contender.name, exc)
    for route, by_name in results.json.items():
        for name, runs in by_name.items():
            for connections, run in runs.items():
                if run.server_cpu < STARVED_CPU:
                    results.notes.append(
                        f"{name} {route} c{connections}: the server used only "
                        f"{run.server_cpu:.0f}% of its CPU: other processes took it, or the load "
                        "generator was the bottleneck"
                    )
                if run.errors:
                    results.notes.append(
                        f"{name} {route} c{connections}: wrk socket errors: {run.errors}"
                    )

    def rps(route: str, name: str, connections: int) -> float | None:
        run = results.json.get(route, {}).get(name, {}).get(connections)
        return None if run is None else run.rps

    goals = [
        (RC_RETURN, CEILING, 0.8),
        (RC_RETURN, UVICORN, 4.0),
        (RC_RETURN, AIOHTTP, 4.0),
        (RC_RETURN, GRANIAN_ASGI, 2.0),
        (RC_RETURN, GRANIAN_RSGI, 2.0),
        (RC_MUTATE, CEILING, 0.8),
        (RC_TWIN, RC_BEFORE, 1.0),
        (RC_RETURN, RC_BEFORE, 0.0),  # 0: reported, no target
        (RC_PURE, RC_BEFORE, 0.0),
        (RC_WORKERS, RC_RETURN, 0.0),
    ]
    for route in ROUTES:
        for mine, other, goal in goals:
            for connections in CONNECTIONS:
                value = _ratio(rps(route, mine, connections), rps(route, other, connections))
                label = f"{route} {mine} / {other}, c{connections}"
                results.targets.append(Target("json", label, value, goal, at_least=True))


def run_stream(settings: Settings, env: dict[str, str], results: Results) -> None:
    contenders = [
        Contender(RC_SERVER, _respcore("app")),
        Contender(CEILING, _script("ceiling")),
    ]
    size = settings.stream_bytes
    print(
        f"\n== stream: {size // MIB} MiB chunked, curl, best of {settings.rounds}; RSS growth "
        f"while a client reads nothing for {RSS_SECONDS:g} s ==",
        flush=True,
    )
    for contender in contenders:
        try:
            with serving(contender, settings, env) as server:
                _check_json(server)
                _check_stream(server, results.notes)
                rates = [
                    _curl(settings, server.url("/stream"), size) for _ in range(settings.rounds)
                ]
                results.stream[contender.name] = max(rates)
                print(f"  {contender.name}: {max(rates):,.0f} MiB/s", flush=True)
                growth = _rss_growth(server, "/stream")
                results.rss[f"{contender.name}, /stream"] = growth
                print(f"  {contender.name}: RSS growth {growth:.1f} MiB", flush=True)
                _check_json(server)  # still serving after the stalled client left
        except FAILURES as exc:
            _failed(results, "stream", contender.name, exc)
    value = _ratio(results.stream.get(RC_SERVER), results.stream.get(CEILING))
    results.targets.append(Target("stream", f"{RC_SERVER} / {CEILING}", value, 0.8, at_least=True))
    results.targets.append(
        Target(
            "stream",
            f"{RC_SERVER} RSS growth, stalled /stream",
            results.rss.get(f"{RC_SERVER}, /stream"),
            RSS_LIMIT_MIB,
            at_least=False,
            unit=" MiB",
        )
    )


def _make_file(path: Path, size: int) -> str:
    """Write ``size`` bytes of one random MiB repeated (not zeros, and fast); the SHA-256."""
    block = os.urandom(MIB)
    sha = hashlib.sha256()
    with path.open("wb") as out:
        for offset in range(0, size, MIB):
            piece = block[: min(MIB, size - offset)]
            out.write(piece)
            sha.update(piece)
    return sha.hexdigest()


def run_file(settings: Settings, env: dict[str, str], results: Results) -> None:
    root = Path(env["RESPCORE_BENCH_DIR"])
    file = Path(env["RESPCORE_BENCH_FILE"])
    size = settings.file_bytes
    digest = _make_file(file, size)
    # For the stalled-client check only: the client reads none of it, so a sparse file will do.
    with Path(env["RESPCORE_BENCH_BIG_FILE"]).open("wb") as big:
        big.truncate(GIB)
    contenders = [
        Contender(RC_SERVER, _respcore("app")),
        Contender(NGINX, _nginx(root), file_path=f"/{file.name}"),
        Contender(AIOHTTP, _script("aiohttp")),
        Contender(UVICORN, _uvicorn("starlette_app")),
        Contender(UVICORN_RC, _uvicorn("respcore_asgi")),
    ]
    print(
        f"\n== file: {size // MIB} MiB file, curl, best of {settings.rounds}; RSS growth while a "
        f"client asks for 1 GiB and reads nothing for {RSS_SECONDS:g} s ==",
        flush=True,
    )
    for contender in contenders:
        try:
            with serving(contender, settings, env) as server:
                _check_file(server, contender.file_path, size, digest)
                url = server.url(contender.file_path)
                rates = [_curl(settings, url, size) for _ in range(settings.rounds)]
                results.file[contender.name] = max(rates)
                print(f"  {contender.name}: {max(rates):,.0f} MiB/s", flush=True)
                if contender.name == RC_SERVER:
                    growth = _rss_growth(server, "/bigfile")
                    results.rss[f"{RC_SERVER}, /bigfile"] = growth
                    print(f"  {contender.name}: RSS growth {growth:.1f} MiB", flush=True)
                    _check_json(server)
        except FAILURES as exc:
            _failed(results, "file", contender.name, exc)
    mine = results.file.get(RC_SERVER)
    for other, goal in ((NGINX, 0.9), (AIOHTTP, 1.8), (UVICORN, 4.0)):
        value = _ratio(mine, results.file.get(other))
        results.targets.append(Target("file", f"{RC_SERVER} / {other}", value, goal, True))
    results.targets.append(
        Target(
            "file",
            f"{RC_SERVER} RSS growth, stalled 1 GiB file",
            results.rss.get(f"{RC_SERVER}, /bigfile"),
            RSS_LIMIT_MIB,
            at_least=False,
            unit=" MiB",
        )
    )


# -- reporting ---------------------------------------------------------------------------------

Table = tuple[list[str], list[list[str]]]  # header, rows


def _json_table(results: Results, route: str) -> Table:
    header = ["contender"]
    for connections in CONNECTIONS:
        header += [f"c{connections} req/s", "p50 ms", "p99 ms", "srv CPU"]
    rows = []
    for name, runs in results.json.get(route, {}).items():
        row = [name]
        for connections in CONNECTIONS:
            run = runs.get(connections)
            if run is None:
                row += ["-"] * 4
                continue
            mark = "*" if run.errors else ""
            row += [f"{run.rps:,.0f}{mark}", f"{run.p50_ms:.2f}", f"{run.p99_ms:.2f}"]
            row.append(f"{run.server_cpu:.0f}%")
        rows.append(row)
    return header, rows


def _rate_table(rates: dict[str, float], baseline: str) -> Table:
    rows = [
        [name, f"{rate:,.0f}", "-" if baseline not in rates else f"{rate / rates[baseline]:.2f}x"]
        for name, rate in rates.items()
    ]
    return ["contender", "MiB/s", f"vs {baseline}"], rows


def _rss_table(results: Results) -> Table:
    return ["server, request", "RSS growth MiB"], [
        [name, f"{growth:.1f}"] for name, growth in results.rss.items()
    ]


def _targets_table(results: Results, part: str) -> Table:
    rows = [
        [target.label, target.shown, target.goal_shown, target.status]
        for target in results.targets
        if target.part == part
    ]
    return ["ratio", "value", "target", "result"], rows


def _text(table: Table) -> str:
    header, rows = table
    widths = [max(len(cell) for cell in column) for column in zip(header, *rows, strict=True)]
    lines = []
    for row in [header, *rows]:
        cells = [
            cell.ljust(width) if index == 0 else cell.rjust(width)
            for index, (cell, width) in enumerate(zip(row, widths, strict=True))
        ]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)


def _markdown(table: Table) -> str:
    header, rows = table
    lines = [
        "| " + " | ".join(header) + " |",
        "|" + "|".join(["---"] + ["--:"] * (len(header) - 1)) + "|",
    ]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def _tool_version(command: list[str], pattern: str) -> str:
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return "not installed"
    match = re.search(pattern, done.stdout + done.stderr)
    return match.group(1) if match else "unknown"


def _version(name: str) -> str:
    try:
        return version(name)
    except PackageNotFoundError:
        return "not installed"


def _machine(settings: Settings, load: float) -> str:
    cpu = platform.processor() or "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    packages = ", ".join(
        f"{name} {_version(name)}"
        for name in ("uvloop", "httptools", "uvicorn", "starlette", "aiohttp", "granian")
    )
    import respcore.protocol

    core = "compiled" if respcore.COMPILED and respcore.protocol.COMPILED else "pure-Python"
    nginx = _nginx_binary()
    wrk = _tool_version(["wrk", "-v"], r"wrk (\S+)")
    curl = _tool_version(["curl", "--version"], r"curl (\S+)")
    nginx_version = _tool_version([nginx, "-v"], r"nginx/(\S+)") if nginx else "not installed"
    tools = f"wrk {wrk}, curl {curl}, nginx {nginx_version}"
    return (
        f"{cpu}, {os.cpu_count()} CPUs, {platform.system()} {platform.release()}; "
        f"Python {platform.python_version()}; respcore {respcore.__version__} ({core} core); "
        f"{packages}; {tools}; "
        f"load average {load:.2f} at the start. "
        f"Pinning: {settings.pin.note}. JSON: wrk -t1 -d{settings.duration} after a 1 s "
        f"warm-up, best of {settings.json_rounds}; stream {settings.stream_bytes // MIB} MiB, "
        f"file {settings.file_bytes // MIB} MiB, best of {settings.rounds}"
        + (" (--quick: a smoke check, not a measurement)" if settings.quick else "")
    )


PART_TITLES = {
    "json": (
        "json: {route} (wrk -t1 --latency; srv CPU: the share of one CPU the server "
        "used; * = wrk reported socket errors)"
    ),
    "stream": "stream: chunked stream fetched with curl",
    "file": "file: file fetched with curl",
}


def _sections(results: Results, parts: tuple[str, ...]) -> list[tuple[str, Table]]:
    """(title, table) in the order they are printed and written."""
    sections: list[tuple[str, Table]] = []
    if "json" in parts:
        for route in ROUTES:
            title = PART_TITLES["json"].format(route=f"GET {route}, {ROUTE_NAMES[route]}")
            sections.append((title, _json_table(results, route)))
        sections.append(("json targets and ratios", _targets_table(results, "json")))
    if "stream" in parts:
        sections.append((PART_TITLES["stream"], _rate_table(results.stream, CEILING)))
        sections.append(("stream targets", _targets_table(results, "stream")))
    if "file" in parts:
        sections.append((PART_TITLES["file"], _rate_table(results.file, NGINX)))
        sections.append(("file targets", _targets_table(results, "file")))
    if results.rss:
        title = f"peak RSS growth while a client reads nothing for {RSS_SECONDS:g} s"
        sections.append((title, _rss_table(results)))
    return sections


def print_report(results: Results, settings: Settings, machine: str) -> None:
    print("\n" + "=" * 100)
    print(machine)
    for title, table in _sections(results, settings.parts):
        print(f"\n{title}")
        print(_text(table) if table[1] else "(no results)")
    for where, error in results.errors.items():
        print(f"\nERROR {where}: {error}")
    for note in results.notes:
        print(f"note: {note}")


def write_markdown(path: Path, results: Results, settings: Settings, machine: str) -> None:
    lines = [
        "# Load benchmark: the respcore server side by side",
        "",
        f"Written by `bench/load_server.py` on {time.strftime('%Y-%m-%d %H:%M:%S %Z')}.",
        "",
        f"Machine and settings: {machine}.",
    ]
    for title, table in _sections(results, settings.parts):
        lines += ["", f"## {title}", ""]
        lines.append(_markdown(table) if table[1] else "(no results)")
    if results.errors:
        lines += ["", "## Errors", ""]
        for where, error in results.errors.items():
            lines += [f"- **{where}**:", "", "  ```", *[f"  {x}" for x in error.splitlines()]]
            lines += ["  ```"]
    if results.notes:
        lines += ["", "## Notes", ""] + [f"- {note}" for note in results.notes]
    path.write_text("\n".join(lines) + "\n")


def write_chart(path: Path, results: Results) -> str:
    """Bar charts of what was measured; what happened, as a line to print."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return "matplotlib is not installed (pip install matplotlib): no chart written"
    panels: list[tuple[str, dict[str, float]]] = []
    for route in ROUTES:
        for connections in CONNECTIONS:
            rates = {
                name: runs[connections].rps
                for name, runs in results.json.get(route, {}).items()
                if connections in runs
            }
            panels.append((f"GET {route}, wrk -c{connections}: req/s", rates))
    panels += [("stream: MiB/s", results.stream), ("file: MiB/s", results.file)]
    panels = [(title, values) for title, values in panels if values]
    if not panels:
        return "nothing was measured: no chart written"
    figure = plt.figure(figsize=(9, 2.6 * len(panels)))
    figure.subplots(len(panels), 1, squeeze=False)
    for axis, (title, values) in zip(figure.axes, panels, strict=True):
        names = list(values)[::-1]
        colors = ["#d0703c" if "respcore" in name else "#4878a8" for name in names]
        bars = axis.barh(names, [values[name] for name in names], color=colors)
        axis.bar_label(bars, fmt="{:,.0f}", padding=3, fontsize=8)
        axis.set_title(title, fontsize=10)
        axis.tick_params(labelsize=8)
        axis.margins(x=0.15)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return f"wrote {path}"


# -- main --------------------------------------------------------------------------------------

RUNNERS: dict[str, Callable[[Settings, dict[str, str], Results], None]] = {
    "json": run_json,
    "stream": run_stream,
    "file": run_file,
}


def _parts(value: str) -> tuple[str, ...]:
    parts = tuple(part.strip() for part in value.split(",") if part.strip())
    unknown = [part for part in parts if part not in RUNNERS]
    if unknown or not parts:
        raise argparse.ArgumentTypeError(f"parts are json, stream, file; got {value!r}")
    return tuple(part for part in RUNNERS if part in parts)


def _settings() -> Settings:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--duration", help="wrk duration per run (default 10s, 2s with --quick)")
    parser.add_argument("--quick", action="store_true", help="a short smoke run")
    parser.add_argument("--only", type=_parts, default=tuple(RUNNERS), help="e.g. json,stream")
    parser.add_argument("--out", type=Path, default=HERE / "results", help="for load.md, .png")
    args = parser.parse_args()
    duration = args.duration or ("2s" if args.quick else "10s")
    try:
        _seconds(duration)
    except argparse.ArgumentTypeError as exc:
        parser.error(str(exc))
    return Settings(
        duration=duration,
        json_rounds=1 if args.quick else 2,
        rounds=1 if args.quick else 3,
        stream_chunks=(256 if args.quick else 1024) * MIB // len(CHUNK),
        file_bytes=(64 if args.quick else 256) * MIB,
        quick=args.quick,
        parts=args.only,
        pin=_pinning(),
        out=args.out,
    )


def main() -> int:
    settings = _settings()
    needed = {"wrk": "json" in settings.parts, "curl": {"stream", "file"} & set(settings.parts)}
    for tool, used in needed.items():
        if used and shutil.which(tool) is None:
            sys.exit(f"{tool} is not installed: apt-get update && apt-get install -y {tool}")
    # A SIGTERM unwinds like Ctrl-C, so every server started is stopped.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    if settings.pin.client_cpu is not None:
        os.sched_setaffinity(0, {settings.pin.client_cpu})
    print(f"pinning: {settings.pin.note}")
    print(
        "servers: respcore via `python -m respcore serve`; uvicorn --loop uvloop --http "
        "httptools, 1 worker, no access log; aiohttp.web on uvloop (uvloop.run); granian "
        "--workers 1 --runtime-threads 1 --http 1, asgi and rsgi; nginx with sendfile, 1 process"
    )
    load = os.getloadavg()[0]
    if load > 0.5:
        print(f"warning: load average {load:.2f} before starting: other processes are busy")
    results = Results()
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="respcore-load-") as scratch:
        root = Path(scratch)
        env = dict(os.environ)
        env.update(
            PYTHONPATH=os.pathsep.join(filter(None, [str(HERE), env.get("PYTHONPATH")])),
            RESPCORE_BENCH_DIR=str(root),
            RESPCORE_BENCH_FILE=str(root / "bench.bin"),
            RESPCORE_BENCH_BIG_FILE=str(root / "big.bin"),
            RESPCORE_BENCH_STREAM_CHUNKS=str(settings.stream_chunks),
        )
        for part in settings.parts:
            RUNNERS[part](settings, env, results)
    machine = _machine(settings, load)
    print_report(results, settings, machine)
    settings.out.mkdir(parents=True, exist_ok=True)
    write_markdown(settings.out / "load.md", results, settings, machine)
    print(f"\nwrote {settings.out / 'load.md'}")
    print(write_chart(settings.out / "load.png", results))
    print(f"took {time.monotonic() - started:.0f} s")
    return 1 if results.errors else 0


if __name__ == "__main__":
    sys.exit(main())
