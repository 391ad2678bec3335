# Every target installs what it needs, so `make demo` and `make test` work on a fresh machine.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: setup system-deps demo test lint bench clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

# Debian packages the integration tests need: Go + govmomi (vCenter simulator), Chromium (HTML report),
# Prometheus + promtool (watch).
system-deps:
	./scripts/system-deps.sh

demo: setup
	$(BIN)/vvolguard demo

test: setup system-deps
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/mypy
	$(BIN)/python -m pytest -q

# mypy's scope and settings are [tool.mypy] in pyproject.toml (the package, src/vvolguard).
lint: setup
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/mypy

# An editable install has no bytecode of its own (a wheel install compiles it), and with
# PYTHONDONTWRITEBYTECODE set none is written at run time: ~50 ms of every timed start-up.
bench: setup
	$(BIN)/python -m compileall -q src
	$(BIN)/python benchmarks/parse_throughput.py
	$(BIN)/python benchmarks/simulate_scale.py
	$(BIN)/python benchmarks/drain_policies.py
	$(BIN)/python benchmarks/watch_ingest.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .vcsim-build
