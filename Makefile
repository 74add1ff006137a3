# The two commands: `make demo` (the main job) and `make test` (lint, types, tests).
# Both bootstrap .venv on first use and reinstall when pyproject.toml changes.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint typecheck unit bench clean

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
demo test: $(NOTICES_FONT)

demo: $(STAMP)
	$(BIN)/python -m subsidy_demo

lint: $(STAMP)
	$(BIN)/ruff check $(wildcard libs services tests bench)
	$(BIN)/ruff format --check $(wildcard libs services tests bench)

typecheck: $(STAMP)
	$(BIN)/mypy $(wildcard libs services bench)
	$(BIN)/lint-imports

test: lint typecheck
	$(BIN)/pytest -n 2 -q

bench: $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]'
	$(BIN)/python bench/rules.py

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
