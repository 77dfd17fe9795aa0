"""The README's framework examples (docs/examples), run under uvicorn and fetched with httpx."""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import httpx
import pytest
from _servers import serve

EXAMPLES = Path(__file__).resolve().parent.parent / "docs" / "examples"


def _load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"respcore_example_{name}", EXAMPLES / name)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def starlette_example() -> Iterator[httpx.Client]:
    with serve(_load("starlette_app.py").app) as url, httpx.Client(base_url=url) as client:
        yield client


@pytest.fixture(scope="module")
def fastapi_example() -> Iterator[tuple[httpx.Client, ModuleType]]:
    module = _load("fastapi_app.py")
    with serve(module.app) as url, httpx.Client(base_url=url) as client:
        yield client, module


def test_starlette_route_returns_a_respcore_json_response(
    starlette_example: httpx.Client,
) -> None:
    response = starlette_example.get("/")
    assert response.json() == {"hello": "world"}
    assert response.headers["content-type"] == "application/json"


def test_starlette_route_returns_a_respcore_stream(starlette_example: httpx.Client) -> None:
    response = starlette_example.get("/countdown")
    assert response.text == "3\n2\n1\n"
    assert response.headers["transfer-encoding"] == "chunked"


def test_starlette_route_returns_a_mutated_res(starlette_example: httpx.Client) -> None:
    response = starlette_example.post("/posts")
    assert response.status_code == 201
    assert response.json() == {"title": "My awesome post"}


def test_fastapi_route_returns_an_adapted_response(
    fastapi_example: tuple[httpx.Client, ModuleType],
) -> None:
    client, _ = fastapi_example
    response = client.get("/")
    assert response.content == b'{"hello":"world"}'
    assert response.headers["content-type"] == "application/json"


def test_fastapi_adapted_response_runs_background_tasks(
    fastapi_example: tuple[httpx.Client, ModuleType],
) -> None:
    client, module = fastapi_example
    response = client.get("/teapot")
    assert response.status_code == 418
    assert response.text == "I'm a teapot"
    assert module.brewed.wait(10)
