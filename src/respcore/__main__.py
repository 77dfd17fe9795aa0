"""``python -m respcore serve [MODULE:APP] [--host H] [--port P] [--workers N]
[--max-head-size BYTES] [--max-body-size BYTES] [--keep-alive-timeout SECONDS]
[--head-timeout SECONDS] [--body-timeout SECONDS] [--max-connections N] [--log-level LEVEL]
[--access-log]``."""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from typing import Any

from ._version import __version__


def _load(target: str) -> Any:
    module_name, sep, attribute = target.partition(":")
    if not sep or not module_name or not attribute:
        raise SystemExit(f"respcore: app must be MODULE:APP (e.g. myapp:app), got {target!r}")
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        value: Any = importlib.import_module(module_name)
    except ImportError as exc:
        raise SystemExit(f"respcore: cannot import module {module_name!r}: {exc}") from exc
    for part in attribute.split("."):
        try:
            value = getattr(value, part)
        except AttributeError:
            raise SystemExit(
                f"respcore: module {module_name!r} has no attribute {attribute!r}"
            ) from None
    if not callable(value):
        raise SystemExit(f"respcore: {target} is {type(value).__name__}, not an app(req, res)")
    return value


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text!r}")
    return value


def _positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a number of seconds > 0, got {text!r}")
    return value


LOG_LEVELS = ("debug", "info", "warning", "error", "critical")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m respcore", description="respcore tools")
    parser.add_argument("--version", action="version", version=f"respcore {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser(
        "serve", help="serve MODULE:APP, or the built-in demo when no app is given"
    )
    serve.add_argument("app", nargs="?", help="MODULE:APP, an async function app(req, res)")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (127.0.0.1)")
    serve.add_argument("--port", type=int, default=8000, help="port to listen on (8000; 0: any)")
    serve.add_argument(
        "--workers",
        type=_positive_int,
        default=1,
        metavar="N",
        help="worker processes on the one port, restarted when they die (1)",
    )
    serve.add_argument(
        "--max-head-size",
        type=_positive_int,
        default=65536,
        metavar="BYTES",
        help="largest request head; larger gets 431 (65536)",
    )
    serve.add_argument(
        "--max-body-size",
        type=_positive_int,
        default=16 * 1024 * 1024,
        metavar="BYTES",
        help="largest request body; larger gets 413 (16777216)",
    )
    serve.add_argument(
        "--keep-alive-timeout",
        type=_positive_seconds,
        default=5.0,
        metavar="SECONDS",
        help="how long an idle connection is kept open (5)",
    )
    serve.add_argument(
        "--head-timeout",
        type=_positive_seconds,
        default=10.0,
        metavar="SECONDS",
        help="how long a request head may take to arrive (10)",
    )
    serve.add_argument(
        "--body-timeout",
        type=_positive_seconds,
        default=30.0,
        metavar="SECONDS",
        help="how long a request body may take to arrive once its head is read (30)",
    )
    serve.add_argument(
        "--max-connections",
        type=_positive_int,
        default=10_000,
        metavar="N",
        help="open connections at most; past it new ones are closed at once (10000)",
    )
    serve.add_argument(
        "--log-level", choices=LOG_LEVELS, default="info", help="what is logged (info)"
    )
    serve.add_argument(
        "--access-log",
        action="store_true",
        help="one line per request, common log format, on stderr (off)",
    )
    args = parser.parse_args(argv)

    logging.basicConfig(
        level=getattr(logging, args.log_level.upper()),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if args.app is None:
        from .demo import app
    else:
        app = _load(args.app)
    from .server import serve as run

    run(
        app,
        args.host,
        args.port,
        workers=args.workers,
        max_head_size=args.max_head_size,
        max_body_size=args.max_body_size,
        keep_alive_timeout=args.keep_alive_timeout,
        head_timeout=args.head_timeout,
        body_timeout=args.body_timeout,
        max_connections=args.max_connections,
        access_log=args.access_log,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
