# Repères — the two commands: `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cksum pyproject.toml | cut -d' ' -f1)
HOST   ?= 127.0.0.1
PORT   ?= 5000
# Test workers (pytest-xdist): one per core, at most 4 (a worker may run Chromium, LibreOffice
# and its own PostgreSQL); 0 on a single core runs the tests in one process.
TEST_JOBS ?= $(shell n=$$(nproc 2>/dev/null || echo 1); [ "$$n" -gt 4 ] && n=4; [ "$$n" -lt 2 ] && n=0; echo $$n)

.PHONY: install run test bench lint system-deps clean migration

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import ensurepip' 2>/dev/null || [ "$$(id -u)" -ne 0 ] || \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv)
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install -q --disable-pip-version-check -e '.[test,lint]'
	@rm -f $(VENV)/.installed-*
	@touch $(STAMP)

install: $(STAMP)

## make run: the service on http://$(HOST):$(PORT), SQLite under var/, files in var/files, demo platform on
run: $(STAMP)
	$(BIN)/reperes db upgrade
	$(BIN)/reperes demo --host $(HOST) --port $(PORT)

## make test: installs what the tests need (system packages too, when root) and runs them all
test: $(STAMP) system-deps
	@$(BIN)/python -m pytest -n $(TEST_JOBS) --dist loadfile; rc=$$?; \
	  if [ $$rc -eq 5 ]; then echo "pytest collected no test: that is a failure"; exit 1; fi; \
	  exit $$rc

system-deps:
	@bash tests/system_deps.sh

## make bench: benchmarks (not tests); prints figures
bench: $(STAMP) system-deps
	@set -e; for f in tests/bench/bench_*.py; do echo "== $$f"; $(BIN)/python $$f; done

lint: $(STAMP)
	$(BIN)/ruff check integration connectors referentiels docx_templates tests
	$(BIN)/mypy

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache *.egg-info

## make migration MESSAGE="...": draft the next migration from the models (0001 is frozen)
migration: $(STAMP)
	$(BIN)/python -m tests.support.regen_migration $(MESSAGE)
