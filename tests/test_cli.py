"""``python -m respcore serve`` in a subprocess: the demo and every link on its page, a
module of the user's own, clean shutdown on SIGTERM/SIGINT, and bad app arguments."""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import queue
import re
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from _live import (
    POSIX_ONLY,
    WAIT,
    ResponseReader,
    connect,
    parse_closed,
    recv_until,
    recv_until_close,
    request,
    wait_until,
)

import respcore

pytestmark = POSIX_ONLY

START = 20.0  # bound on a subprocess starting to serve (imports, a cold cache)
SERVING = re.compile(r"respcore serving on (http://([0-9.]+):(\d+))")


@dataclass
class Served:
    """A ``python -m respcore serve`` subprocess and the address it logged."""

    process: subprocess.Popen[bytes]
    url: str
    port: int
    lines: queue.Queue[str] = field(default_factory=queue.Queue)
    log: list[str] = field(default_factory=list)

    def stderr_until(self, pattern: str, timeout: float = WAIT) -> bool:
        """Whether a stderr line containing ``pattern`` shows up within ``timeout``."""
        deadline = time.monotonic() + timeout
        while not any(pattern in line for line in self.log):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            try:
                self.log.append(self.lines.get(timeout=remaining))
            except queue.Empty:
                return False
        return True


def _command(*args: str) -> list[str]:
    return [sys.executable, "-m", "respcore", "serve", *args]


@contextmanager
def serving(*args: str, cwd: Path | None = None) -> Iterator[Served]:
    """Run ``python -m respcore serve --port 0 *args``; yield once it logs its address; stop
    it (SIGTERM, then SIGKILL) if the test has not."""
    process = subprocess.Popen(
        _command("--port", "0", *args),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        cwd=cwd,
    )
    lines: queue.Queue[str] = queue.Queue()

    def drain() -> None:
        assert process.stderr is not None
        for raw in process.stderr:
            lines.put(raw.decode("utf-8", "replace"))

    threading.Thread(target=drain, name="stderr", daemon=True).start()
    log: list[str] = []
    try:
        deadline = time.monotonic() + START
        match = None
        while match is None:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or (process.poll() is not None and lines.empty()):
                raise AssertionError(f"the server did not start: {''.join(log)}")
            try:
                line = lines.get(timeout=min(remaining, 0.5))
            except queue.Empty:
                continue
            log.append(line)
            match = SERVING.search(line)
        yield Served(process, match.group(1), int(match.group(3)), lines, log)
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(WAIT)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(WAIT)


def _run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        _command(*args), capture_output=True, text=True, timeout=START, cwd=cwd, check=False
    )


# -- the demo ----------------------------------------------------------------------------------


def test_demo_serves_every_link_on_its_page() -> None:
    with serving() as served, httpx.Client(base_url=served.url, timeout=WAIT) as client:
        assert served.url == f"http://127.0.0.1:{served.port}"
        page = client.get("/")
        assert page.status_code == 200
        assert page.headers["content-type"] == "text/html; charset=utf-8"
        links = re.findall(r'href="([^"]+)"', page.text)
        assert len(links) >= 9, links
        answers: dict[str, httpx.Response] = {}
        for link in links:
            if link == "/slow":
                # Endless: the first tick, then the client leaves.
                sock = connect(served.port)
                with sock:
                    sock.sendall(request("GET", link))
                    start = recv_until(sock, b"tick 1\n")
                assert start.startswith(b"HTTP/1.1 200 OK\r\n")
            elif link == "/close":
                # No length, no chunks: the body ends when the server closes the connection.
                sock = connect(served.port)
                with sock:
                    sock.sendall(request("GET", link))
                    received = recv_until_close(sock)
                (message,) = parse_closed(received, ["GET"])
                assert message.complete
                assert not received.reset
                assert message.header("connection") == "close"
                assert message.header("content-length") is None
                assert message.header("transfer-encoding") is None
                assert message.body.count(b"\n") == 3
            else:
                answers[link] = response = client.get(link)
                assert response.status_code == 200, link
                assert response.content, link
        assert client.get("/no-such-page").status_code == 404

    assert {"/json", "/text", "/html", "/chunked", "/close", "/report.csv", "/slow"} <= {*links}
    assert answers["/json"].json()["message"] == "Hello, world!"
    assert answers["/chunked"].text == "".join(f"chunk {n} of 5\n" for n in range(1, 6))
    assert answers["/chunked"].headers["transfer-encoding"] == "chunked"
    disposition = answers["/attachment"].headers["content-disposition"]
    assert disposition == 'attachment; filename="hello.txt"'
    for name in ("/rows.csv", "/report.csv"):
        rows = list(csv.reader(io.StringIO(answers[name].text)))
        assert rows[0] == ["id", "name", "score"], name
        assert len(rows) == 1001, name
    report = answers["/report.csv"]
    assert report.headers["content-length"] == str(len(report.content))
    assert "etag" in report.headers
    assert answers["/request"].json()["method"] == "GET"


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_signal_lets_the_response_in_flight_finish(signum: signal.Signals) -> None:
    with serving() as served:
        sock = connect(served.port)
        with sock:
            sock.sendall(request("GET", "/chunked"))
            start = recv_until(sock, b"chunk 1 of 5\n")
            served.process.send_signal(signum)
            assert served.stderr_until("shutting down")
            # The server stops listening at once...
            assert wait_until(lambda: _refused(served.port))
            # ...and finishes the response it was sending.
            reader = ResponseReader(sock)
            reader.feed(start)
            message = reader.read()
            assert message.complete, message.error
            assert message.body == "".join(f"chunk {n} of 5\n" for n in range(1, 6)).encode()
            reader.expect_close()
        assert served.process.wait(WAIT) == 0


