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

# OpenLIT pins openai<3/anthropic<1, so it cannot live in the venv beside our clients; the dialect
# tests import it from its own directory (tests/processor/test_dialect_instrumented.py).
OPENLIT := $(VENV)/openlit
$(OPENLIT)/openlit: $(BIN)/llm-otel
	$(BIN)/pip install -q --no-deps --target $(OPENLIT) openlit==1.45.0

install: $(BIN)/llm-otel

demo: install
	$(BIN)/llm-otel demo

lint: install
	$(BIN)/ruff check src tests benchmarks examples
	$(BIN)/mypy

test: install lint $(OPENLIT)/openlit
	LLM_OTEL_OPENLIT_PATH=$(abspath $(OPENLIT)) $(BIN)/pytest -q
