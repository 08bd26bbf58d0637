"""SpendPreservingSampler: GenAI and task spans always sampled, the rest as the user's sampler says."""

from __future__ import annotations

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, ALWAYS_ON, ParentBased, TraceIdRatioBased

import llm_otel
from llm_otel import semconv
from llm_otel.sdk import call, sampler

Sampled = tuple[TracerProvider, InMemorySpanExporter]


@pytest.fixture
def never_sampled() -> Sampled:
    """A provider whose user sampler drops everything, wrapped in ours."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider(sampler=sampler.SpendPreservingSampler(ParentBased(ALWAYS_OFF)))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider, exporter


def test_genai_spans_are_sampled_when_the_user_sampler_drops_everything(never_sampled: Sampled) -> None:
    provider, exporter = never_sampled
    tracer = provider.get_tracer("t")
    tracer.start_span("chat gpt-4o", attributes={semconv.GEN_AI_OPERATION_NAME: "chat"}).end()
    tracer.start_span("GET /").end()
    assert [s.name for s in exporter.get_finished_spans()] == ["chat gpt-4o"]


def test_task_spans_and_llm_calls_are_sampled_but_other_spans_follow_the_user(never_sampled: Sampled) -> None:
    provider, exporter = never_sampled
    call.set_tracer_provider(provider)
    try:
        outer = provider.get_tracer("app")
        with outer.start_as_current_span("request"), llm_otel.task("review"):
            c = call.start_call("chat", "openai", "gpt-4o", {})
            assert c is not None
            c.finish()
    finally:
        call.set_tracer_provider(None)
    assert sorted(s.name for s in exporter.get_finished_spans()) == ["chat gpt-4o", "llm_otel.task review"]


def test_children_of_a_sampled_genai_span_follow_the_parent_based_delegate(never_sampled: Sampled) -> None:
    provider, exporter = never_sampled
    tracer = provider.get_tracer("t")
    with tracer.start_as_current_span("chat m", attributes={semconv.GEN_AI_OPERATION_NAME: "chat"}):
        tracer.start_span("http POST").end()
    assert sorted(s.name for s in exporter.get_finished_spans()) == ["chat m", "http POST"]


def test_other_spans_are_decided_by_the_delegate() -> None:
    s = sampler.SpendPreservingSampler(TraceIdRatioBased(0.0))
    assert not s.should_sample(None, 123, "GET /").decision.is_sampled()
    s = sampler.SpendPreservingSampler(ALWAYS_ON)
    assert s.should_sample(None, 123, "GET /").decision.is_sampled()


def test_sampler_from_env_wraps_the_sampler_named_in_otel_traces_sampler(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_TRACES_SAMPLER", "traceidratio")
    monkeypatch.setenv("OTEL_TRACES_SAMPLER_ARG", "0.25")
    s = sampler.sampler_from_env()
    assert isinstance(s.delegate, TraceIdRatioBased)
    assert s.delegate.rate == 0.25
    assert "TraceIdRatioBased" in s.get_description()


def test_sampler_from_env_defaults_to_parent_based_always_on(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OTEL_TRACES_SAMPLER", raising=False)
    assert isinstance(sampler.sampler_from_env().delegate, ParentBased)


def test_a_sampled_genai_span_keeps_the_attributes_it_started_with() -> None:
    attrs = {semconv.GEN_AI_OPERATION_NAME: "chat", semconv.GEN_AI_REQUEST_MODEL: "m"}
    result = sampler.SpendPreservingSampler(ALWAYS_OFF).should_sample(None, 1, "chat m", attributes=attrs)
    assert result.decision.is_sampled()
    assert dict(result.attributes) == attrs
