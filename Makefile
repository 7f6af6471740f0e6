# The two commands that matter: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
LOCK_FLAGS := --universal --python-version 3.11 --generate-hashes --quiet
STAMP := $(VENV)/.installed

LOCK := requirements-dev.lock

.PHONY: run test test-fast lint typecheck bench clean services lock focus-validator

# Every install takes its versions from the lock (hash-checked), then adds the project itself
# without letting pip resolve anything: the same versions on every machine, CI included.
$(STAMP): pyproject.toml $(LOCK)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --require-hashes -r $(LOCK)
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $(STAMP)

## Re-resolve every dependency to the newest release pyproject.toml allows and rewrite both locks:
## requirements-dev.lock (what make installs) and requirements.lock (the server alone, for images),
## the second held to the first's versions. Commit both after `make test` passes on them.
lock: $(STAMP)
	$(BIN)/uv pip compile pyproject.toml --extra dev $(LOCK_FLAGS) --upgrade -o $(LOCK)
	$(BIN)/uv pip compile pyproject.toml $(LOCK_FLAGS) -c $(LOCK) -o requirements.lock

## Set up and start the server on the embedded defaults (SQLite, in-process cache, chDB),
## seeded with the demo org, user and workload (credentials printed at start).
run: $(STAMP)
	$(BIN)/tokenomist serve --demo

## The FinOps Foundation's FOCUS validator, which the FOCUS export tests run. It needs
## Python >= 3.12 and numpy < 2 (the project runs on 3.11 with numpy 2), so it gets its own venv.
FOCUS_PYTHON ?= $(shell for p in python3.13 python3.12 $$(ls -d $$HOME/.pyenv/versions/3.1[2-9]*/bin/python3 2>/dev/null); do \
	$$p -c 'import sys; assert sys.version_info >= (3, 12)' 2>/dev/null && echo $$p && break; done)
FOCUS_VENV := .venv-focus
focus-validator: $(FOCUS_VENV)/bin/focus-validator
$(FOCUS_VENV)/bin/focus-validator:
	test -n "$(FOCUS_PYTHON)" || { echo "focus-validator needs Python >= 3.12 (set FOCUS_PYTHON)"; exit 1; }
	$(FOCUS_PYTHON) -m venv $(FOCUS_VENV)
	$(FOCUS_VENV)/bin/python -m pip install --quiet "focus-validator==2.2.1" "pyarrow<19"

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
