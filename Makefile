# One-command entry points. Every target is idempotent: a second run does no set-up work.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
LOCK := requirements/constraints.txt
# Editing the lock (or pyproject) reinstalls. The stamp's name changes when the install
# recipe does, so an existing .venv is set up again once.
VENV_STAMP := $(VENV)/.installed-bytecode

.PHONY: help venv bytecode kafka lint test test-unit test-integration bench run demo up down status lock clean

help: ## list targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-18s %s\n", $$1, $$2}'

venv: $(VENV_STAMP) ## create .venv from the lock (no-op when up to date)

$(VENV_STAMP): $(LOCK) pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found; install Python 3.11 (e.g. apt-get install python3.11 python3.11-venv)" >&2; exit 1; }
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/pip install -q "$$(grep -E '^uv==' $(LOCK) | cut -d' ' -f1)"
	$(BIN)/uv pip sync -q --compile-bytecode --python $(BIN)/python --require-hashes $(LOCK)
	$(BIN)/uv pip install -q --compile-bytecode --python $(BIN)/python --no-deps --no-build-isolation -e .
	@touch $@

# Compiled modules for our own code too. uv does not write .pyc files at install time unless
# told (pip does), and with PYTHONDONTWRITEBYTECODE set (as on our machines) Python never
# writes them either: every process then compiles every module it imports from source, which
# made importing great-expectations 10 s instead of 3 in each validation, Airflow task and test.
# compileall only recompiles what changed.
bytecode: $(VENV_STAMP)
	@$(BIN)/python -m compileall -q -j 0 include dags plugins tests >/dev/null

kafka: $(VENV_STAMP) bytecode ## fetch the pinned Kafka jars into var/kafka (no-op when cached)
	$(BIN)/replay stack fetch

lint: $(VENV_STAMP) ## ruff + mypy
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

# Two workers: most integration tests wait (a paced replay, a restart, a drain) while the other
# computes. Each worker starts its own broker and ksql server; a module never splits across them.
TEST_WORKERS ?= 2

test: $(VENV_STAMP) kafka lint ## all tests: lint, unit, integration (real broker), on TEST_WORKERS workers
	$(BIN)/pytest -n $(TEST_WORKERS) --dist loadgroup --no-loadscope-reorder $(PYTEST_ARGS)

test-unit: $(VENV_STAMP) bytecode ## unit tests only
	$(BIN)/pytest tests/unit

test-integration: $(VENV_STAMP) kafka ## integration tests only
	$(BIN)/pytest tests/integration

bench: $(VENV_STAMP) kafka ## benchmarks against real peers (writes var/bench/*.json)
	$(BIN)/python -m replay.bench
	$(BIN)/python -m ksqldb_lite.bench

run: $(VENV_STAMP) kafka ## stack + Airflow, trigger meetup_replay once, follow it (see README)
	$(BIN)/replay airflow run

demo: $(VENV_STAMP) kafka ## meetup_replay headless (`airflow dags test`) on the embedded stack
	$(BIN)/replay airflow demo

up: $(VENV_STAMP) kafka ## start the embedded stack (broker, ksql server)
	$(BIN)/replay stack up

down: $(VENV_STAMP) ## stop the embedded stack and Airflow
	$(BIN)/replay stack down

status: $(VENV_STAMP) ## show the embedded stack
	$(BIN)/replay stack status

lock: ## re-resolve requirements/requirements.in into the lock
	@test -x $(BIN)/uv || { $(PYTHON) -m venv $(VENV) && $(BIN)/pip install -q "$$(grep -E '^uv==' $(LOCK) | cut -d' ' -f1)"; }
	$(BIN)/uv pip compile -q --python-version 3.11 --generate-hashes requirements/requirements.in -o $(LOCK)

clean: ## remove caches (keeps var/ state and .venv)
	rm -rf .pytest_cache .mypy_cache .ruff_cache
