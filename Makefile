# The two commands a new user needs: `make demo` and `make test`. Both work on a fresh clone
# with nothing but python3 and a C compiler: they create .venv, install respcore with its test
# extras, and build the compiled core in place.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed

.PHONY: install build demo lint typecheck test test-compiled test-pure test-packaging bench bench-responses bench-features bench-compression bench-load clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip "setuptools>=77"

$(INSTALLED): $(BIN)/python pyproject.toml setup.py
	$(BIN)/python -m pip install --quiet -e ".[test,packaging,browser,compression]"
	touch $@

install: $(INSTALLED)

# Rebuild the extension in place whenever the .pyx changed since the last build.
build: install
	$(BIN)/python setup.py --quiet build_ext --inplace
	$(BIN)/python -c "import respcore, sys; sys.exit(0 if respcore.COMPILED else 'the compiled core did not build')"

# The built-in demo on http://127.0.0.1:8000 (Ctrl+C stops it).
demo: build
	$(BIN)/python -m respcore serve

lint: install
	$(BIN)/ruff check src tests bench docs
	$(BIN)/ruff format --check src tests bench docs

typecheck: install
	$(BIN)/mypy

test-compiled: build
	$(BIN)/python -m pytest -m "not packaging" tests

test-pure: install
	RESPCORE_NO_EXTENSIONS=1 $(BIN)/python -m pytest -m "not packaging" tests

# Builds the wheel and the sdist, installs each (and the pure-Python install) into fresh
# virtualenvs, and checks the workflows and the cibuildwheel set-up; skips what needs PyPI
# when it is unreachable. Runs once, not in both test-compiled and test-pure.
test-packaging: install
	$(BIN)/python -m pytest -m packaging tests/packaging

test: lint typecheck test-compiled test-pure test-packaging

bench: build
	$(BIN)/python -m pytest bench/bench_encoder.py --benchmark-only --benchmark-json=bench/results/encoder.json -q
	$(BIN)/python bench/report.py bench/results/encoder.json

# JsonResponse.encode() against Starlette, then the three ASGI apps under uvicorn with wrk.
bench-responses: build
	$(BIN)/python bench/bench_responses.py
	$(BIN)/python bench/load_asgi.py

# set_cookie + encode() against Starlette; ServerSentEvent.encode() against sse-starlette.
bench-features: build
	$(BIN)/python bench/bench_features.py

# A 64 KiB JSON response and a 1 MiB stream compressed by respcore (zstd 3, br 4, gzip 6)
# against Starlette's GZipMiddleware under uvicorn and aiohttp's enable_compression, under
# wrk; and respcore's time to compress against the codec alone (needs wrk).
bench-compression: build
	$(BIN)/python bench/bench_compression.py

# respcore's server against the ceiling, uvicorn + Starlette, aiohttp and nginx, under wrk
# and curl on 127.0.0.1 (needs wrk and nginx: apt-get install -y wrk nginx).
bench-load: build
	$(BIN)/python -m pip install --quiet "matplotlib>=3.8"
	$(BIN)/python bench/load_server.py

clean:
	rm -rf build dist *.egg-info src/*.egg-info src/respcore/_encoder.c src/respcore/*.so .pytest_cache .mypy_cache .ruff_cache .benchmarks