def _refused(port: int) -> bool:
    try:
        connect(port, timeout=1.0).close()
    except ConnectionRefusedError:
        return True
    return False


def test_idle_server_exits_cleanly_on_sigterm() -> None:
    with serving() as served:
        with httpx.Client(timeout=WAIT) as client:  # a kept-alive idle connection
            assert client.get(served.url + "/text").text == "Hello, world!\n"
            started = time.monotonic()
            served.process.send_signal(signal.SIGTERM)
            assert served.process.wait(WAIT) == 0
        assert time.monotonic() - started < 5.0


# -- the user's own app ------------------------------------------------------------------------

HELPER = """
import respcore
from respcore import JsonResponse


async def app(req, res):
    if req.path == "/returned":
        return JsonResponse({"style": "returned", "compiled": respcore.COMPILED})
    res.status_code = 201
    res.text = f"mutated {req.method} {req.path}"
"""


def test_serves_an_app_from_a_module_of_the_users(tmp_path: Path) -> None:
    (tmp_path / "tests_helper_module.py").write_text(textwrap.dedent(HELPER))
    args = ("tests_helper_module:app", "--host", "127.0.0.1")
    with serving(*args, cwd=tmp_path) as served, httpx.Client(timeout=WAIT) as client:
        returned = client.get(served.url + "/returned")
        assert returned.json() == {"style": "returned", "compiled": respcore.COMPILED}
        mutated = client.post(served.url + "/elsewhere")
        assert (mutated.status_code, mutated.text) == (201, "mutated POST /elsewhere")


@pytest.mark.parametrize(
    ("target", "named"),
    [
        ("nosuchmodule_for_respcore:app", "nosuchmodule_for_respcore"),
        ("badformat", "MODULE:APP (e.g. myapp:app), got 'badformat'"),
        ("tests_helper_module:nope", "nope"),
        ("tests_helper_module:respcore", "not an app"),
    ],
    ids=["no-module", "no-colon", "no-attribute", "not-callable"],
)
def test_bad_app_argument_exits_nonzero_naming_the_problem(
    tmp_path: Path, target: str, named: str
) -> None:
    (tmp_path / "tests_helper_module.py").write_text(textwrap.dedent(HELPER))
    done = _run(target, "--port", "0", cwd=tmp_path)
    assert done.returncode != 0
    assert named in done.stderr
    assert "Traceback" not in done.stderr
    assert "serving on" not in done.stderr


def test_request_to_the_demo_reports_what_was_read() -> None:
    with serving() as served:
        sock = connect(served.port)
        with sock:
            sock.sendall(request("POST", "/request?q=%20x", headers=[("X-Mine", "1")], body=b"{}"))
            message = ResponseReader(sock).read("POST")
    echoed = json.loads(message.body)
    assert echoed["path"] == "/request"
    assert echoed["query_string"] == "q=%20x"
    assert ["X-Mine", "1"] in echoed["headers"] or ["x-mine", "1"] in echoed["headers"]
    assert echoed["body"] == "{}"


# -- server options ----------------------------------------------------------------------------

PID_APP = """
import os

from respcore import StreamingResponse


async def app(req, res):
    if req.path == "/stream":
        async def chunks():
            yield b"one "
            yield b"two"

        return StreamingResponse(chunks)
    res.text = str(os.getpid())
"""
CLF = re.compile(
    r'^127\.0\.0\.1 - - \[\d\d/\w{3}/\d{4}:\d\d:\d\d:\d\d \+0000\] "(.*)" (\d{3}) (\S+)$'
)
STARTED = re.compile(r"respcore worker (\d+) started")


