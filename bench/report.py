"""Print the encoder micro benchmark side by side: median ns/call and ratios to respcore.

Usage: python bench/report.py bench/results/encoder.json

Reads the JSON that pytest-benchmark wrote for bench/bench_encoder.py and prints, per group, a
table of the contenders with their median time per call and how many times slower each is
than respcore compiled, then the performance targets as PASS/MISS lines. A missed target is
reported, not an error (exit status 0); a benchmark missing from the JSON is an error
(exit status 1), as is an unreadable file (exit status 2).
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# group -> [(test name, label)], the first of each group being the baseline of its ratios.
GROUPS: dict[str, list[tuple[str, str]]] = {
    "head": [
        ("test_head_respcore_compiled_pairs", "respcore compiled, from pairs"),
        ("test_head_respcore_compiled_headers", "respcore compiled, from Headers"),
        ("test_head_respcore_twin_pairs", "respcore pure-Python twin, from pairs"),
        ("test_head_aiohttp_compiled", "aiohttp compiled _serialize_headers"),
        ("test_head_aiohttp_pure", "aiohttp pure-Python _py_serialize_headers"),
        ("test_head_naive_join", "naive f-string join"),
        ("test_head_h11", "h11 Connection.send(Response)"),
        ("test_head_starlette_uvicorn", "Starlette Response + uvicorn-style join"),
    ],
    "chunk": [
        ("test_chunk_respcore_compiled", "respcore compiled encode_chunk"),
        ("test_chunk_join", "b''.join([b'%x\\r\\n' % n, data, b'\\r\\n'])"),
        ("test_chunk_respcore_twin", "respcore pure-Python twin encode_chunk"),
    ],
}


@dataclass(frozen=True)
class Target:
    """``fast`` at least ``factor`` times as fast as ``slow`` (ratio of medians)."""

    description: str
    fast: str
    slow: str
    factor: float


TARGETS: list[Target] = [
    Target(
        "compiled encode_head (pairs) vs aiohttp compiled",
        "test_head_respcore_compiled_pairs",
        "test_head_aiohttp_compiled",
        3.0,
    ),
    Target(
        "compiled encode_head (pairs) vs naive join",
        "test_head_respcore_compiled_pairs",
        "test_head_naive_join",
        2.5,
    ),
    Target(
        "compiled encode_head (Headers) vs aiohttp compiled",
        "test_head_respcore_compiled_headers",
        "test_head_aiohttp_compiled",
        2.0,
    ),
    Target(
        "compiled encode_chunk 1 KiB vs join",
        "test_chunk_respcore_compiled",
        "test_chunk_join",
        1.5,
    ),
    Target(
        "pure-Python twin (pairs) vs aiohttp pure-Python",
        "test_head_respcore_twin_pairs",
        "test_head_aiohttp_pure",
        1.0,
    ),
]


@dataclass(frozen=True)
class Result:
    name: str
    group: str | None
    median_ns: float
    iqr_ns: float
    rounds: int
    iterations: int


def load(path: Path) -> dict[str, Result]:
    data: Any = json.loads(path.read_text(encoding="utf-8"))
    results: dict[str, Result] = {}
    for bench in data["benchmarks"]:
        stats = bench["stats"]
        name = str(bench["name"])
        results[name] = Result(
            name=name,
            group=bench.get("group"),
            median_ns=float(stats["median"]) * 1e9,
            iqr_ns=float(stats["iqr"]) * 1e9,
            rounds=int(stats["rounds"]),
            iterations=int(stats.get("iterations", 1)),
        )
    return results


def problems(results: dict[str, Result]) -> list[str]:
    found: list[str] = []
    for group, members in GROUPS.items():
        for name, _label in members:
            result = results.get(name)
            if result is None:
                found.append(f"missing benchmark: {name} (group {group!r})")
            elif result.group != group:
                found.append(f"benchmark {name} is in group {result.group!r}, not {group!r}")
    return found


def table(group: str, results: dict[str, Result]) -> list[str]:
    members = GROUPS[group]
    baseline = results[members[0][0]]
    width = max(len(label) for _name, label in members)
    lines = [
        f"group {group!r}: median per call; ratio = median / median of {members[0][1]}",
        f"  {'contender':<{width}}  {'median ns':>10}  {'IQR ns':>8}  {'rounds':>7}"
        f"  {'iters':>5}  {'ratio':>6}",
    ]
    for name, label in members:
        r = results[name]
        ratio = r.median_ns / baseline.median_ns
        lines.append(
            f"  {label:<{width}}  {r.median_ns:>10.1f}  {r.iqr_ns:>8.1f}  {r.rounds:>7}"
            f"  {r.iterations:>5}  {ratio:>5.2f}x"
        )
    return lines


def target_lines(results: dict[str, Result]) -> list[str]:
    lines = ["targets (speedup = slower median / faster median):"]
    width = max(len(t.description) for t in TARGETS)
    for t in TARGETS:
        speedup = results[t.slow].median_ns / results[t.fast].median_ns
        verdict = "PASS" if speedup >= t.factor else "MISS"
        lines.append(
            f"  {verdict}  {t.description:<{width}}  {speedup:5.2f}x  (target >= {t.factor:.1f}x)"
        )
    return lines


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(f"usage: {argv[0]} RESULTS.json", file=sys.stderr)
        return 2
    path = Path(argv[1])
    try:
        results = load(path)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        print(f"{path}: cannot read pytest-benchmark results: {exc!r}", file=sys.stderr)
        return 2
    found = problems(results)
    if found:
        for problem in found:
            print(f"{path}: {problem}", file=sys.stderr)
        return 1
    out: list[str] = []
    for group in GROUPS:
        out += [*table(group, results), ""]
    out += target_lines(results)
    print("\n".join(out))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
