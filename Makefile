# The two commands that matter: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
LOCK := requirements-dev.lock
LOCK_FLAGS := --universal --generate-hashes --quiet

.PHONY: run test test-fast lint typecheck bench clean services lock focus-validator checkov stack stack-status stack-roll stack-down

# Every install takes its versions from a lock (hash-checked), then adds the project itself
# without letting pip resolve anything: the same versions on every machine, CI included.
$(STAMP): pyproject.toml $(LOCK)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --require-hashes -r $(LOCK)
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $(STAMP)

## The FinOps Foundation's FOCUS validator, which the FOCUS export tests run. It needs
## Python >= 3.12 and numpy < 2 (the project runs on 3.11 with numpy 2), so it gets its own venv
## and its own lock, requirements-focus.lock.
FOCUS_PYTHON ?= $(shell for p in python3.13 python3.12 $$(ls -d $$HOME/.pyenv/versions/3.1[2-9]*/bin/python3 2>/dev/null); do \
	$$p -c 'import sys; assert sys.version_info >= (3, 12)' 2>/dev/null && echo $$p && break; done)
FOCUS_VENV := .venv-focus
FOCUS_STAMP := $(FOCUS_VENV)/.installed
focus-validator: $(FOCUS_STAMP)
$(FOCUS_STAMP): requirements-focus.lock
	test -n "$(FOCUS_PYTHON)" || { echo "focus-validator needs Python >= 3.12 (set FOCUS_PYTHON)"; exit 1; }
	test -x $(FOCUS_VENV)/bin/python || $(FOCUS_PYTHON) -m venv $(FOCUS_VENV)
	$(FOCUS_VENV)/bin/python -m pip install --quiet --require-hashes -r requirements-focus.lock
	touch $(FOCUS_STAMP)

## checkov (static analysis of deploy/terraform and deploy/Dockerfile, run by tests/deploy). It
## pins packaging and python-dateutil below what the project uses, so it gets its own venv and
## its own lock, requirements-checkov.lock.
CHECKOV_VENV := .venv-checkov
CHECKOV_STAMP := $(CHECKOV_VENV)/.installed
checkov: $(CHECKOV_STAMP)
$(CHECKOV_STAMP): requirements-checkov.lock
	test -x $(CHECKOV_VENV)/bin/python || $(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m pip install --quiet --require-hashes -r requirements-checkov.lock
	touch $(CHECKOV_STAMP)

## Re-resolve every dependency to the newest release pyproject.toml allows and rewrite the locks:
## requirements-dev.lock (what make installs), requirements.lock (the server alone, for images;
## held to the first's versions), requirements-focus.lock (the validator's venv) and
## requirements-checkov.lock (checkov's venv).
## Commit them after `make test` passes on them.
lock: $(STAMP)
	$(BIN)/uv pip compile pyproject.toml --extra dev $(LOCK_FLAGS) --python-version 3.11 --upgrade -o $(LOCK)
	$(BIN)/uv pip compile pyproject.toml $(LOCK_FLAGS) --python-version 3.11 -c $(LOCK) -o requirements.lock
	printf 'focus-validator==2.2.1\npyarrow<19  # newer pyarrow needs numpy 2; the validator, numpy<2\n' \
		| $(BIN)/uv pip compile - $(LOCK_FLAGS) --python-version 3.12 --upgrade -o requirements-focus.lock
	echo 'checkov==3.3.30' | $(BIN)/uv pip compile - $(LOCK_FLAGS) --python-version 3.11 --upgrade -o requirements-checkov.lock

## Set up and start the server on the embedded defaults (SQLite, in-process cache, chDB),
## seeded with the demo org, user and workload (credentials printed at start).
run: $(STAMP)
	$(BIN)/tokenomist serve --demo

## Several instances on this machine: STACK_INSTANCES (default 2) `tokenomist serve` behind
## Debian's HAProxy, sharing the local PostgreSQL and Redis; prints the load balancer's URL.
## Options pass through STACK_ARGS (e.g. STACK_ARGS="--clickhouse-url http://ch:8123").
STACK_INSTANCES ?= 2
STACK_ARGS ?=
stack: $(STAMP)
	command -v haproxy >/dev/null 2>&1 || test -x /usr/sbin/haproxy || { \
		echo "make stack needs HAProxy: apt-get install -y haproxy"; exit 1; }
	$(BIN)/tokenomist stack up --instances $(STACK_INSTANCES) $(STACK_ARGS)

stack-status: $(STAMP)
	$(BIN)/tokenomist stack status

## Rolling restart of every instance (STACK_ARGS="--build '<command>'" rolls to a new build).
stack-roll: $(STAMP)
	$(BIN)/tokenomist stack roll $(STACK_ARGS)

stack-down: $(STAMP)
	$(BIN)/tokenomist stack down

## Set up and run the whole suite: lint, format check, type check, then every test (PostgreSQL
## and Redis variants need the local servers; .ci/run starts them).
test: $(STAMP) $(FOCUS_STAMP) $(CHECKOV_STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/mypy
	$(BIN)/python -m pytest -q -m 'not fuzz'
	$(BIN)/python -m pytest -q -m fuzz

## The suite without the slow-marked tests.
test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -m 'not slow and not fuzz'

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

typecheck: $(STAMP)
	$(BIN)/mypy

## Every benchmark at modest sizes, then one table: measure, baseline in the same run, ratio,
## goal, met? (BENCH_ARGS=--full for the goal sizes; see benchmarks/README.md).
bench: $(STAMP)
	$(BIN)/python benchmarks/bench.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) $(FOCUS_VENV) $(CHECKOV_VENV) .tokenomist .pytest_cache