def _worker_pids(served: Served) -> list[int]:
    return [int(m.group(1)) for line in served.log for m in [STARTED.search(line)] if m]


def _until_workers(served: Served, count: int) -> list[int]:
    """The pids of the workers started so far, once there are ``count`` (bounded wait)."""
    deadline = time.monotonic() + START
    while len(_worker_pids(served)) < count and time.monotonic() < deadline:
        with contextlib.suppress(queue.Empty):
            served.log.append(served.lines.get(timeout=0.2))
    pids = _worker_pids(served)
    assert len(pids) >= count, "".join(served.log)
    return pids


def _answering_pid(port: int) -> int:
    """The pid of the worker that answers one request on a fresh connection."""
    with httpx.Client(timeout=WAIT) as client:
        return int(client.get(f"http://127.0.0.1:{port}/").text)


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def _rest_of_stderr(served: Served) -> list[str]:
    """Every stderr line, once the process has exited."""
    assert served.process.poll() is not None
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        try:
            served.log.append(served.lines.get(timeout=0.5))
        except queue.Empty:
            break
    return served.log


def test_workers_share_one_port_and_a_killed_worker_is_replaced(tmp_path: Path) -> None:
    (tmp_path / "pid_app.py").write_text(textwrap.dedent(PID_APP))
    with serving("pid_app:app", "--workers", "2", cwd=tmp_path) as served:
        first = _until_workers(served, 2)
        # Both workers accept connections on the one port.
        seen: set[int] = set()
        for _ in range(200):
            seen.add(_answering_pid(served.port))
            if len(seen) == 2:
                break
        assert seen == set(first)

        # Light load from a client while one worker is killed.
        stop = threading.Event()
        answered: list[int] = []
        failures: list[str] = []

        def load() -> None:
            with httpx.Client(timeout=WAIT) as client:
                for _ in range(5000):
                    if stop.is_set():
                        return
                    try:
                        answered.append(int(client.get(served.url + "/").text))
                    except httpx.HTTPError as exc:  # the killed worker's connection
                        failures.append(repr(exc))

        loader = threading.Thread(target=load, daemon=True)
        loader.start()
        assert wait_until(lambda: len(answered) >= 20)
        victim = first[0]
        os.kill(victim, signal.SIGKILL)
        assert served.stderr_until(f"respcore worker {victim} was killed by signal 9")
        pids = _until_workers(served, 3)
        (replacement,) = set(pids) - set(first)
        assert wait_until(lambda: _gone(victim))
        after_kill = len(answered)
        assert wait_until(lambda: len(answered) >= after_kill + 20)
        stop.set()
        loader.join(WAIT)
        assert not loader.is_alive()
        assert victim not in answered[after_kill:]

        # The port keeps answering, from the workers alive now.
        alive = {first[1], replacement}
        assert {_answering_pid(served.port) for _ in range(20)} <= alive
        served.process.send_signal(signal.SIGTERM)
        assert served.process.wait(WAIT) == 0
    assert all(_gone(pid) for pid in alive)
    assert _refused(served.port)
    # No --access-log: no request lines.
    assert [line for line in _rest_of_stderr(served) if CLF.match(line.strip())] == []


def test_workers_stop_gracefully_on_sigint(tmp_path: Path) -> None:
    (tmp_path / "pid_app.py").write_text(textwrap.dedent(PID_APP))
    with serving("pid_app:app", "--workers", "2", cwd=tmp_path) as served:
        pids = _until_workers(served, 2)
        assert _answering_pid(served.port) in pids
        served.process.send_signal(signal.SIGINT)
        assert served.process.wait(WAIT) == 0
    log = "".join(_rest_of_stderr(served))
    for pid in pids:
        assert f"respcore worker {pid} stopping" in log
        assert _gone(pid)
    assert "killing" not in log


def test_access_log_writes_one_common_log_format_line_per_request(tmp_path: Path) -> None:
    (tmp_path / "pid_app.py").write_text(textwrap.dedent(PID_APP))
    with serving("pid_app:app", "--access-log", cwd=tmp_path) as served:
        with httpx.Client(timeout=WAIT) as client:
            pid = client.get(served.url + "/a/b?x=1").text
            assert client.head(served.url + "/h").status_code == 200
            assert client.get(served.url + "/stream").text == "one two"
        served.process.send_signal(signal.SIGTERM)
        assert served.process.wait(WAIT) == 0
    lines = [m.groups() for line in _rest_of_stderr(served) if (m := CLF.match(line.strip()))]
    assert lines == [
        ("GET /a/b?x=1 HTTP/1.1", "200", str(len(pid))),
        ("HEAD /h HTTP/1.1", "200", "0"),
        ("GET /stream HTTP/1.1", "200", "-"),
    ]


