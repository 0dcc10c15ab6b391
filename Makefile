# Parcours ASE — the two commands a newcomer runs: `make run` and `make test`.
# Everything is installed into the project folder: .tools/ (uv, and kustomize built
# by Go from the Go module proxy), .venv/ (the locked dependencies), .cache/kafka/
# (Apache Kafka's jars, fetched by Maven).

PYTHON ?= python3
UV_VERSION := 0.13.9
UV := .tools/bin/uv
RUN := $(UV) run --frozen
PORT ?= 8000
DATA_DIR ?= .data
# The newest kustomize the Go module proxy serves that builds with Go 1.26 (v5.8.3 needs Go 1.27).
KUSTOMIZE_VERSION := v5.8.2
KUSTOMIZE := .tools/kustomize/$(KUSTOMIZE_VERSION)/kustomize

.PHONY: install run test test-unit test-integration lint bench kafka kustomize chromium clean

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

## The whole suite: unit tests, integration tests on a real PostgreSQL and a real Kafka,
## the services as processes, and the deploy/k8s overlays rendered and checked offline.
## TEST_WORKERS pytest processes (pytest-xdist) share the unit, integration and deploy tests file
## by file, each with its own PostgreSQL and Kafka broker; the end-to-end tests, which start whole
## stacks of processes and time their readiness, run after them, alone.
TEST_WORKERS ?= 2
test: install kafka kustomize chromium
	$(RUN) pytest -n $(TEST_WORKERS) --dist loadfile tests/unit tests/integration tests/deploy tests/navigateur
	$(RUN) pytest tests/e2e

test-unit: install
	$(RUN) pytest tests/unit

test-integration: install kafka
	$(RUN) pytest tests/integration

## kustomize, built once into .tools/kustomize/<version>/ (Go's module and build caches make a rebuild quick).
kustomize: $(KUSTOMIZE)

$(KUSTOMIZE):
	GOBIN=$(CURDIR)/$(@D) GOTOOLCHAIN=local go install sigs.k8s.io/kustomize/kustomize/v5@$(KUSTOMIZE_VERSION)

## Debian's Chromium for the browser tests (Playwright launches it by path: no browser download).
CHROMIUM ?= /usr/bin/chromium
chromium:
	@test -x $(CHROMIUM) || { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium; }

## Fetch Apache Kafka's jars with Maven into .cache/kafka (once; later runs reuse them).
kafka: install
	$(RUN) python -c 'from services.runtime.kafka_local import ensure_kafka_jars; print(ensure_kafka_jars())'

## Style, types, and the import contracts of pyproject.toml (services apart, the law in one place).
lint: install
	$(RUN) ruff check .
	$(RUN) ruff format --check services contracts droit tests benchmarks
	$(RUN) mypy
	$(RUN) lint-imports --no-cache

## Benchmarks, each beside its baseline in one run; figures in benchmarks/resultats/.
bench: install
	$(RUN) python -m benchmarks

clean:
	rm -rf .venv .tools .pytest_cache

## The distributed stack on this machine: PostgreSQL, Kafka, each service and the relay as its own process.
## supervisord restarts a part that dies. Ports: ASE_PARCOURS_PORT (8000), ASE_PROJECTIONS_PORT (8001),
## ASE_NOTIFICATIONS_PORT (8002), ASE_RELAY_PORT (8003, the relay's metrics), ASE_KAFKA_PORT (9092).
.PHONY: up down status
up: install kafka
	$(RUN) ase up --data-dir $(DATA_DIR)

## Each part of the stack: state, pid, uptime, readiness.
status:
	$(RUN) ase status --data-dir $(DATA_DIR)

## Stop what `make up` started.
down:
	$(RUN) ase down --data-dir $(DATA_DIR)
