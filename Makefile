# Parcours ASE — the two commands a newcomer runs: `make run` and `make test`.
# Everything is installed into the project folder: .tools/ (uv), .venv/ (the
# locked dependencies), .cache/kafka/ (Apache Kafka's jars, fetched by Maven).

PYTHON ?= python3
UV_VERSION := 0.13.9
UV := .tools/bin/uv
RUN := $(UV) run --frozen
PORT ?= 8000
DATA_DIR ?= .data

.PHONY: install run test test-unit test-integration lint bench kafka clean

$(UV):
	$(PYTHON) -m venv .tools
	.tools/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

.venv/.installed: $(UV) pyproject.toml uv.lock
	$(UV) sync --frozen --quiet
	@touch $@

install: .venv/.installed

## Start everything in one process: embedded PostgreSQL, the API on $(PORT), a dev token.
run: install
	$(RUN) ase serve --port $(PORT) --data-dir $(DATA_DIR)

## The whole suite: unit tests, then integration tests on a real PostgreSQL and a real Kafka.
test: install kafka
	$(RUN) pytest

test-unit: install
	$(RUN) pytest tests/unit

test-integration: install kafka
	$(RUN) pytest tests/integration

## Fetch Apache Kafka's jars with Maven into .cache/kafka (once; later runs reuse them).
kafka: install
	$(RUN) python -c 'from services.runtime.kafka_local import ensure_kafka_jars; print(ensure_kafka_jars())'

## Style, types, and the import contracts of pyproject.toml (services apart, the law in one place).
lint: install
	$(RUN) ruff check .
	$(RUN) ruff format --check services contracts tests benchmarks
	$(RUN) mypy
	$(RUN) lint-imports --no-cache

## Benchmarks, each beside its baseline in one run; figures in benchmarks/resultats/.
bench: install
	$(RUN) python -m benchmarks

clean:
	rm -rf .venv .tools .pytest_cache

## The distributed stack on this machine: PostgreSQL, Kafka, each service and the relay as its own process.
## Ports: ASE_PARCOURS_PORT (8000), ASE_PROJECTIONS_PORT (8001), ASE_NOTIFICATIONS_PORT (8002), ASE_KAFKA_PORT (9092).
.PHONY: up down
up: install kafka
	$(RUN) ase up --data-dir $(DATA_DIR)

## Stop what `make up` started.
down:
	$(RUN) ase down --data-dir $(DATA_DIR)
