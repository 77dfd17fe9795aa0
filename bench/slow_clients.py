"""Slow clients against respcore's server on 127.0.0.1: 500 connections trickle a request head
a byte at a time while a normal client keeps asking for JSON. Prints the normal client's
latency without and with the tricklers (side by side, as a ratio), and how long the server
took to close each trickler against its head timeout.

    .venv/bin/python bench/slow_clients.py [--tricklers 500] [--head-timeout 3]

Targets: the normal client's median latency with the tricklers at most 2x the one without;
every trickler closed within the head timeout plus a second. Bounded: the tricklers stop
after the head timeout plus five seconds, the normal client after 400 requests a phase.
"""

from __future__ import annotations

import argparse
import resource
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
HOST = "127.0.0.1"
REQUEST = b"GET /json HTTP/1.1\r\nHost: bench\r\n\r\n"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        port: int = probe.getsockname()[1]
    return port


def _latencies(port: int, count: int) -> list[float]:
    """Milliseconds per request of one keep-alive client, ``count`` requests in a row."""
    out = []
    with socket.create_connection((HOST, port), timeout=10) as sock:
        for _ in range(count):
            start = time.perf_counter()
            sock.sendall(REQUEST)
            data = b""
            while not (b"\r\n\r\n" in data and data.endswith(b"}")):
                chunk = sock.recv(65536)
                if not chunk:
                    raise RuntimeError("the server closed the normal client's connection")
                data += chunk
            out.append((time.perf_counter() - start) * 1000)
    return out


class Tricklers:
    """``count`` connections that send a head one byte every ``interval`` seconds and note
    when the server closes each."""

    def __init__(self, port: int, count: int, interval: float, limit: float) -> None:
        self.sockets: list[socket.socket] = []
        self.opened: list[float] = []
        self.closed: dict[int, float] = {}
        self.interval = interval
        self.limit = limit
        for _ in range(count):
            sock = socket.create_connection((HOST, port), timeout=10)
            sock.setblocking(False)
            self.sockets.append(sock)
            self.opened.append(time.monotonic())
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        head = b"GET /json HTTP/1.1\r\nHost: bench\r\nX-Slow: " + b"s" * 10_000
        sent = 0
        deadline = time.monotonic() + self.limit
        while not self.stop.is_set() and time.monotonic() < deadline:
            for index, sock in enumerate(self.sockets):
                if index in self.closed:
                    continue
                try:
                    if sock.recv(1) == b"":
                        self.closed[index] = time.monotonic()
                        continue
                except BlockingIOError:
                    pass
                except OSError:
                    self.closed[index] = time.monotonic()
                    continue
                try:
                    sock.send(head[sent : sent + 1])
                except BlockingIOError:
                    pass
                except OSError:
                    self.closed[index] = time.monotonic()
            sent += 1
            self.stop.wait(self.interval)

    def close(self) -> None:
        self.stop.set()
        self.thread.join(10)
        for sock in self.sockets:
            sock.close()


def _summary(values: list[float]) -> tuple[float, float]:
    ordered = sorted(values)
    return statistics.median(ordered), ordered[int(len(ordered) * 0.99) - 1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tricklers", type=int, default=500)
    parser.add_argument("--head-timeout", type=float, default=3.0)
    parser.add_argument("--requests", type=int, default=400)
    args = parser.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = min(hard, max(soft, args.tricklers * 2 + 256))
    resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "respcore", "serve", "soak_app:app", "--host", HOST,
         "--port", str(port), "--head-timeout", str(args.head_timeout)],
        cwd=HERE, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection((HOST, port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise SystemExit("slow_clients: the server did not start") from None
                time.sleep(0.1)
        _latencies(port, 50)  # warm up
        alone = _latencies(port, args.requests)
        tricklers = Tricklers(port, args.tricklers, 0.2, args.head_timeout + 5)
        tricklers.thread.start()
        time.sleep(0.5)
        crowded = _latencies(port, args.requests)
        tricklers.thread.join(args.head_timeout + 10)
        tricklers.close()
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(15)
        except subprocess.TimeoutExpired:
            server.kill()
    alone_p50, alone_p99 = _summary(alone)
    crowded_p50, crowded_p99 = _summary(crowded)
    waits = [tricklers.closed[i] - tricklers.opened[i] for i in tricklers.closed]
    never = args.tricklers - len(waits)
    limit = args.head_timeout + 1
    print(f"normal client, {args.requests} GET /json on one keep-alive connection")
    print(f"  {'':34} {'p50 ms':>8} {'p99 ms':>8}")
    print(f"  {'alone':34} {alone_p50:8.3f} {alone_p99:8.3f}")
    print(f"  {f'with {args.tricklers} tricklers':34} {crowded_p50:8.3f} {crowded_p99:8.3f}")
    longest = max(waits, default=0.0)
    print(f"tricklers closed by the server: {len(waits)} of {args.tricklers}; seconds to close:")
    print(f"  max {longest:.2f}, head timeout {args.head_timeout}")
    ratio = crowded_p50 / alone_p50
    checks = [
        (f"p50 with tricklers / alone = {ratio:.2f}x (target <= 2x)", ratio <= 2.0),
        (f"every trickler closed within {limit:.0f} s", never == 0 and max(waits) <= limit),
    ]
    for name, ok in checks:
        print(f"{'PASS' if ok else 'MISS'}  {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
