"""Every way of making a Messages call with the anthropic SDK gets exactly one span, ours, with the usage.

create / stream() / parse, beta too, raw and streaming responses, Bedrock and Vertex clients,
native tracing on (default), off by client option and off by environment; count_tokens is not spend.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import anthropic
import httpx2
import pydantic
import pytest
from anthropic_helpers import (
    BEDROCK_STREAM,
    COUNT_JSON,
    FULL_STREAM,
    MESSAGE_JSON,
    REQUEST,
    SSL,
    async_client,
    binary_server,
    exchange,
    native_spans,
    only_our_span,
    our_spans,
    sync_client,
    usage_spans,
)
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import llm_otel.sdk.anthropic as instrumentation
from llm_otel import BudgetExceeded, semconv
from llm_otel.sdk import context
from replay.server import ReplayServer


class Answer(pydantic.BaseModel):
    answer: int


@pytest.fixture(scope="module")
def server() -> Iterator[ReplayServer]:
    instrumentation.install()
    with ReplayServer() as srv:
        srv.add("json", exchange(MESSAGE_JSON, stream=False))
        srv.add("sse", exchange(FULL_STREAM, stream=True))
        srv.add("count", exchange(COUNT_JSON, stream=False))
        yield srv
    instrumentation.uninstall()


def assert_json_usage(spans: InMemorySpanExporter, provider: str = "anthropic") -> dict[str, Any]:
    a = dict(only_our_span(spans).attributes or {})
    assert a[semconv.GEN_AI_PROVIDER_NAME] == provider
    assert a[semconv.GEN_AI_USAGE_INPUT_TOKENS] == 18
    assert a[semconv.GEN_AI_USAGE_OUTPUT_TOKENS] == 20
    assert a[semconv.GEN_AI_USAGE_CACHE_WRITE_INPUT_TOKENS] == 3
    assert a[semconv.USAGE_CACHE_WRITE_5M] == 2
    assert a[semconv.SERVICE_TIER] == "priority"
    assert a[semconv.GEN_AI_RESPONSE_ID] == "msg_json"
    assert semconv.STREAM_COMPLETE not in a
    return a


def assert_stream_usage(spans: InMemorySpanExporter, provider: str = "anthropic") -> None:
    a = dict(only_our_span(spans).attributes or {})
    assert a[semconv.GEN_AI_PROVIDER_NAME] == provider
    assert a[semconv.GEN_AI_USAGE_INPUT_TOKENS] == 18
    assert a[semconv.GEN_AI_USAGE_OUTPUT_TOKENS] == 42
    assert a[semconv.STREAM_COMPLETE] is True
    assert a[semconv.GEN_AI_REQUEST_STREAM] is True


def test_create_records_request_attributes_and_usage(server: ReplayServer, spans: InMemorySpanExporter) -> None:
    tools: Any = [{"name": "lookup", "description": "d", "input_schema": {"type": "object"}}]
    message = sync_client(server.base_url("json")).messages.create(
        **REQUEST, tools=tools, stop_sequences=["END"], extra_body={"temperature": 0.5}
    )
    assert message.usage.output_tokens == 20
    a = assert_json_usage(spans)
    assert a[semconv.GEN_AI_OPERATION_NAME] == "chat"
    assert a[semconv.GEN_AI_REQUEST_MODEL] == REQUEST["model"]
    assert a[semconv.GEN_AI_REQUEST_MAX_TOKENS] == 64
    assert a[semconv.GEN_AI_REQUEST_TEMPERATURE] == 0.5
    assert a[semconv.GEN_AI_REQUEST_STOP_SEQUENCES] == ("END",)
    assert a[semconv.REQUEST_MESSAGES_COUNT] == 1
    assert a[semconv.REQUEST_TOOLS_COUNT] == 1
    assert a[semconv.REQUEST_TOOLS_BYTES] == len(
        b'[{"name":"lookup","description":"d","input_schema":{"type":"object"}}]'
    )
    assert a[semconv.SERVER_ADDRESS] == "127.0.0.1"
    assert a[semconv.GEN_AI_RESPONSE_FINISH_REASONS] == ("end_turn",)


def test_parse_records_usage_and_returns_the_parsed_output(
    server: ReplayServer, spans: InMemorySpanExporter
) -> None:
    parsed = sync_client(server.base_url("json")).messages.parse(**REQUEST, output_format=Answer)
    assert parsed.parsed_output == Answer(answer=42)
    assert_json_usage(spans)


def test_beta_create_stream_and_parse_each_get_one_span(server: ReplayServer, spans: InMemorySpanExporter) -> None:
    beta = sync_client(server.base_url("json")).beta.messages
    beta.create(**REQUEST, betas=["context-management-2025-06-27"])
    assert_json_usage(spans)
    spans.clear()
    beta.parse(**REQUEST, output_format=Answer)
    assert_json_usage(spans)
    spans.clear()
    with sync_client(server.base_url("sse")).beta.messages.stream(**REQUEST) as stream:
        stream.until_done()
    assert_stream_usage(spans)


def test_with_raw_response_records_usage_without_changing_the_response(
    server: ReplayServer, spans: InMemorySpanExporter
) -> None:
    raw = sync_client(server.base_url("json")).messages.with_raw_response.create(**REQUEST)
    assert raw.http_response.status_code == 200
    assert raw.parse().id == "msg_json"
    assert_json_usage(spans)


def test_with_streaming_response_records_usage_when_the_body_is_read(
    server: ReplayServer, spans: InMemorySpanExporter
) -> None:
    client = sync_client(server.base_url("json"))
    with client.messages.with_streaming_response.create(**REQUEST) as response:
        assert our_spans(spans) == []  # the body is not read yet
        assert response.parse().id == "msg_json"
    assert_json_usage(spans)


def test_a_stream_read_as_raw_lines_is_decoded_for_its_usage(
    server: ReplayServer, spans: InMemorySpanExporter
) -> None:
    client = sync_client(server.base_url("sse"))
    with client.messages.with_streaming_response.create(**REQUEST, stream=True) as response:
        lines = list(response.iter_lines())
    assert any(line.startswith("event: message_stop") for line in lines)
    assert_stream_usage(spans)


def test_raw_response_of_a_stream_parsed_into_a_stream_records_it(
    server: ReplayServer, spans: InMemorySpanExporter
) -> None:
    raw = sync_client(server.base_url("sse")).messages.with_raw_response.create(**REQUEST, stream=True)
    events = list(raw.parse())
    assert events[-1].type == "message_stop"
    assert_stream_usage(spans)


async def test_async_create_parse_and_raw_response(server: ReplayServer, spans: InMemorySpanExporter) -> None:
    client = async_client(server.base_url("json"))
    await client.messages.create(**REQUEST)
    assert_json_usage(spans)
    spans.clear()
    parsed = await client.messages.parse(**REQUEST, output_format=Answer)
    assert parsed.parsed_output == Answer(answer=42)
    assert_json_usage(spans)
    spans.clear()
    async with client.messages.with_streaming_response.create(**REQUEST) as response:
        await response.parse()
    assert_json_usage(spans)


def test_bedrock_calls_say_aws_bedrock(server: ReplayServer, spans: InMemorySpanExporter) -> None:
    client = anthropic.AnthropicBedrock(
        aws_access_key="AKIDEXAMPLE",
        aws_secret_key="secret",
        aws_region="us-east-1",
        base_url=server.base_url("json"),
        max_retries=0,
        http_client=httpx2.Client(verify=SSL),
    )
    client.messages.create(**REQUEST)
    assert_json_usage(spans, provider=semconv.PROVIDER_AWS_BEDROCK)
    path, headers, _ = server.requests["json"]
    lower = {k.lower(): v for k, v in headers.items()}
    assert "/invoke" in path
    span = only_our_span(spans)
    assert lower["traceparent"].split("-")[2] == f"{span.context.span_id:016x}"
    assert lower["authorization"].startswith("AWS4-HMAC-SHA256")  # signed, with our trace context sent


def test_bedrock_streams_in_aws_event_stream_frames_are_recorded_and_end_once(spans: InMemorySpanExporter) -> None:
    with binary_server(BEDROCK_STREAM, "application/vnd.amazon.eventstream") as base_url:
        client = anthropic.AnthropicBedrock(
            aws_access_key="AKIDEXAMPLE",
            aws_secret_key="secret",
            aws_region="us-east-1",
            base_url=base_url,
            max_retries=0,
            http_client=httpx2.Client(verify=SSL),
        )
        with client.messages.stream(**REQUEST) as stream:
            assert stream.get_final_text() == "word0 word1 word2 word3 word4 "
        assert_stream_usage(spans, provider=semconv.PROVIDER_AWS_BEDROCK)
        spans.clear()
        with client.messages.stream(**REQUEST) as stream:
            next(iter(stream))
        a = dict(only_our_span(spans).attributes or {})
        assert a[semconv.STREAM_COMPLETE] is False
        assert semconv.GEN_AI_USAGE_OUTPUT_TOKENS not in a
        assert a[semconv.GEN_AI_USAGE_INPUT_TOKENS] == 18


def test_vertex_calls_and_streams_say_gcp_vertex_ai(server: ReplayServer, spans: InMemorySpanExporter) -> None:
    def vertex(key: str) -> anthropic.AnthropicVertex:
        return anthropic.AnthropicVertex(
            region="us-east5",
            project_id="project",
            access_token="token",
            base_url=server.base_url(key),
            max_retries=0,
            http_client=httpx2.Client(verify=SSL),
        )

    vertex("json").messages.create(**REQUEST)
    assert_json_usage(spans, provider=semconv.PROVIDER_GCP_VERTEX_AI)
    spans.clear()
    with vertex("sse").messages.stream(**REQUEST) as stream:
        stream.until_done()
    assert_stream_usage(spans, provider=semconv.PROVIDER_GCP_VERTEX_AI)


def test_count_tokens_is_not_spend_and_keeps_the_native_span(
    server: ReplayServer, spans: InMemorySpanExporter
) -> None:
    count = sync_client(server.base_url("count")).messages.count_tokens(
        model=REQUEST["model"], messages=REQUEST["messages"]
    )
    assert count.input_tokens == 12
    assert usage_spans(spans) == []
    assert our_spans(spans) == []
    assert len(native_spans(spans)) == 1


def test_native_tracing_off_by_environment_leaves_our_span_alone(
    server: ReplayServer, spans: InMemorySpanExporter, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ANTHROPIC_OPEN_TELEMETRY", "false")
    sync_client(server.base_url("json")).messages.create(**REQUEST)
    assert_json_usage(spans)
    _, headers, _ = server.requests["json"]
    assert "traceparent" not in {k.lower() for k in headers}  # the SDK propagates only with its tracing on


def test_the_request_carries_our_span_context_when_native_tracing_is_on(
    server: ReplayServer, spans: InMemorySpanExporter
) -> None:
    sync_client(server.base_url("json")).messages.create(**REQUEST)
    span = only_our_span(spans)
    _, headers, _ = server.requests["json"]
    traceparent = {k.lower(): v for k, v in headers.items()}["traceparent"]
    assert traceparent.split("-")[1:3] == [f"{span.context.trace_id:032x}", f"{span.context.span_id:016x}"]


def test_uninstall_gives_the_native_span_back_and_install_takes_it_over_again(
    server: ReplayServer, spans: InMemorySpanExporter
) -> None:
    instrumentation.uninstall()
    instrumentation.uninstall()
    try:
        sync_client(server.base_url("json")).messages.create(**REQUEST)
        assert our_spans(spans) == []
        assert len(native_spans(spans)) == 1
    finally:
        instrumentation.install()
        instrumentation.install()
    spans.clear()
    sync_client(server.base_url("json")).messages.create(**REQUEST)
    assert_json_usage(spans)


def test_over_budget_raises_budget_exceeded_before_anything_is_sent(
    server: ReplayServer, spans: InMemorySpanExporter
) -> None:
    server.add("budget", exchange(MESSAGE_JSON, stream=False))
    with context.task("capped", budget_usd=0.0), pytest.raises(BudgetExceeded):
        sync_client(server.base_url("budget")).messages.create(**REQUEST)
    assert "budget" not in server.requests
    assert usage_spans(spans) == []


async def test_over_budget_raises_budget_exceeded_before_anything_is_sent_async(
    server: ReplayServer, spans: InMemorySpanExporter
) -> None:
    server.add("budget-async", exchange(MESSAGE_JSON, stream=False))
    with context.task("capped", budget_usd=0.0), pytest.raises(BudgetExceeded):
        await async_client(server.base_url("budget-async")).messages.create(**REQUEST)
    assert "budget-async" not in server.requests


def test_a_finished_call_counts_in_the_task_totals(server: ReplayServer, spans: InMemorySpanExporter) -> None:
    with context.task("counted") as task:
        sync_client(server.base_url("json")).messages.create(**REQUEST)
    assert task.calls == 1
    assert task.tokens == 38
