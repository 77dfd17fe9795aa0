# The two commands a new user needs: `make demo` and `make test`. Both work on a fresh clone
# with nothing but python3 and a C compiler: they create .venv, install respcore with its test
# extras, and build the compiled core in place.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed

.PHONY: install build demo lint typecheck test test-compiled test-pure test-packaging fuzz-build fuzz fuzz-short soak bench bench-responses bench-features bench-compression bench-load clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip "setuptools>=77"

$(INSTALLED): $(BIN)/python pyproject.toml setup.py
	$(BIN)/python -m pip install --quiet -e ".[test,packaging,browser,fuzz,compression]"
	touch $@

install: $(INSTALLED)

# Rebuild the extension in place whenever the .pyx changed since the last build.
build: install
	$(BIN)/python setup.py --quiet build_ext --inplace
	$(BIN)/python -c "import respcore, respcore.protocol, sys; sys.exit(0 if respcore.COMPILED and respcore.protocol.COMPILED else 'the compiled core did not build')"

# The built-in demo on http://127.0.0.1:8000 (Ctrl+C stops it).
demo: build
	$(BIN)/python -m respcore serve

lint: install
	$(BIN)/ruff check src tests bench docs fuzz
	$(BIN)/ruff format --check src tests bench docs fuzz

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

# Differential fuzzing of the compiled core against its twin (atheris), on a build of the
# core with AddressSanitizer, UndefinedBehaviorSanitizer and libFuzzer coverage (clang).
# `make fuzz` runs every harness FUZZ_SECONDS (60) each; `make test` runs them 10 s each,
# two at a time, and skips them where clang or atheris is missing unless RESPCORE_REQUIRE_FUZZ
# is set (.ci/run sets it and installs clang).
CLANG ?= $(shell command -v clang-14 2>/dev/null || command -v clang 2>/dev/null)
FUZZ_SECONDS ?= 60
FUZZ_JOBS ?= 1
FUZZ_CFLAGS := -fsanitize=address,undefined,fuzzer-no-link -fno-sanitize-recover=undefined \
	-fno-omit-frame-pointer -g -O1

fuzz-build: install
	@test -n "$(CLANG)" || { echo "make fuzz-build: needs clang (apt-get install -y clang-14)"; exit 1; }
	CC="$(CLANG)" LDSHARED="$(CLANG) -shared" CFLAGS="$(FUZZ_CFLAGS)" \
		$(BIN)/python setup.py --quiet build_ext --build-lib build/fuzz --build-temp build/fuzz/tmp --force
	@ls build/fuzz/respcore/_encoder*.so >/dev/null 2>&1 || { echo "make fuzz-build: the sanitizer build failed"; exit 1; }

fuzz: fuzz-build
	$(BIN)/python fuzz/run.py --core "$$(ls build/fuzz/respcore/_encoder*.so)" \
		--seconds $(FUZZ_SECONDS) --jobs $(FUZZ_JOBS)

fuzz-short: install
	@if [ -n "$(CLANG)" ] && $(BIN)/python -c "import atheris" 2>/dev/null; then \
		$(MAKE) --no-print-directory fuzz FUZZ_SECONDS=10 FUZZ_JOBS=2; \
	elif [ -n "$$RESPCORE_REQUIRE_FUZZ" ]; then \
		echo "make fuzz-short: RESPCORE_REQUIRE_FUZZ is set, but clang or atheris is missing"; exit 1; \
	else \
		echo "make fuzz-short: skipped (needs clang and atheris)"; \
	fi

test: lint typecheck test-compiled test-pure test-packaging fuzz-short

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

# respcore's server against the ceiling, uvicorn + Starlette, aiohttp, granian and nginx, under wrk
# and curl on 127.0.0.1 (needs wrk and nginx: apt-get install -y wrk nginx).
bench-load: build
	$(BIN)/python -m pip install --quiet "matplotlib>=3.8" "granian>=2.8"
	$(BIN)/python bench/load_server.py

# A bounded soak of the server on 127.0.0.1 (wrk over a route mix, clients leaving mid-stream):
# RSS growth, file descriptors and status codes (needs wrk).
SOAK_SECONDS ?= 120
soak: build
	$(BIN)/python bench/soak.py --duration $(SOAK_SECONDS)

clean:
	rm -rf build dist *.egg-info src/*.egg-info src/respcore/_encoder.c src/respcore/_protocol.c src/respcore/*.so .pytest_cache .mypy_cache .ruff_cache .benchmarks
