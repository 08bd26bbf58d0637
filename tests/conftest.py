"""Shared test fixtures: one global SDK TracerProvider for the whole session, spans captured in memory.

OpenTelemetry lets a process set its global TracerProvider once, so it is set here
before anything else asks for a tracer; each test gets the exporter cleared.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

sys.path.insert(0, str(Path(__file__).parent))

os.environ.setdefault("OTEL_SERVICE_NAME", "llm-otel-tests")

EXPORTER = InMemorySpanExporter()
PROVIDER = TracerProvider()
PROVIDER.add_span_processor(SimpleSpanProcessor(EXPORTER))
trace.set_tracer_provider(PROVIDER)


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    """The in-memory exporter of the global provider, emptied before and after the test."""
    EXPORTER.clear()
    yield EXPORTER
    EXPORTER.clear()

# llm-otel's attribution span processor on the shared provider (as `instrument()` would add it),
# so spans started inside task()/agent()/prompt() carry their attribution in every test.
from llm_otel.sdk import attribution as _attribution  # noqa: E402

_attribution.add_to(PROVIDER)
