"""Every replayable Anthropic ``/v1/messages`` exchange of the corpus, through the real ``anthropic`` client.

The client talks HTTP to ``tests/replay/server.py``; native tracing stays at its default
(on: ``tests/conftest.py`` sets a global TracerProvider). For each call there must be
exactly ONE span with ``gen_ai.usage.*`` attributes, and it must say what ``expected`` says.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import anthropic
import pytest
from anthropic_helpers import replay, scope, usage_spans
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

import llm_otel.sdk.anthropic as instrumentation
from llm_otel import semconv
from replay import corpus
from replay.server import ReplayServer

TOKEN_KEYS = {
    "input_tokens": semconv.GEN_AI_USAGE_INPUT_TOKENS,
    "output_tokens": semconv.GEN_AI_USAGE_OUTPUT_TOKENS,
    "cache_read_input_tokens": semconv.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS,
    "cache_write_input_tokens": semconv.GEN_AI_USAGE_CACHE_WRITE_INPUT_TOKENS,
    "cache_write_5m": semconv.USAGE_CACHE_WRITE_5M,
    "cache_write_1h": semconv.USAGE_CACHE_WRITE_1H,
    "cache_write_30m": semconv.USAGE_CACHE_WRITE_30M,
    "cache_write_12h": semconv.USAGE_CACHE_WRITE_12H,
    "reasoning_output_tokens": semconv.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS,
}

MESSAGES = [ex for ex in corpus.exchanges("anthropic") if ex["path"] == "/v1/messages"]
COUNT_TOKENS = [
    ex
    for ex in corpus.exchanges("anthropic", replayable=False)
    if ex["path"] == "/v1/messages/count_tokens" and 200 <= ex["status"] < 300
]
FAILED = [
    ex
    for ex in corpus.exchanges("anthropic", replayable=False)
    if ex["path"] == "/v1/messages" and ex["status"] >= 400
]


@pytest.fixture(scope="module")
def server() -> Iterator[ReplayServer]:
    instrumentation.install()
    with ReplayServer() as srv:
        yield srv
    instrumentation.uninstall()


def mismatches(span: ReadableSpan, expected: dict[str, Any]) -> list[str]:
    attrs = dict(span.attributes or {})
    out = []
    for key, name in TOKEN_KEYS.items():
        if (expected[key] or 0) != (attrs.get(name) or 0):
            out.append(f"{key}: expected {expected[key]!r}, span has {attrs.get(name)!r}")
    for key, name in (
        ("response_model", semconv.GEN_AI_RESPONSE_MODEL),
        ("response_id", semconv.GEN_AI_RESPONSE_ID),
    ):
        if expected[key] != attrs.get(name):
            out.append(f"{key}: expected {expected[key]!r}, span has {attrs.get(name)!r}")
    reasons: Any = attrs.get(semconv.GEN_AI_RESPONSE_FINISH_REASONS)
    if (expected["finish_reasons"] or None) != (list(reasons) if reasons else None):
        out.append(f"finish_reasons: expected {expected['finish_reasons']!r}, span has {reasons!r}")
    return out


@pytest.mark.parametrize("ex", MESSAGES, ids=[ex["id"] for ex in MESSAGES])
def test_replayed_exchange_has_one_usage_span_matching_expected(
    server: ReplayServer, spans: InMemorySpanExporter, ex: dict[str, Any]
) -> None:
    replay(server, "m", ex)
    found = usage_spans(spans)
    assert len(found) == 1, [(s.name, scope(s)) for s in found]
    assert mismatches(found[0], ex["expected"]) == []
    assert scope(found[0]) == semconv.INSTRUMENTATION_SCOPE
    if ex["stream"]:
        assert found[0].attributes[semconv.STREAM_COMPLETE] is True  # type: ignore[index]


def test_the_corpus_has_the_818_replayable_messages_exchanges_its_readme_counts() -> None:
    # The dev corpus's README counts; another corpus (LLM_OTEL_CORPUS=...) only has to have some.
    assert len(MESSAGES) == 818 if corpus.IS_DEV else len(MESSAGES) > 0


@pytest.mark.parametrize("ex", COUNT_TOKENS, ids=[ex["id"] for ex in COUNT_TOKENS])
def test_count_tokens_is_not_spend_and_has_no_usage_span(
    server: ReplayServer, spans: InMemorySpanExporter, ex: dict[str, Any]
) -> None:
    result = replay(server, "c", ex, endpoint="count_tokens")
    assert isinstance(result.input_tokens, int)
    assert usage_spans(spans) == []


@pytest.mark.parametrize("ex", FAILED, ids=[ex["id"] for ex in FAILED])
def test_failed_exchange_raises_the_sdk_error_and_has_one_error_span_without_usage(
    server: ReplayServer, spans: InMemorySpanExporter, ex: dict[str, Any]
) -> None:
    with pytest.raises(anthropic.APIStatusError):
        replay(server, "f", ex)
    ours = [s for s in spans.get_finished_spans() if scope(s) == semconv.INSTRUMENTATION_SCOPE]
    native = [s for s in spans.get_finished_spans() if scope(s) != semconv.INSTRUMENTATION_SCOPE]
    assert len(ours) == 1 and native == []
    assert ours[0].status.status_code is StatusCode.ERROR
    assert ours[0].attributes[semconv.ERROR_TYPE]  # type: ignore[index]
    assert usage_spans(spans) == []
