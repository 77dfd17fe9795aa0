"""A bounded soak of respcore's server on 127.0.0.1: wrk at 64 connections over a mix of
routes (``bench/soak_app.py``: JSON, a stream, a file with a range, a 404, an app that raises)
while other clients open a slow stream and leave in the middle of it. Prints the server's RSS
after warm-up and at the end, its open file descriptors before, during and after, and every
status code wrk saw; exits 1 when a figure is outside its bound.

    .venv/bin/python bench/soak.py [--duration 120] [--warmup 15]

Bounds: RSS growth after warm-up < 2 MiB; the descriptor count back to where it started once
the clients are gone; no status codes other than 200, 206, 404 and 500 (the app that
raises). Needs wrk (apt-get install -y wrk).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
HOST = "127.0.0.1"
EXPECTED = {200, 206, 404, 500}
RSS_LIMIT_KIB = 2048

# wrk: each request picks the next route of the mix; every status is counted.
LUA = r"""
local paths = {"/json", "/stream", "/file", "/missing", "/broken", "/json", "/file", "/json"}
local headers = {
  ["/file"] = {["Range"] = "bytes=1000-65535"},
}
local n = 0
local threads = {}
-- Counts live in each thread's own state; done() reads them back through thread:get.
s200, s206, s404, s500, other, last_other = 0, 0, 0, 0, 0, 0
setup = function(thread)
  table.insert(threads, thread)
end
request = function()
  n = n + 1
  local path = paths[(n % #paths) + 1]
  return wrk.format("GET", path, headers[path])
end
response = function(status, headers, body)
  if status == 200 then s200 = s200 + 1
  elseif status == 206 then s206 = s206 + 1
  elseif status == 404 then s404 = s404 + 1
  elseif status == 500 then s500 = s500 + 1
  else other = other + 1; last_other = status end
end
done = function(summary, latency, requests)
  for _, thread in ipairs(threads) do
    for _, name in ipairs({"s200", "s206", "s404", "s500"}) do
      io.write(string.format("status %s %d\n", string.sub(name, 2), thread:get(name)))
    end
    if thread:get("other") > 0 then
      io.write(string.format("status %d %d\n", thread:get("last_other"), thread:get("other")))
    end
  end
end
"""


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        port: int = probe.getsockname()[1]
    return port


def _rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def _fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def _wait_listening(port: int, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"soak: the server exited with {process.returncode}")
        try:
            with socket.create_connection((HOST, port), timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise SystemExit("soak: the server did not start listening")


def _leavers(port: int, stop: threading.Event, count: list[int]) -> None:
    """Clients that ask for the slow stream, read a little of it and leave (bounded)."""
    while not stop.is_set() and count[0] < 100_000:
        try:
            with socket.create_connection((HOST, port), timeout=5) as sock:
                sock.sendall(b"GET /slow HTTP/1.1\r\nHost: soak\r\n\r\n")
                received = b""
                while b"tick 2\n" not in received:
                    data = sock.recv(4096)
                    if not data:
                        break
                    received += data
            count[0] += 1
        except OSError:
            pass
        stop.wait(0.05)


def _settle(pid: int, target: int, seconds: float) -> int:
    """The descriptor count once it is back to ``target``, or after ``seconds``."""
    deadline = time.monotonic() + seconds
    while True:
        count = _fds(pid)
        if count <= target or time.monotonic() >= deadline:
            return count
        time.sleep(0.2)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--duration", type=int, default=120, help="seconds of load (120)")
    parser.add_argument("--warmup", type=int, default=15, help="seconds before RSS is taken")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("soak: wrk is not installed (apt-get install -y wrk)")
    if args.warmup >= args.duration:
        raise SystemExit("soak: --warmup must be shorter than --duration")
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "respcore", "serve", "soak_app:app", "--host", HOST,
         "--port", str(port)],
        cwd=HERE, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        _wait_listening(port, server)
        fds_start = _fds(server.pid)
        with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
            script.write(LUA)
        stop = threading.Event()
        left = [0]
        leaver = threading.Thread(target=_leavers, args=(port, stop, left), daemon=True)
        leaver.start()
        wrk = subprocess.Popen(
            ["wrk", "-t1", "-c64", f"-d{args.duration}s", "-s", script.name,
             f"http://{HOST}:{port}/"],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
        time.sleep(args.warmup)
        rss_warm = _rss_kib(server.pid)
        fds_peak = _fds(server.pid)
        output, _ = wrk.communicate(timeout=args.duration + 60)
        stop.set()
        leaver.join(10)
        rss_end = _rss_kib(server.pid)
        fds_end = _settle(server.pid, fds_start, 15)
        os.unlink(script.name)
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(15)
        except subprocess.TimeoutExpired:
            server.kill()
    statuses = {int(s): int(n) for s, n in re.findall(r"^status (\d+) (\d+)$", output, re.M)}
    requests = re.search(r"(\d+) requests in", output)
    errors = re.search(r"Socket errors:.*", output)
    unexpected = {s: n for s, n in statuses.items() if s not in EXPECTED}
    growth = rss_end - rss_warm
    print(f"soak: {args.duration} s of wrk -t1 -c64 over the route mix, {args.warmup} s warm-up")
    print(f"requests               {requests.group(1) if requests else '?'}")
    print(f"status codes           {dict(sorted(statuses.items()))}")
    print(f"wrk socket errors      {errors.group(0) if errors else 'none'}")
    print(f"clients that left mid-stream  {left[0]}")
    print(f"RSS after warm-up      {rss_warm / 1024:.1f} MiB")
    print(f"RSS at the end         {rss_end / 1024:.1f} MiB (growth {growth / 1024:+.2f} MiB)")
    print(f"open descriptors       {fds_start} at start, {fds_peak} under load, {fds_end} after")
    checks = [
        ("RSS growth after warm-up < 2 MiB", growth < RSS_LIMIT_KIB),
        ("descriptors back to the start", fds_end <= fds_start),
        ("no unexpected status codes", not unexpected and bool(statuses)),
    ]
    for name, ok in checks:
        print(f"{'PASS' if ok else 'FAIL'}  {name}")
    return 0 if all(ok for _, ok in checks) else 1


if __name__ == "__main__":
    sys.exit(main())
