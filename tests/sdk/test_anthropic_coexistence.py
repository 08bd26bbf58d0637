"""llm-otel alongside the official ``opentelemetry-instrumentation-genai-anthropic`` (1.3b0) and OpenLLMetry's
``opentelemetry-instrumentation-anthropic`` (0.62.4), with anthropic's native tracing on and off: every call
still has exactly ONE span with ``gen_ai.usage.*``, and no native span.

Rule under test (``llm_otel/sdk/anthropic/coexist.py``): the instrumentation that wrapped the call keeps
its span; llm-otel adds none for that call, but counts it in the task totals and annotates the official
instrumentation's span (current while the call runs) with its ``llm_otel.*`` extras. A method the other
instrumentation does not wrap (OpenLLMetry: ``messages.parse``) gets llm-otel's span.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from anthropic_helpers import (
    FULL_STREAM,
    MESSAGE_JSON,
    REQUEST,
    async_client,
    exchange,
    native_spans,
    scope,
    sync_client,
    usage_spans,
)
from opentelemetry import context as otel_context
from opentelemetry.instrumentation.anthropic import AnthropicInstrumentor as OpenLLMetryInstrumentor
from opentelemetry.instrumentation.genai.anthropic import AnthropicInstrumentor as OfficialInstrumentor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import llm_otel.sdk.anthropic as instrumentation
from llm_otel import semconv
from llm_otel.sdk import context
from replay.server import ReplayServer

OFFICIAL = "opentelemetry.instrumentation.genai.anthropic"
OPENLLMETRY = "opentelemetry.instrumentation.anthropic"
INSTRUMENTORS: dict[str, Callable[[], Any]] = {OFFICIAL: OfficialInstrumentor, OPENLLMETRY: OpenLLMetryInstrumentor}
NATIVE = {"native_on": {}, "native_off": {"open_telemetry": False}}


@pytest.fixture(scope="module")
def server() -> Iterator[ReplayServer]:
    instrumentation.install()
    with ReplayServer() as srv:
        srv.add("json", exchange(MESSAGE_JSON, stream=False))
        srv.add("sse", exchange(FULL_STREAM, stream=True))
        yield srv
    instrumentation.uninstall()


@pytest.fixture(params=list(INSTRUMENTORS))
def other(request: pytest.FixtureRequest) -> Iterator[str]:
    instrumentor = INSTRUMENTORS[request.param]()
    instrumentor.instrument()
    try:
        yield request.param
    finally:
        instrumentor.uninstrument()


@pytest.fixture(params=list(NATIVE))
def native(request: pytest.FixtureRequest) -> dict[str, Any]:
    return NATIVE[request.param]


def the_one_usage_span(spans: InMemorySpanExporter, owner: str) -> dict[str, Any]:
    found = usage_spans(spans)
    assert [scope(s) for s in found] == [owner], [(s.name, scope(s)) for s in spans.get_finished_spans()]
    assert native_spans(spans) == []
    a = dict(found[0].attributes or {})
    assert a[semconv.GEN_AI_USAGE_INPUT_TOKENS] == 18
    if owner == OFFICIAL:  # its span is current during the call: it gets our extras
        assert a[semconv.USAGE_CACHE_WRITE_5M] == 2
        assert a[semconv.SERVICE_TIER] in ("standard", "priority")
    return a


def test_create_has_one_usage_span_from_the_instrumentation_that_wrapped_it(
    server: ReplayServer, spans: InMemorySpanExporter, other: str, native: dict[str, Any]
) -> None:
    with context.task("coexist") as task:
        sync_client(server.base_url("json"), **native).messages.create(**REQUEST)
    a = the_one_usage_span(spans, other)
    assert a[semconv.GEN_AI_USAGE_OUTPUT_TOKENS] == 20
    assert (task.calls, task.tokens) == (1, 38)  # llm-otel still counts the call it did not span


def test_stream_has_one_usage_span_from_the_instrumentation_that_wrapped_it(
    server: ReplayServer, spans: InMemorySpanExporter, other: str, native: dict[str, Any]
) -> None:
    events = list(sync_client(server.base_url("sse"), **native).messages.create(**REQUEST, stream=True))
    assert events[-1].type == "message_stop"
    the_one_usage_span(spans, other)


def test_stream_helper_has_one_usage_span_from_the_instrumentation_that_wrapped_it(
    server: ReplayServer, spans: InMemorySpanExporter, other: str, native: dict[str, Any]
) -> None:
    with sync_client(server.base_url("sse"), **native).messages.stream(**REQUEST) as stream:
        assert stream.get_final_message().usage.output_tokens == 42
    the_one_usage_span(spans, other)


def test_parse_has_one_usage_span_ours_where_the_other_does_not_wrap_it(
    server: ReplayServer, spans: InMemorySpanExporter, other: str, native: dict[str, Any]
) -> None:
    sync_client(server.base_url("json"), **native).messages.parse(**REQUEST)
    owner = semconv.INSTRUMENTATION_SCOPE if other == OPENLLMETRY else other
    the_one_usage_span(spans, owner)


async def test_async_create_and_stream_have_one_usage_span_each(
    server: ReplayServer, spans: InMemorySpanExporter, other: str, native: dict[str, Any]
) -> None:
    await async_client(server.base_url("json"), **native).messages.create(**REQUEST)
    the_one_usage_span(spans, other)
    spans.clear()
    stream = await async_client(server.base_url("sse"), **native).messages.create(**REQUEST, stream=True)
    async for _ in stream:
        pass
    the_one_usage_span(spans, other)


def test_uninstrumenting_the_other_gives_the_call_back_to_llm_otel(
    server: ReplayServer, spans: InMemorySpanExporter
) -> None:
    instrumentor = OpenLLMetryInstrumentor()
    instrumentor.instrument()
    instrumentor.uninstrument()
    sync_client(server.base_url("json")).messages.create(**REQUEST)
    the_one_usage_span(spans, semconv.INSTRUMENTATION_SCOPE)


def test_openllmetry_suppressed_by_its_context_key_leaves_the_call_to_llm_otel(
    server: ReplayServer, spans: InMemorySpanExporter
) -> None:
    instrumentor = OpenLLMetryInstrumentor()
    instrumentor.instrument()
    token = otel_context.attach(otel_context.set_value("suppress_language_model_instrumentation", True))
    try:
        sync_client(server.base_url("json")).messages.create(**REQUEST)
    finally:
        otel_context.detach(token)
        instrumentor.uninstrument()
    the_one_usage_span(spans, semconv.INSTRUMENTATION_SCOPE)
