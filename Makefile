# The two commands: `make demo` (the main job) and `make test` (lint, types, tests).
# Both bootstrap .venv on first use and reinstall when pyproject.toml changes.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test soak lint typecheck unit bench clean up down

PROTOS := $(shell find proto -name '*.proto')

$(STAMP): pyproject.toml $(PROTOS)
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Python 3.11+ is required"'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	$(BIN)/python -m subsidy_platform.protogen
	@touch $(STAMP)

# The notices' embedded Japanese font (IPAex Gothic, IPA Font License), taken from the
# japanize-matplotlib sdist on PyPI: no system package needed.
NOTICES_FONT := $(VENV)/share/subsidy-fonts/ipaexg.ttf
$(NOTICES_FONT): | $(STAMP)
	$(BIN)/python -m subsidy_notices.fonts fetch $(NOTICES_FONT)
demo test up: $(NOTICES_FONT)

# The demo starts from an empty state folder of its own (per checkout) unless
# SUBSIDY_STATE_DIR names one: it never touches the stack of `make up`.
demo: $(STAMP)
	@if [ -z "$$SUBSIDY_STATE_DIR" ]; then \
	  SUBSIDY_STATE_DIR=/tmp/subsidy-demo-$$(pwd | sha1sum | cut -c1-10); export SUBSIDY_STATE_DIR; \
	  $(BIN)/subsidy-admin down > /dev/null; rm -rf "$$SUBSIDY_STATE_DIR"; \
	fi; $(BIN)/python -m subsidy_demo

# The whole system for interactive use (docs/OPERATIONS.md): embedded servers and every
# installed service, detached; `down` stops them, the data stays in the state folder.
up: $(STAMP)
	$(BIN)/subsidy-admin up

down: $(STAMP)
	$(BIN)/subsidy-admin down

lint: $(STAMP)
	$(BIN)/ruff check $(wildcard libs services tests bench)
	$(BIN)/ruff format --check $(wildcard libs services tests bench)

typecheck: $(STAMP)
	$(BIN)/mypy $(wildcard libs services bench)
	$(BIN)/lint-imports

test: lint typecheck
	$(BIN)/pytest -n 2 -q

# The fault suite's longer variant (docs/OPERATIONS.md, "When PostgreSQL or OpenBao goes
# down"): the same tests with more outages, kills and load per test (SUBSIDY_SOAK).
SOAK ?= 5
soak: $(NOTICES_FONT)
	SUBSIDY_SOAK=$(SOAK) $(BIN)/pytest -n 2 -q tests/integration/test_faults_*.py

bench: $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]'
	$(BIN)/python bench/rules.py

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
