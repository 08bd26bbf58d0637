"""Anthropic usage -> the span contract: inclusive input, TTL split as reported, iterations billed on top,
stream accumulation (message_start, then message_delta overwrites), never the placeholder output."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from anthropic_helpers import only_our_span, replay
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import llm_otel.sdk.anthropic as instrumentation
from llm_otel import semconv
from llm_otel.pricing.usage import IterationUsage
from llm_otel.sdk.anthropic.stream import BodyRecorder
from llm_otel.sdk.anthropic.usage import normalize_anthropic_usage, stream_usage
from replay import corpus
from replay.server import ReplayServer

ADVISOR = "pydantic/pydantic-ai:tests/models/cassettes/test_anthropic/test_anthropic_advisor_tool.yaml#0"
ADVISOR_STREAM = "pydantic/pydantic-ai:tests/models/cassettes/test_anthropic/test_anthropic_advisor_tool_stream.yaml#0"
COMPACTION = (
    "pydantic/pydantic-ai:tests/models/cassettes/test_anthropic/test_anthropic_compaction_usage_with_cache.yaml#0"
)
SPLIT_MISMATCH = (
    "Mirascope/mirascope:python/tests/e2e/input/cassettes/test_web_search_tool/anthropic_beta_claude_sonnet_4_0.yaml#0"
)


def by_id(ex_id: str) -> dict[str, Any]:
    return next(ex for ex in corpus.load() if ex["id"] == ex_id)


@pytest.fixture(scope="module")
def server() -> Iterator[ReplayServer]:
    instrumentation.install()
    with ReplayServer() as srv:
        yield srv
    instrumentation.uninstall()


def test_input_is_inclusive_of_cache_reads_and_writes() -> None:
    usage = normalize_anthropic_usage(
        {"input_tokens": 10, "cache_read_input_tokens": 100, "cache_creation_input_tokens": 1000, "output_tokens": 5}
    )
    assert usage is not None
    assert (usage.input_tokens, usage.cache_read_tokens, usage.cache_write_tokens) == (1110, 100, 1000)


def test_ttl_split_is_kept_as_reported_even_when_it_does_not_add_up() -> None:
    usage = normalize_anthropic_usage(
        {
            "input_tokens": 1,
            "cache_creation_input_tokens": 900,
            "cache_creation": {"ephemeral_5m_input_tokens": 100, "ephemeral_1h_input_tokens": 200},
            "output_tokens": 5,
        }
    )
    assert usage is not None
    assert (usage.cache_write_tokens, usage.cache_write_5m_tokens, usage.cache_write_1h_tokens) == (900, 100, 200)


def test_message_and_fallback_iterations_are_not_billed_twice_but_advisor_and_compaction_are() -> None:
    usage = normalize_anthropic_usage(
        {
            "input_tokens": 10,
            "output_tokens": 5,
            "iterations": [
                {"type": "message", "input_tokens": 10, "output_tokens": 5},
                {"type": "fallback_message", "model": "m", "input_tokens": 3, "output_tokens": 1},
                {"type": "advisor_message", "model": "claude-opus-4-8", "input_tokens": 7, "output_tokens": 2},
                {"type": "compaction", "input_tokens": 4, "cache_read_input_tokens": 6, "output_tokens": 1},
            ],
        }
    )
    assert usage is not None
    assert usage.iterations == (
        IterationUsage(kind="advisor", model="claude-opus-4-8", input_tokens=7, output_tokens=2),
        IterationUsage(kind="compaction", input_tokens=10, output_tokens=1, cache_read_tokens=6),
    )


def test_stream_without_message_delta_never_reports_the_placeholder_output() -> None:
    usage, tier = stream_usage({"input_tokens": 10, "output_tokens": 1, "service_tier": "standard"}, [])
    assert usage is not None and usage.input_tokens == 10 and usage.output_tokens is None
    assert tier == "standard"


def test_stream_message_delta_fields_overwrite_message_start_but_not_the_ttl_split() -> None:
    start = {
        "input_tokens": 10,
        "cache_creation_input_tokens": 4,
        "cache_creation": {"ephemeral_5m_input_tokens": 4},
        "output_tokens": 1,
    }
    usage, _ = stream_usage(start, [{"input_tokens": 30, "output_tokens": 50, "cache_creation_input_tokens": None}])
    assert usage is not None
    assert (usage.input_tokens, usage.output_tokens, usage.cache_write_tokens) == (34, 50, 4)
    assert usage.cache_write_5m_tokens == 4


@pytest.mark.parametrize("ex_id", [ADVISOR, ADVISOR_STREAM])
def test_advisor_iterations_are_recorded_with_the_advisor_model(
    server: ReplayServer, spans: InMemorySpanExporter, ex_id: str
) -> None:
    replay(server, "a", by_id(ex_id))
    a: dict[str, Any] = dict(only_our_span(spans).attributes or {})
    assert a[semconv.iteration_attribute("advisor", "model")] == "claude-opus-4-8"
    assert a[semconv.iteration_attribute("advisor", "input_tokens")] > 0
    assert a[semconv.iteration_attribute("advisor", "output_tokens")] > 0
    assert not any(k.startswith(semconv.iteration_attribute("message", "")) for k in a)


def test_compaction_iterations_are_recorded_inclusive_of_their_cache_writes(
    server: ReplayServer, spans: InMemorySpanExporter
) -> None:
    replay(server, "c", by_id(COMPACTION))
    a: dict[str, Any] = dict(only_our_span(spans).attributes or {})
    assert a[semconv.iteration_attribute("compaction", "input_tokens")] == 100 + 55096
    assert a[semconv.iteration_attribute("compaction", "cache_write.input_tokens")] == 55096
    assert a[semconv.iteration_attribute("compaction", "output_tokens")] == 131
    assert a[semconv.GEN_AI_USAGE_INPUT_TOKENS] == 229  # the top level leaves the compaction out


def test_a_split_that_does_not_add_up_is_on_the_span_as_reported(
    server: ReplayServer, spans: InMemorySpanExporter
) -> None:
    ex = by_id(SPLIT_MISMATCH)
    replay(server, "s", ex)
    a: dict[str, Any] = dict(only_our_span(spans).attributes or {})
    assert a.get(semconv.GEN_AI_USAGE_CACHE_WRITE_INPUT_TOKENS) == ex["expected"]["cache_write_input_tokens"]
    assert a.get(semconv.USAGE_CACHE_WRITE_5M, 0) + a.get(semconv.USAGE_CACHE_WRITE_1H, 0) != a.get(
        semconv.GEN_AI_USAGE_CACHE_WRITE_INPUT_TOKENS
    )


class Sink:
    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

    def finish(self, usage: Any = None, **kwargs: Any) -> None:
        self.calls.append({"usage": usage, **kwargs})


def test_a_body_ends_its_call_once_and_carries_the_request_id() -> None:
    sink = Sink()
    recorder = BodyRecorder(sink, sse=False, request_id="req_123")
    recorder.body_end("read", None, b'{"id": "msg_1", "model": "m", "usage": {"input_tokens": 3, "output_tokens": 4}}')
    recorder.body_end("closed")
    recorder.end("closed")
    assert len(sink.calls) == 1
    assert sink.calls[0]["attributes"] == {"anthropic.request.id": "req_123"}
    assert sink.calls[0]["usage"].input_tokens == 3