def test_server_options_from_the_command_line_reach_the_server(tmp_path: Path) -> None:
    (tmp_path / "pid_app.py").write_text(textwrap.dedent(PID_APP))
    args = ("pid_app:app", "--max-head-size", "1024", "--max-body-size", "10")
    timeouts = ("--keep-alive-timeout", "0.5", "--head-timeout", "0.5")
    with serving(*args, *timeouts, "--log-level", "debug", cwd=tmp_path) as s:
        with connect(s.port) as sock:
            sock.sendall(request("GET", "/", headers=[("X-Big", "a" * 2048)]))
            assert parse_closed(recv_until_close(sock), ["GET"])[0].status == 431
        with connect(s.port) as sock:
            sock.sendall(request("POST", "/", body=b"x" * 20))
            assert parse_closed(recv_until_close(sock), ["POST"])[0].status == 413
        with connect(s.port) as sock:
            sock.sendall(request("GET", "/", body=b""))
            # Answered, then closed by the server once idle for the keep-alive timeout.
            (message,) = parse_closed(recv_until_close(sock), ["GET"])
            assert message.status == 200
        with connect(s.port) as sock:
            # --head-timeout: a head still arriving after 0.5 s is cut off.
            sock.sendall(b"GET / HTTP/1.1\r\nX-Slow: ")
            sock.settimeout(0.05)
            closed = False
            for _ in range(200):  # at most 10 s
                try:
                    sock.sendall(b"a")
                    closed = sock.recv(1) == b""
                except TimeoutError:
                    continue
                except OSError:
                    closed = True
                if closed:
                    break
            assert closed
        with connect(s.port) as sock:
            sock.sendall(b"NOT HTTP\r\n\r\n")
            assert parse_closed(recv_until_close(sock), ["GET"])[0].status == 400
        # --log-level debug: the server says why it refused.
        assert s.stderr_until("DEBUG respcore.server: bad request")


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (("--workers", "0"), "argument --workers: must be a positive integer, got '0'"),
        (("--workers", "-2"), "argument --workers: must be a positive integer, got '-2'"),
        (("--workers", "two"), "argument --workers: must be a positive integer, got 'two'"),
        (("--max-head-size", "0"), "argument --max-head-size: must be a positive integer"),
        (("--max-body-size", "-1"), "argument --max-body-size: must be a positive integer"),
        (("--keep-alive-timeout", "0"), "argument --keep-alive-timeout: must be a number of"),
        (("--keep-alive-timeout", "nan"), "argument --keep-alive-timeout: must be a number of"),
        (("--head-timeout", "-3"), "argument --head-timeout: must be a number of seconds > 0"),
        (("--body-timeout", "0"), "argument --body-timeout: must be a number of seconds > 0"),
        (("--max-connections", "0"), "argument --max-connections: must be a positive integer"),
        (("--log-level", "loud"), "argument --log-level: invalid choice: 'loud'"),
    ],
    ids=[
        "workers-0",
        "workers-negative",
        "workers-word",
        "head",
        "body",
        "timeout",
        "nan",
        "head-timeout",
        "body-timeout",
        "max-connections",
        "lvl",
    ],
)
def test_bad_server_option_exits_2_naming_the_flag(args: tuple[str, str], named: str) -> None:
    done = _run(*args, "--port", "0")
    assert done.returncode == 2
    assert named in done.stderr
    assert "Traceback" not in done.stderr
    assert "serving on" not in done.stderr


@pytest.mark.parametrize("workers", [0, -1, True, 1.5, "2"])
def test_serve_refuses_a_bad_worker_count_naming_it(workers: object) -> None:
    async def app(req: object, res: object) -> None:
        pass

    with pytest.raises(ValueError, match=r"workers must be a positive int, got "):
        respcore.serve(app, port=0, workers=workers)


def test_serve_with_workers_checks_the_options_before_it_forks() -> None:
    async def app(req: object, res: object) -> None:
        pass

    with pytest.raises(ValueError, match="max_head_size must be a positive int, got 0"):
        respcore.serve(app, port=0, workers=2, max_head_size=0)


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("body_timeout", 0, "body_timeout must be seconds > 0, got 0"),
        ("body_timeout", float("inf"), "body_timeout must be seconds > 0, got inf"),
        ("max_connections", 0, "max_connections must be a positive int, got 0"),
        ("max_connections", True, "max_connections must be a positive int, got True"),
    ],
)
def test_serve_refuses_bad_limits_naming_them(option: str, value: object, message: str) -> None:
    async def app(req: object, res: object) -> None:
        pass

    with pytest.raises(ValueError, match=message):
        respcore.serve(app, port=0, **{option: value})
