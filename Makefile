# Two commands do all the set-up on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin

.PHONY: demo test lint install install-test console chromium bench clean constraints \
        bench-hostile bench-crash bench-soak bench-reliability

# The console (console/, built with npm) goes into the package, which serves it at "/".
CONSOLE_DIST    := src/deconfliction/console_dist/index.html
CONSOLE_SOURCES := $(shell find console/src -type f 2>/dev/null) console/index.html console/docs.html \
                   console/package.json console/package-lock.json console/vite.config.ts \
                   console/tsconfig.json

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# After installing, the tactical detector's numba kernels are compiled into their on-disk cache
# (engine/kernel_cache.py), so no server, demo or test waits for the compiler on first use.
install: $(BIN)/python console
	$(BIN)/python -m pip install --quiet -c constraints.txt -e .
	$(BIN)/python -m deconfliction.engine.kernel_cache

install-test: $(BIN)/python console chromium
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[test]'
	$(BIN)/python -m deconfliction.engine.kernel_cache

# Pin constraints.txt to what this virtualenv holds (after upgrading on purpose).
constraints: $(BIN)/python
	{ sed -n '/^#/p' constraints.txt; $(BIN)/python -m pip freeze --exclude-editable \
	  | grep -viE '^(py-spy)=='; } > constraints.txt.new && mv constraints.txt.new constraints.txt

console: $(CONSOLE_DIST)

# npm ci only when the lock file changed; the build only when a source is newer than it.
console/node_modules/.package-lock.json: console/package-lock.json
	@command -v npm >/dev/null || { echo "npm (Node.js 20.19+) is needed to build the console" >&2; exit 1; }
	cd console && npm ci --no-audit --no-fund
	@touch $@

$(CONSOLE_DIST): $(CONSOLE_SOURCES) console/node_modules/.package-lock.json
	cd console && npm run build

# Debian's Chromium for the browser tests (tests/browser); without it they skip, saying why.
chromium:
	@if [ ! -x /usr/bin/chromium ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null \
	      || echo "warning: could not install chromium: the browser tests will skip" >&2; \
	  else \
	    echo "note: /usr/bin/chromium is missing (install Debian's chromium as root): the browser tests will skip" >&2; \
	  fi; \
	fi

demo: install
	$(BIN)/deconfliction demo

# The suite on parallel workers (pytest-xdist): most e2e time is spent waiting on servers and
# CLI child processes, so three workers help even on two cores. --dist loadfile keeps a module's
# tests on one worker, so a module's servers start once; --no-loadscope-reorder hands modules out
# in the order tests/conftest.py gives (the slowest first). TEST_WORKERS=0: one process.
TEST_WORKERS ?= 3
test: install-test
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder

# The linters CI runs (.ci/run): style, strict types, and the layers' import contract
# (pyproject.toml's [tool.importlinter]: imports point down the layers of DESIGN.md).
lint: install-test
	$(BIN)/ruff check src tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports

bench: install-test
	$(BIN)/python bench/strategic.py
	$(BIN)/python bench/tactical.py
	$(BIN)/python bench/events.py
	$(BIN)/python bench/ledger.py

# Reliability (RELIABILITY.md): attacks beside honest load, kill -9 rounds, a 10-minute soak.
# DATABASE_URL=postgresql://… runs them on PostgreSQL instead of a temp SQLite file.
RELIABILITY_DB := $(if $(DATABASE_URL),--database-url $(DATABASE_URL))
bench-hostile: install-test
	$(BIN)/python bench/hostile.py $(RELIABILITY_DB)
bench-crash: install-test
	$(BIN)/python bench/crash.py $(RELIABILITY_DB)
bench-soak: install-test
	$(BIN)/python bench/soak.py $(RELIABILITY_DB)
bench-reliability: bench-hostile bench-crash bench-soak

clean:
	rm -rf $(VENV) build *.egg-info demo.db* console/node_modules src/deconfliction/console_dist
