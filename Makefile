# jobbridge — the commands people and CI use. Each creates or updates .venv first.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PG_URL ?= postgresql://postgres@127.0.0.1:5432/test

.PHONY: run up down test test-unit test-db lint bench bench-quick chaos fuzz security clean console-assets browser screenshots

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@$(PY) -m pip install --quiet --upgrade pip
	@$(PY) -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

venv: $(STAMP)

## BROKERS=3: a local cluster of three Tansu brokers sharing one S3-compatible store (moto) instead of one broker
BROKERS ?= 1

## console-assets: the console's front-end packages (htmx, ECharts) from package-lock.json into a git-ignored
## node_modules it serves itself; the browser and CJK fonts the console's tests and letters need (CI runs as root)
CONSOLE_DIR := services/console
CONSOLE_ASSETS := $(CONSOLE_DIR)/node_modules/.package-lock.json
$(CONSOLE_ASSETS): $(CONSOLE_DIR)/package-lock.json
	@cd $(CONSOLE_DIR) && npm ci --no-audit --no-fund --loglevel=error
	@touch $(CONSOLE_ASSETS)

console-assets: $(CONSOLE_ASSETS)

browser:
	@command -v chromium >/dev/null && fc-list | grep -qi "Noto Sans CJK" || \
		(apt-get update && apt-get install -y chromium fonts-noto-cjk)

## screenshots: refresh docs/screenshots/ from the console's browser journeys
screenshots: $(STAMP) $(CONSOLE_ASSETS) browser
	@JOBBRIDGE_SCREENSHOTS_DIR=docs/screenshots JOBBRIDGE_TEST_DB=sqlite $(PY) -m pytest -q -p no:cacheprovider \
		tests/e2e/test_console_journeys.py

## run: the whole system with demo data in the foreground; Ctrl-C stops everything
run: $(STAMP) $(CONSOLE_ASSETS)
	@JOBBRIDGE_BROKERS=$(BROKERS) $(PY) -m shared.cli run

## up / down: the same in the background (up returns when every /readyz answers 200)
up: $(STAMP) $(CONSOLE_ASSETS)
	@JOBBRIDGE_BROKERS=$(BROKERS) $(PY) -m shared.cli up

down: $(STAMP)
	@$(PY) -m shared.cli down

## test: the whole suite against a broker of its own, on SQLite and (when reachable, always in CI) PostgreSQL;
## tests/security includes a bounded schemathesis run of every service (JOBBRIDGE_FUZZ_EXAMPLES, default 5)
test: $(STAMP) $(CONSOLE_ASSETS) browser
	@$(PY) -m pytest -q -p no:cacheprovider tests/unit tests/contract tests/deploy
	@JOBBRIDGE_TEST_DB=sqlite $(PY) -m pytest -q -p no:cacheprovider tests/integration tests/e2e tests/security
	@CHAOS_SCALE=ci JOBBRIDGE_TEST_DB=sqlite $(PY) -m pytest -q -p no:cacheprovider tests/chaos
	@if [ "$$CI" = "true" ] || $(PY) -c "import psycopg,sys; psycopg.connect('$(PG_URL)', connect_timeout=3).close()" 2>/dev/null; then \
		JOBBRIDGE_TEST_DB=postgresql $(PY) -m pytest -q -p no:cacheprovider tests/integration tests/e2e tests/security && \
		CHAOS_SCALE=ci JOBBRIDGE_TEST_DB=postgresql $(PY) -m pytest -q -p no:cacheprovider tests/chaos/test_s1_consumer_kills.py tests/chaos/test_s4_scale_out.py; \
	else echo "PostgreSQL not reachable at $(PG_URL): skipped the PostgreSQL pass (CI requires it)"; fi

## security: the security suite alone (authorization matrix, masking, tokens, audit, erasure, limits, fuzzing)
security: $(STAMP) $(CONSOLE_ASSETS)
	@$(PY) -m pytest -q -p no:cacheprovider tests/security

## fuzz: schemathesis against every operation of the three services, larger than in `make test`
## (FUZZ_EXAMPLES per operation; JOBBRIDGE_TEST_DB=postgresql for PostgreSQL); prints the number of cases
FUZZ_EXAMPLES ?= 100
fuzz: $(STAMP)
	@JOBBRIDGE_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) JOBBRIDGE_FUZZ_CASEWORKER_PHASES=coverage,fuzzing \
		$(PY) -m pytest -q -s -p no:cacheprovider --timeout=3600 tests/security/test_schemathesis.py

test-unit: $(STAMP)
	@$(PY) -m pytest -q -p no:cacheprovider tests/unit tests/contract

lint: $(STAMP)
	@$(VENV)/bin/ruff check .

bench: $(STAMP)
	@$(PY) -m bench.run

bench-quick: $(STAMP)
	@$(PY) -m bench.run --quick

## chaos: the fault-injection suite at the issue's sizes (CHAOS_SCALE=ci for the small one `make test` runs)
chaos: $(STAMP)
	@CHAOS_SCALE=$${CHAOS_SCALE:-full} $(PY) -m pytest -q -p no:cacheprovider tests/chaos

clean:
	rm -rf data .pytest_cache
