"""The per-call fast paths of ``sdk/call.py`` and the anthropic trace-context injection give exactly
what the slow, public paths give (``benchmarks/sdk_overhead.py`` is why they exist)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry import baggage, propagate, trace
from opentelemetry import context as otel_context
from opentelemetry.context import Context
from opentelemetry.propagators.composite import CompositePropagator
from opentelemetry.propagators.textmap import DefaultSetter, TextMapPropagator
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanLimits, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags, TraceState

from llm_otel import semconv
from llm_otel.pricing.usage import IterationUsage, Usage
from llm_otel.sdk import call
from llm_otel.sdk.anthropic.wrappers import trace_headers


class StartSeen(SpanProcessor):
    """Keeps the attributes each span had when the processors saw it start."""

    def __init__(self) -> None:
        self.at_start: list[dict[str, Any]] = []

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        self.at_start.append(dict(span.attributes or {}))

    def on_end(self, span: ReadableSpan) -> None:
        pass


@pytest.fixture
def own_provider() -> Iterator[tuple[TracerProvider, InMemorySpanExporter, StartSeen]]:
    provider = TracerProvider()
    seen = StartSeen()
    exporter = InMemorySpanExporter()
    provider.add_span_processor(seen)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    call.set_tracer_provider(provider)
    try:
        yield provider, exporter, seen
    finally:
        call.set_tracer_provider(None)


REQUEST = {
    semconv.GEN_AI_REQUEST_MAX_TOKENS: 512,
    semconv.GEN_AI_REQUEST_STREAM: False,
    semconv.REQUEST_MESSAGES_COUNT: 3,
    semconv.GEN_AI_REQUEST_STOP_SEQUENCES: ("END",),
    semconv.SERVER_ADDRESS: "api.example.com",
    semconv.SERVER_PORT: 443,
}


def test_new_usage_equals_the_constructor() -> None:
    iterations = (IterationUsage(kind="advisor", model="m", input_tokens=5, output_tokens=2),)
    for args, kwargs in (
        ((1, 2, 3, 4), {}),
        ((None, None, None, None), {}),
        ((10, 20, 0, 5), {"cache_write_5m_tokens": 2, "cache_write_1h_tokens": 3, "reasoning_tokens": 7}),
        ((10, 20, None, 5), {"cache_write_30m_tokens": 1, "cache_write_12h_tokens": 4, "iterations": iterations}),
    ):
        fast = call.new_usage(*args, **kwargs)
        slow = Usage(*args, **kwargs)
        assert fast == slow and hash(fast) == hash(slow) and fast.attributes() == slow.attributes()
        assert type(fast) is Usage


def test_new_usage_takes_the_fast_path_for_this_usage_class() -> None:
    assert call._SETTERS is not None  # else every call pays the frozen dataclass constructor


def test_span_starts_with_the_sampling_relevant_attributes_and_ends_with_all(
    own_provider: tuple[TracerProvider, InMemorySpanExporter, StartSeen],
) -> None:
    _, exporter, seen = own_provider
    c = call.start_call("chat", "openai", "gpt-4o", dict(REQUEST))
    assert c is not None
    assert seen.at_start == [
        {
            semconv.GEN_AI_OPERATION_NAME: "chat",
            semconv.GEN_AI_PROVIDER_NAME: "openai",
            semconv.GEN_AI_REQUEST_MODEL: "gpt-4o",
            semconv.SERVER_ADDRESS: "api.example.com",
            semconv.SERVER_PORT: 443,
        }
    ]
    c.finish(Usage(input_tokens=7, output_tokens=3), response_model="gpt-4o-2024", finish_reasons=["stop"])
    (span,) = exporter.get_finished_spans()
    assert dict(span.attributes or {}) == {
        semconv.GEN_AI_OPERATION_NAME: "chat",
        semconv.GEN_AI_PROVIDER_NAME: "openai",
        semconv.GEN_AI_REQUEST_MODEL: "gpt-4o",
        **REQUEST,
        semconv.GEN_AI_USAGE_INPUT_TOKENS: 7,
        semconv.GEN_AI_USAGE_OUTPUT_TOKENS: 3,
        semconv.GEN_AI_RESPONSE_MODEL: "gpt-4o-2024",
        semconv.GEN_AI_RESPONSE_FINISH_REASONS: ("stop",),
    }


def test_a_failed_call_keeps_its_request_attributes(
    own_provider: tuple[TracerProvider, InMemorySpanExporter, StartSeen],
) -> None:
    _, exporter, _ = own_provider
    c = call.start_call("chat", "anthropic", "claude", dict(REQUEST))
    assert c is not None
    c.finish(error=TimeoutError("slow"))
    (span,) = exporter.get_finished_spans()
    attrs = dict(span.attributes or {})
    assert {k: attrs[k] for k in REQUEST} == REQUEST
    assert attrs[semconv.ERROR_TYPE] == "TimeoutError"


def test_the_span_starts_in_the_context_it_is_given(
    own_provider: tuple[TracerProvider, InMemorySpanExporter, StartSeen],
) -> None:
    provider, exporter, _ = own_provider
    parent = provider.get_tracer("t").start_span("parent")
    ctx = trace.set_span_in_context(parent)
    c = call.start_call("chat", "openai", "gpt-4o", {}, ctx)  # not attached: only passed
    assert c is not None
    c.finish()
    parent.end()
    ours = next(s for s in exporter.get_finished_spans() if s.name == "chat gpt-4o")
    assert ours.parent is not None and ours.parent.span_id == parent.get_span_context().span_id


def test_values_the_fast_write_cannot_take_go_through_the_sdk_unchanged(
    own_provider: tuple[TracerProvider, InMemorySpanExporter, StartSeen],
) -> None:
    _, exporter, _ = own_provider
    c = call.start_call("chat", "openai", "gpt-4o", {"list.value": ["a", "b"], "int.tuple": (1, 2)})  # type: ignore[dict-item]
    assert c is not None
    c.finish()
    (span,) = exporter.get_finished_spans()
    assert span.attributes is not None
    assert span.attributes["list.value"] == ("a", "b") and span.attributes["int.tuple"] == (1, 2)


def test_span_limits_that_would_truncate_take_the_sdk_path() -> None:
    provider = TracerProvider(span_limits=SpanLimits(max_span_attribute_length=4))
    exporter = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    call.set_tracer_provider(provider)
    try:
        c = call.start_call("chat", "openai", "gpt-4o", {"long.value": "abcdefgh"})
        assert c is not None
        c.finish(response_id="chatcmpl-123456")
    finally:
        call.set_tracer_provider(None)
    (span,) = exporter.get_finished_spans()
    assert span.attributes is not None
    assert span.attributes["long.value"] == "abcd"
    assert span.attributes[semconv.GEN_AI_RESPONSE_ID] == "chat"


# --- anthropic: trace context sent with the request --------------------------------------------------


def _span(trace_state: TraceState | None = None, sampled: bool = True) -> NonRecordingSpan:
    flags = TraceFlags(TraceFlags.SAMPLED if sampled else TraceFlags.DEFAULT)
    return NonRecordingSpan(
        SpanContext(0x1F2E3D4C5B6A79881F2E3D4C5B6A7988, 0x0A1B2C3D4E5F6071, False, flags, trace_state)
    )


def _injected(span: trace.Span, ctx: Context) -> dict[str, str]:
    carrier: dict[str, str] = {}
    propagate.inject(carrier, context=trace.set_span_in_context(span, ctx), setter=DefaultSetter())
    return carrier


@pytest.mark.parametrize("sampled", [True, False])
def test_trace_headers_are_what_the_default_propagators_inject(sampled: bool) -> None:
    span = _span(sampled=sampled)
    ctx = otel_context.get_current()
    assert trace_headers(span, ctx) == _injected(span, ctx)
    assert trace_headers(span, ctx)["traceparent"].endswith("-01" if sampled else "-00")


def test_trace_headers_carry_the_trace_state_and_the_baggage() -> None:
    span = _span(TraceState([("vendor", "v1"), ("other", "x")]))
    ctx = baggage.set_baggage("llm_otel.task.id", "t-1", otel_context.get_current())
    headers = trace_headers(span, ctx)
    assert headers == _injected(span, ctx)
    assert set(headers) == {"traceparent", "tracestate", "baggage"}


def test_an_invalid_span_sends_no_trace_context() -> None:
    ctx = otel_context.get_current()
    assert trace_headers(trace.INVALID_SPAN, ctx) == _injected(trace.INVALID_SPAN, ctx) == {}


class _Custom(TextMapPropagator):
    def extract(self, carrier: Any, context: Context | None = None, getter: Any = None) -> Context:
        return context or Context()

    def inject(self, carrier: Any, context: Context | None = None, setter: Any = None) -> None:
        span_context = trace.get_current_span(context).get_span_context()
        carrier["x-custom-trace"] = f"{span_context.trace_id:x}"

    @property
    def fields(self) -> set[str]:
        return {"x-custom-trace"}


@pytest.mark.parametrize("composite", [False, True])
def test_other_registered_propagators_are_used_as_they_are(composite: bool) -> None:
    before = propagate.get_global_textmap()
    custom = CompositePropagator([_Custom()]) if composite else _Custom()
    propagate.set_global_textmap(custom)
    try:
        span = _span()
        ctx = otel_context.get_current()
        assert trace_headers(span, ctx) == {"x-custom-trace": "1f2e3d4c5b6a79881f2e3d4c5b6a7988"}
        assert trace_headers(span, None) == _injected(span, ctx)
    finally:
        propagate.set_global_textmap(before)
    assert trace_headers(_span(), None) == _injected(_span(), otel_context.get_current())


def test_the_no_parameter_fast_path_knows_every_body_key_the_request_reader_reads() -> None:
    """``request_attributes`` skips its parameter lookups when the body has none of ``_PARAMETERS``:
    a key read there but missing from the set would silently lose its attribute."""
    import inspect
    import re

    from llm_otel.sdk.openai import _request

    source = inspect.getsource(_request.request_attributes)
    top_level = set(re.findall(r'\b(?:get|body\.get)\("([a-z_]+)"\)', source))
    top_level |= {key for key, _ in _request._NUMBER_PARAMS}
    nested = {"type", "format", "id"}  # read inside response_format / text / conversation, not the body
    always = {"model", "stream", "messages", "input"}  # read on the fast path too
    assert top_level - nested - always <= _request._PARAMETERS, top_level - nested - always - _request._PARAMETERS
    assert "temperature" in top_level and "tools" in top_level  # the pattern still finds the reads
