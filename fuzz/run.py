"""Run every harness of ``fuzz/fuzz_encoder.py`` for a bounded time against a sanitizer build
of the compiled core, and print executions per harness.

    python fuzz/run.py --core build/fuzz/respcore/_encoder….so [--seconds 60] [--only a,b]

The core is built by ``make fuzz-build`` (clang with AddressSanitizer, UndefinedBehavior-
Sanitizer and libFuzzer coverage). Each harness starts from its seed corpus in
``fuzz/corpus/NAME`` (read only) and keeps what it finds in ``build/fuzz/corpus/NAME``.
A crash, a sanitizer report, or a difference between the compiled core and the twin fails
the run (exit status 1), with the input saved by libFuzzer as ``build/fuzz/crash-…``.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import os
import re
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
DONE = re.compile(r"Done (\d+) runs in (\d+) second")
FINDINGS = (
    "runtime error:",
    "ERROR: AddressSanitizer",
    "ERROR: libFuzzer",
    "Traceback (most recent",
)


SCRIPTS = ("fuzz_encoder.py", "fuzz_protocol.py")


def _harnesses() -> dict[str, str]:
    """Every harness, by name, and the script that holds it."""
    found = {}
    for script in SCRIPTS:
        source = (HERE / script).read_text()
        block = source[source.index("\nHARNESSES") :]
        for name in re.findall(r'^\s+"(\w+)": \w+,$', block, re.MULTILINE):
            found[name] = script
    return found


def _runtime() -> str:
    import atheris

    return os.path.join(atheris.path(), "asan_with_fuzzer.so")


def run(name: str, script: str, core: Path, seconds: int, work: Path) -> tuple[int, float, str]:
    scratch = work / "corpus" / name
    scratch.mkdir(parents=True, exist_ok=True)
    seeds = HERE / "corpus" / name
    env = {
        **os.environ,
        "RESPCORE_FUZZ_CORE": str(core),
        # The sanitizer build of the server's compiled path, beside the core's.
        "RESPCORE_FUZZ_PROTOCOL": str(next(core.parent.glob("_protocol*.so"), "")),
        "RESPCORE_FUZZ_HARNESS": name,
        "LD_PRELOAD": _runtime(),
        # CPython's own allocations are not ours to judge, and are not freed at exit.
        "ASAN_OPTIONS": "detect_leaks=0:allocator_may_return_null=1",
        "UBSAN_OPTIONS": "print_stacktrace=1:halt_on_error=1",
    }
    command = [
        sys.executable, str(HERE / script),
        f"-max_total_time={seconds}", "-rss_limit_mb=4096", "-timeout=10",
        f"-artifact_prefix={work}/", str(scratch),
    ]  # fmt: skip
    if seeds.is_dir():
        command.append(str(seeds))
    started = time.monotonic()
    finished = subprocess.run(
        command, cwd=ROOT, env=env, capture_output=True, text=True, errors="replace",
        timeout=seconds + 120, check=False,
    )  # fmt: skip
    elapsed = time.monotonic() - started
    output = finished.stdout + finished.stderr
    done = DONE.search(output)
    runs = int(done.group(1)) if done else 0
    problems = [line for line in output.splitlines() if any(f in line for f in FINDINGS)]
    if finished.returncode != 0 or problems or done is None:
        tail = "\n".join(output.splitlines()[-30:])
        return runs, elapsed, f"FAIL (exit {finished.returncode})\n{tail}"
    return runs, elapsed, "ok"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--core", type=Path, required=True)
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--only", default="")
    parser.add_argument("--work", type=Path, default=ROOT / "build" / "fuzz")
    parser.add_argument("--jobs", type=int, default=1, help="harnesses run at once")
    args = parser.parse_args()
    if not args.core.is_file():
        raise SystemExit(f"fuzz/run.py: no sanitizer build at {args.core} (make fuzz-build)")
    harnesses = _harnesses()
    names = list(harnesses)
    if args.only:
        wanted = args.only.split(",")
        unknown = sorted(set(wanted) - set(names))
        if unknown:
            raise SystemExit(f"fuzz/run.py: unknown harness {unknown[0]!r}; known: {names}")
        names = wanted
    failed = False
    print(f"{'harness':14} {'runs':>10} {'seconds':>8} {'runs/s':>8}  result", flush=True)
    with concurrent.futures.ThreadPoolExecutor(max(1, args.jobs)) as pool:
        outcomes = pool.map(
            lambda name: run(name, harnesses[name], args.core, args.seconds, args.work), names
        )
        for name, (runs, elapsed, result) in zip(names, outcomes, strict=True):
            failed = failed or result != "ok"
            rate = runs / elapsed if elapsed else 0.0
            print(f"{name:14} {runs:10d} {elapsed:8.1f} {rate:8.0f}  {result}", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
