# calsync development commands. Each creates .venv on first use.
#   make run    install and run the daemon (calsync run) on SQLite with config.example.toml
#   make test   install and run the whole test suite (SQLite; PostgreSQL too when
#               CALSYNC_TEST_POSTGRES_URL is set)
#   make check  format, lint, types, import contracts and tests, as CI runs them
#   make bench  install wrk if missing and run the benchmarks (bench/README.md)

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test check lint format clean bench

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/calsync --config config.example.toml run

test: $(STAMP)
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff format --check src tests bench
	$(BIN)/ruff check src tests bench
	$(BIN)/mypy src
	$(BIN)/mypy --config-file pyproject.toml bench
	$(BIN)/mypy --config-file pyproject.toml --check-untyped-defs --allow-untyped-defs --allow-incomplete-defs --follow-imports=silent tests
	$(BIN)/lint-imports

check: lint test

bench: $(STAMP)
	command -v wrk >/dev/null || (apt-get update -qq && apt-get install -y -qq wrk)
	$(BIN)/python -m bench $(BENCH_ARGS)

format: $(STAMP)
	$(BIN)/ruff format src tests bench
	$(BIN)/ruff check --fix src tests bench

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis
