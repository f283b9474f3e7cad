# The two commands of the README: `make demo` and `make test` (each sets up .venv itself).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP_DEMO := $(VENV)/.installed-demo
STAMP_TEST := $(VENV)/.installed-test

.PHONY: demo ui test lint bench clean browser fuzz

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

# An install compiles runlog/_store/_packer.c and runlog/_capture/_hot.c (hatch_build.py): a change to any installs again.
# The demo installs the viewer (`ui`) and MLflow's client (`mlflow`) too, so its printed next steps work.
$(STAMP_DEMO): pyproject.toml hatch_build.py runlog/_store/_packer.c runlog/_capture/_hot.c | $(BIN)/python
	$(BIN)/python -m pip install -q -e '.[structlog,otel,ui,mlflow]' matplotlib numpy
	touch $@

$(STAMP_TEST): pyproject.toml hatch_build.py runlog/_store/_packer.c runlog/_capture/_hot.c | $(BIN)/python
	$(BIN)/python -m pip install -q -e '.[test]'
	touch $@

demo: $(STAMP_DEMO)
	$(BIN)/python examples/quickstart.py

# The viewer on the demo's store (./runlog-store, or $$RUNLOG_STORE / a config file's store).
# UI_ARGS='--port 0' or '--store PATH' to change it.
ui: $(STAMP_DEMO)
	$(BIN)/runlog ui $(UI_ARGS)

# Debian's chromium for the viewer's browser tests (tests/ui/test_ui_browser.py): installed when
# missing and running as root, a no-op when present. Playwright drives it; never `playwright install`.
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then \
	    for attempt in 1 2 3; do \
	      apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium && break; \
	      echo "apt-get failed (attempt $$attempt); retrying" >&2; sleep 10; \
	    done; \
	  else echo "the browser tests need Debian's chromium: sudo apt-get install -y chromium" >&2; fi; }

# RUNLOG_REQUIRE_C: where a C compiler is, the C packer must have been built (its tests fail, not skip, without it).
test: $(STAMP_TEST) browser
	RUNLOG_REQUIRE_C=$$(command -v cc >/dev/null 2>&1 && echo 1) $(BIN)/python -m pytest -q

# The property suites (tests/store/test_store_properties.py: round trips, readers over randomly damaged stores)
# with 2000 random examples each instead of `make test`'s 40 deterministic ones (docs/reliability.md).
fuzz: $(STAMP_TEST)
	HYPOTHESIS_PROFILE=fuzz $(BIN)/python -m pytest -q -p no:cacheprovider tests/store/test_store_properties.py

lint: $(STAMP_TEST)
	$(BIN)/ruff check runlog tests benchmarks scripts
	$(BIN)/mypy
	$(BIN)/lint-imports

BENCH_VENV := .venv-bench
$(BENCH_VENV)/.installed: pyproject.toml
	test -x $(BENCH_VENV)/bin/python || $(PYTHON) -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/python -m pip install -q --upgrade pip
	$(BENCH_VENV)/bin/python -m pip install -q -e '.[bench]'
	touch $@

# Installs the peers (mlflow, wandb, ...) into their own environment, runs every benchmark,
# writes benchmarks/results.md. BENCH_ARGS=--quick for a fast look.
bench: $(BENCH_VENV)/.installed
	$(BENCH_VENV)/bin/python benchmarks/run_all.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) $(BENCH_VENV) runlog-store .pytest_cache .mypy_cache
