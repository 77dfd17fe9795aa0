from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

import respcore


def pytest_report_header() -> str:
    return f"respcore {respcore.__version__}: compiled core in use: {respcore.COMPILED}"


@pytest.fixture(scope="session")
def pure_run() -> bool:
    """True when this run was asked to use the pure-Python twin."""
    return os.environ.get("RESPCORE_NO_EXTENSIONS", "") not in ("", "0")
