# devfactory — the two commands a newcomer needs are `make run` and `make test`.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
PORT   ?= 8787
DEMO_TOKEN ?= ntn_demo_local_devfactory_token

.PHONY: run serve test check lint typecheck bench conformance clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(VENV)/.installed $@

EXAMPLE ?= examples/consulting/workspace.yaml
ENV ?= dev

## run: set up .venv, deploy the example to the embedded default, then serve the MCP gateway
##      (:8811) and the dashboard (:8000) until Ctrl-C; prints their URLs and a new admin key
run: $(VENV)/.installed
	$(BIN)/devfactory up $(EXAMPLE) --env $(ENV) $(UP_ARGS)

## serve: run the local Notion server on a port, with a demo token
serve: $(VENV)/.installed
	$(BIN)/devfactory notion serve --db .devfactory/notion.db --port $(PORT) --token $(DEMO_TOKEN)

## test: set up .venv with the dev extras and run every test
test: $(VENV)/.installed-dev
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

## check: ruff and mypy --strict on src/
check: $(VENV)/.installed-dev
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy src

## bench: run the benchmarks and rewrite docs/benchmarks.md
bench: $(VENV)/.installed-dev
	$(BIN)/python bench/emulator.py --write docs/benchmarks.md
	$(BIN)/python bench/deploy.py --write docs/benchmarks.md

## conformance: replay the recorded Notion traffic against a fresh local server
conformance: $(VENV)/.installed-dev
	$(BIN)/python -m pytest -q -m conformance -s tests/integration/test_conformance.py

clean:
	rm -rf $(VENV) .devfactory .pytest_cache .mypy_cache .ruff_cache .hypothesis
