# Every target installs what it needs, so `make demo` and `make test` work on a fresh machine.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: setup system-deps demo test lint bench bench-quick clean

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

# Every script in benchmarks/ runs, at the sizes the README's "Status and known limits" quotes;
# none asserts, each prints numbers for a person. The hostile-input ones (hostile_intake,
# pathological_memory, escalate_bombs) stream a GiB or more each and take minutes on 2 cores.
# `make bench-quick` runs the same scripts at small sizes: a check that they still work after a
# change, not a measurement.
# An editable install has no bytecode of its own (a wheel install compiles it), and with
# PYTHONDONTWRITEBYTECODE set none is written at run time: ~50 ms of every timed start-up.
bench: setup
	$(BIN)/python -m compileall -q src
	$(BIN)/python benchmarks/parse_throughput.py
	$(BIN)/python benchmarks/central_syslog.py
	$(BIN)/python benchmarks/cli_startup.py
	$(BIN)/python benchmarks/analysis_fold.py
	$(BIN)/python benchmarks/structured_readers.py
	$(BIN)/python benchmarks/escalate_excerpts.py
	$(BIN)/python benchmarks/simulate_scale.py
	$(BIN)/python benchmarks/drain_policies.py
	$(BIN)/python benchmarks/hostile_intake.py
	$(BIN)/python benchmarks/pathological_memory.py
	$(BIN)/python benchmarks/escalate_bombs.py
	$(BIN)/python benchmarks/watch_ingest.py
	$(BIN)/python benchmarks/fleet_scale.py
	$(BIN)/python benchmarks/fleet_client.py

bench-quick: setup
	$(BIN)/python -m compileall -q src
	$(BIN)/python benchmarks/parse_throughput.py --size-mb 16
	$(BIN)/python benchmarks/central_syslog.py --size-mb 4 --repeat 1 --source benchmarks/_work/vvold-optrace-esxi7-16mb-seed7.log
	$(BIN)/python benchmarks/cli_startup.py --runs 3
	$(BIN)/python benchmarks/analysis_fold.py --frames 2
	$(BIN)/python benchmarks/structured_readers.py --entries 200
	$(BIN)/python benchmarks/escalate_excerpts.py --lines 20000
	$(BIN)/python benchmarks/simulate_scale.py --hosts 4 --vms 100
	$(BIN)/python benchmarks/drain_policies.py --seeds 1 --vms 8 --profile midrange
	$(BIN)/python benchmarks/hostile_intake.py --line-mib 16 --zeros-mib 16 --cap 120
	$(BIN)/python benchmarks/pathological_memory.py --size-mb 16
	$(BIN)/python benchmarks/escalate_bombs.py --sizes 16M
	$(BIN)/python benchmarks/watch_ingest.py --seconds 3
	$(BIN)/python benchmarks/fleet_scale.py --hosts 8 --days 1 --poll 300
	$(BIN)/python benchmarks/fleet_client.py --hosts 2 4 --days 10

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .vcsim-build
