# The two commands of the README. Both work on a fresh machine: they create .venv and install into it.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: install demo test lint

$(BIN)/llm-otel: pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $@

install: $(BIN)/llm-otel

demo: install
	$(BIN)/llm-otel demo

lint: install
	$(BIN)/ruff check src tests benchmarks examples
	$(BIN)/mypy

test: install lint
	$(BIN)/pytest -q
