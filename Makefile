# The two commands of the README:
#   make serve   run a hub on embedded defaults, in dev mode (http://127.0.0.1:8000, ws://.../ws)
#   make test    set up everything the tests need, then run the whole suite

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: serve test lint services install

$(BIN)/hutch: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[test]"
	touch $@

install: $(BIN)/hutch

serve: install
	$(BIN)/hutch serve --dev-mode

services:
	bash .ci/services

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

clients/widget/node_modules: clients/widget/package.json
	npm --prefix clients/widget install --no-audit --no-fund --silent
	touch $@

test: install services clients/widget/node_modules
	$(BIN)/ruff check .
	$(BIN)/pytest
