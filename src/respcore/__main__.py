"""``python -m respcore serve [MODULE:APP] [--host H] [--port P]``."""

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
    args = parser.parse_args(argv)

    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    if args.app is None:
        from .demo import app
    else:
        app = _load(args.app)
    from .server import serve as run

    run(app, args.host, args.port)
    return 0


if __name__ == "__main__":
    sys.exit(main())
