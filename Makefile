# The park services backend. `make run` and `make test` set everything up from scratch.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
PARK_CONFIG ?= config/development.yaml
export PARK_CONFIG
PARK := $(BIN)/python -m shared.tooling.cli

.PHONY: run demo venv check-broker check-db declare migrate parks firms test test-fast lint format bench bench-meters clean

venv: $(VENV)/.installed

# pyproject.toml too: it declares the entry points (the park CLI, services' commands).
$(VENV)/.installed: requirements.lock pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements.lock
	$(BIN)/pip install --quiet --disable-pip-version-check --no-deps -e .
	@touch $@

# A local broker that is installed but stopped is started, a management plugin that is off
# is enabled (each said on screen); a remote or absent broker is an error saying what to do.
check-broker: venv
	@$(BIN)/python -m shared.tooling.setup_checks broker
	@$(PARK) check

# PostgreSQL, when PARK_CONFIG's DATABASES use it: a stopped local cluster is started and
# the services' databases are created; a remote or absent server is an error. SQLite: no-op.
check-db: venv
	@$(BIN)/python -m shared.tooling.setup_checks postgresql

declare: check-broker
	$(PARK) topology declare

migrate: venv
	@mkdir -p var
	$(PARK) db migrate

parks: migrate
	$(PARK) parks load

# The resident firms of deploy/firms/: each one's broker identity, then ticketing's database.
firms: declare migrate
	$(PARK) firms load

## Start every service (one process each, under honcho) on the config's defaults.
# PYTHONWARNINGS: nameko's import of eventlet prints eight lines of EventletDeprecationWarning
# per service; it is nameko's dependency, not ours to act on, so keep the first screen ours.
# The warning is a plain Warning subclass (not a DeprecationWarning) attributed to its
# importer, nameko/extensions.py; eventlet cannot be named as the category without importing
# it at start-up. tests/unit/test_setup_checks.py starts a service as this line does.
run: check-db declare migrate parks firms
	PYTHONWARNINGS=ignore::Warning:nameko.extensions $(BIN)/honcho start --procfile Procfile

## The whole suite against the real broker and PostgreSQL (slow fault tests included), as
## two pytest processes side by side, then the fault tests alone (tests/shards.py).
## PYTEST_ARGS=... runs one plain pytest with those options instead.
test: check-broker
	@$(BIN)/python -m tests.shards $(PYTEST_ARGS)

## Everything but the slow fault-injection tests.
test-fast: check-broker
	$(BIN)/python -m pytest -m "not slow" $(PYTEST_ARGS)

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: venv
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

## The messaging-core benchmark (docs/performance.md): 99 min to 3½ h at the issue's sizes, by machine.
## BENCH_ARGS=--quick for a 1.5-minute development run; see python -m bench --help.
bench: check-broker
	$(BIN)/python -m bench $(BENCH_ARGS)

## The billing service draining 100,000 meter readings (issue 10: ≥ 300/s; docs/performance.md).
## METERS_ARGS="--count 2000" for a short run; see python -m bench.meters --help.
bench-meters: check-broker
	$(BIN)/python -m bench.meters $(METERS_ARGS)

## A month in the demo park (DESIGN §8) played through the real services in a few minutes,
## then the park manager's summary (docs/demo.md). Its own vhost (park-demo) and SQLite
## files under var/demo/, so it never touches make run's. DEMO_ARGS="--size small" for CI's.
demo: check-broker
	$(BIN)/python -m demo $(DEMO_ARGS)

clean:
	rm -rf var/*.sqlite var/*.sqlite-wal var/*.sqlite-shm var/bench

.PHONY: contract definitions
## The event catalogue docs/asyncapi.yaml (AsyncAPI 3.0) from the contract registry and the
## topology; tests/unit/test_asyncapi.py fails while the committed one is stale.
contract: venv
	$(BIN)/python -m tools.contract asyncapi

## deploy/ from the topology: RabbitMQ definitions, compose.yaml, prometheus.yml, k8s/
## (deploy/README.md); tests/unit/test_deploy_manifests.py fails while one is stale.
definitions: venv
	$(BIN)/python -m tools.contract definitions
