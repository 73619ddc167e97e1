# Everyday tasks. A fresh machine needs only Python 3.11+: the virtual
# environment is built from the lock files on first use.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
HOST   ?= $(or $(HOTSWAP_HOST),127.0.0.1)
PORT   ?= $(or $(HOTSWAP_PORT),8080)
# CI runs the suite under coverage: make test PYTEST='.venv/bin/coverage run -m pytest'
PYTEST ?= $(BIN)/pytest

.PHONY: run test test-pg coverage lint typecheck migrate bench bench-tools lock clean schemathesis demo sdk

$(VENV)/.runtime: requirements.lock pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --require-hashes -r requirements.lock
	$(BIN)/pip install -q --no-deps -e .
	touch $@

$(VENV)/.dev: requirements-dev.lock pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --require-hashes -r requirements-dev.lock
	$(BIN)/pip install -q --no-deps -e .
	touch $(VENV)/.runtime $@

## run: set up, migrate, and serve on the embedded default (SQLite, in-process bus)
run: $(VENV)/.runtime
	$(BIN)/hotswap migrate
	$(BIN)/hotswap serve --host $(HOST) --port $(PORT)

## demo: simulate a fleet and players and watch a crashy canary get rolled back (embedded, no setup)
demo: $(VENV)/.runtime
	$(BIN)/hotswap simulate crashy-balance-patch

## migrate: apply the database migrations
migrate: $(VENV)/.runtime
	$(BIN)/hotswap migrate

## test: set up and run the whole suite (SQLite unless HOTSWAP_TEST_DATABASE_URL says otherwise)
test: $(VENV)/.dev
	$(PYTEST) $(PYTEST_ARGS)

## test-pg: the same suite against the local PostgreSQL and Redis
test-pg: $(VENV)/.dev
	HOTSWAP_TEST_DATABASE_URL=$${HOTSWAP_TEST_DATABASE_URL:-postgresql+asyncpg://postgres@127.0.0.1:5432/test} \
	HOTSWAP_TEST_REDIS_URL=$${HOTSWAP_TEST_REDIS_URL:-redis://127.0.0.1:6379/0} \
	HOTSWAP_TEST_REQUIRE_SERVICES=1 \
	$(PYTEST) $(PYTEST_ARGS)

## schemathesis: fuzz a running server against its own OpenAPI document (zero 5xx allowed)
schemathesis: $(VENV)/.dev
	scripts/fuzz-api

lint: $(VENV)/.dev
	$(BIN)/ruff check src tests bench sdk
	$(BIN)/ruff format --check src tests bench sdk

typecheck: $(VENV)/.dev
	$(BIN)/mypy

## sdk: build the SDK's own wheel (hotswap-sdk: the SDK and the targeting engine, for game servers) into dist/
SDK_DIST ?= dist
sdk: $(VENV)/.runtime
	$(BIN)/pip wheel -q --no-deps -w $(SDK_DIST) sdk/python

## bench: print the figures of every benchmark (bench/player_query.py needs wrk: make bench-tools)
bench: $(VENV)/.dev
	@for f in bench/[!_]*.py; do echo "== $$f"; $(BIN)/python $$f || exit 1; done

## bench-tools: the HTTP load generator the player query benchmark drives (Debian's wrk)
bench-tools:
	@command -v wrk >/dev/null || (apt-get install -y wrk || sudo apt-get install -y wrk)

## lock: re-resolve the pinned dependencies (needs network to PyPI)
lock:
	$(PYTHON) -m venv .lockenv && .lockenv/bin/pip install -q uv
	.lockenv/bin/uv pip compile pyproject.toml --python-version 3.11 --generate-hashes -o requirements.lock
	.lockenv/bin/uv pip compile pyproject.toml --extra dev --python-version 3.11 --generate-hashes -o requirements-dev.lock
	rm -rf .lockenv

## coverage: the suite on SQLite under coverage.py (branch coverage), then the report (fails under 85 %)
coverage: $(VENV)/.dev
	rm -f .coverage .coverage.*
	$(BIN)/coverage run -m pytest $(PYTEST_ARGS)
	$(BIN)/coverage combine -q
	$(BIN)/coverage report

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .coverage .coverage.*
