# The two commands that matter: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test test-fast lint typecheck bench clean services

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

## Set up and start the server on the embedded defaults (SQLite, in-process cache, chDB),
## seeded with the demo org, user and workload (credentials printed at start).
run: $(STAMP)
	$(BIN)/tokenomist serve --demo

## Set up and run the whole test suite (PostgreSQL and Redis variants need the local servers).
test: $(STAMP)
	$(BIN)/ruff check src tests
	$(BIN)/python -m pytest -q

## The suite without the slow-marked tests.
test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -m 'not slow'

lint: $(STAMP)
	$(BIN)/ruff check src tests
	$(BIN)/ruff format --check src tests

typecheck: $(STAMP)
	$(BIN)/mypy

bench: $(STAMP)
	$(BIN)/python benchmarks/ingest_bench.py --rows 200000
	$(BIN)/python benchmarks/analyst_bench.py --rows 1000000
	$(BIN)/python benchmarks/ws_bench.py

clean:
	rm -rf $(VENV) .tokenomist .pytest_cache
