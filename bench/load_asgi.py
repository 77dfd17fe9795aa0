"""Load benchmark: the same hello-world JSON endpoint as three raw ASGI apps under uvicorn
(uvloop, httptools, one worker, access log off), each loaded with wrk on 127.0.0.1, side by
side in one run; prints requests/s and the ratios.

    .venv/bin/python bench/load_asgi.py [--duration 10s] [--connections 64] [--rounds 1]

Needs wrk (apt-get install -y wrk). Each server listens on a free 127.0.0.1 port.
"""

from __future__ import annotations

import argparse
import re
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import httpx

HERE = Path(__file__).resolve().parent
APPS = {
    "respcore JsonResponse": "asgi_apps:respcore_app",
    "starlette JSONResponse": "asgi_apps:starlette_app",
    "precomputed messages": "asgi_apps:precomputed_app",
}
READY_TIMEOUT = 20.0


def _free_port() -> int:
    # Handing uvicorn a bound socket with --fd leaves Nagle on for its connections (40 ms
    # stalls), so it binds the port itself; the port is free as of this call.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def _start(app: str) -> tuple[subprocess.Popen[str], str]:
    port = _free_port()
    url = f"http://127.0.0.1:{port}/"
    command = [
        sys.executable, "-m", "uvicorn", app, "--host", "127.0.0.1", "--port", str(port),
        "--loop", "uvloop", "--http", "httptools", "--workers", "1", "--lifespan", "off",
        "--no-access-log", "--log-level", "info", "--app-dir", str(HERE),
    ]  # fmt: skip
    process = subprocess.Popen(command, stderr=subprocess.PIPE, text=True)
    assert process.stderr is not None
    # uvicorn logs "Uvicorn running on ..." once it listens: wait for that line.
    for line in process.stderr:
        if "Uvicorn running on" in line:
            break
    else:
        raise RuntimeError(f"{app} exited with {process.wait(READY_TIMEOUT)}")
    with httpx.Client(timeout=READY_TIMEOUT) as client:
        response = client.get(url)
    if response.content != b'{"message":"Hello, world!"}':
        raise RuntimeError(f"{app} answered {response.content!r}")
    return process, url


def _wrk(url: str, duration: str, connections: int) -> float:
    done = subprocess.run(
        ["wrk", "-t1", f"-c{connections}", f"-d{duration}", url],
        capture_output=True,
        text=True,
        check=True,
        timeout=600,
    )
    match = re.search(r"Requests/sec:\s*([\d.]+)", done.stdout)
    if match is None or "Non-2xx" in done.stdout or "Socket errors" in done.stdout:
        raise RuntimeError(f"wrk failed against {url}:\n{done.stdout}")
    return float(match.group(1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--duration", default="10s")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=1, help="runs of each app, interleaved")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed: apt-get update && apt-get install -y wrk")
    results: dict[str, list[float]] = {name: [] for name in APPS}
    for _ in range(args.rounds):
        for name, app in APPS.items():
            process, url = _start(app)
            try:
                results[name].append(_wrk(url, args.duration, args.connections))
            finally:
                process.terminate()
                process.communicate(timeout=READY_TIMEOUT)
    best = {name: max(values) for name, values in results.items()}
    print(f"uvicorn (uvloop, httptools, 1 worker, no access log); wrk -t1 -c{args.connections}")
    print(f"-d{args.duration}; {args.rounds} round(s), best of each shown")
    print(f"{'app':28} {'req/s':>10}")
    for name, rate in best.items():
        print(f"{name:28} {rate:10.0f}")
    respcore = best["respcore JsonResponse"]
    vs_starlette = respcore / best["starlette JSONResponse"]
    vs_precomputed = respcore / best["precomputed messages"]
    print(f"respcore / starlette   = {vs_starlette:.2f}x (target >= 1.5x)")
    print(f"respcore / precomputed = {vs_precomputed:.2f}x (target >= 0.9x)")


if __name__ == "__main__":
    main()
