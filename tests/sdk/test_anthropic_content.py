"""Anthropic message content on spans: only when opted in, for create, streams and tool use.

Real ``anthropic`` clients against the local replay server; the span must carry the GenAI
conventions' ``gen_ai.input.messages`` / ``gen_ai.system_instructions`` / ``gen_ai.output.messages``
when the user opted in, and nothing of the content otherwise.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import pytest
from anthropic_helpers import (
    FULL_STREAM,
    MESSAGE_DELTA,
    MESSAGE_JSON,
    MESSAGE_START,
    MESSAGE_STOP,
    REQUEST,
    async_client,
    exchange,
    only_our_span,
    sse,
    sync_client,
)
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import llm_otel.sdk.anthropic as instrumentation
from llm_otel import semconv
from llm_otel.sdk import content
from replay.server import ReplayServer

CONTENT_KEYS = (semconv.GEN_AI_INPUT_MESSAGES, semconv.GEN_AI_OUTPUT_MESSAGES, semconv.GEN_AI_SYSTEM_INSTRUCTIONS)

# A streamed answer with thinking, text and a tool call whose arguments arrive in pieces.
TOOL_STREAM = sse(
    MESSAGE_START,
    {"type": "content_block_start", "index": 0, "content_block": {"type": "thinking", "thinking": ""}},
    {"type": "content_block_delta", "index": 0, "delta": {"type": "thinking_delta", "thinking": "need "}},
    {"type": "content_block_delta", "index": 0, "delta": {"type": "thinking_delta", "thinking": "weather"}},
    {"type": "content_block_stop", "index": 0},
    {"type": "content_block_start", "index": 1, "content_block": {"type": "text", "text": ""}},
    {"type": "content_block_delta", "index": 1, "delta": {"type": "text_delta", "text": "Checking."}},
    {"type": "content_block_stop", "index": 1},
    {"type": "content_block_start", "index": 2,
     "content_block": {"type": "tool_use", "id": "toolu_1", "name": "weather", "input": {}}},
    {"type": "content_block_delta", "index": 2, "delta": {"type": "input_json_delta", "partial_json": '{"city": '}},
    {"type": "content_block_delta", "index": 2, "delta": {"type": "input_json_delta", "partial_json": '"Paris"}'}},
    {"type": "content_block_stop", "index": 2},
    MESSAGE_DELTA | {"delta": {"stop_reason": "tool_use", "stop_sequence": None}},
    MESSAGE_STOP,
)  # fmt: skip

CONVERSATION: dict[str, Any] = REQUEST | {
    "system": "Answer briefly.",
    "messages": [
        {"role": "user", "content": "Weather in Paris?"},
        {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_0", "name": "weather",
                                           "input": {"city": "Paris"}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_0", "content": "18C"},
                                     {"type": "image", "source": {"type": "base64", "media_type": "image/png",
                                                                  "data": "AAAA"}}]},
    ],
}  # fmt: skip


@pytest.fixture(scope="module")
def server() -> Iterator[ReplayServer]:
    instrumentation.install()
    with ReplayServer() as srv:
        srv.add("json", exchange(MESSAGE_JSON, stream=False))
        srv.add("sse", exchange(FULL_STREAM, stream=True))
        srv.add("tools", exchange(TOOL_STREAM, stream=True))
        yield srv
    instrumentation.uninstall()


@pytest.fixture
def capture() -> Iterator[None]:
    content.set_capture_content(True)
    yield
    content.set_capture_content(None)


def attributes(spans: InMemorySpanExporter) -> dict[str, Any]:
    return dict(only_our_span(spans).attributes or {})


def test_no_content_is_recorded_unless_opted_in(server: ReplayServer, spans: InMemorySpanExporter) -> None:
    content.set_capture_content(None)
    client = sync_client(server.base_url("json"))
    client.messages.create(**CONVERSATION)
    with sync_client(server.base_url("sse")).messages.stream(**REQUEST) as stream:
        stream.until_done()
    for span in spans.get_finished_spans():
        assert not set(CONTENT_KEYS) & set(span.attributes or {}), span.name
        assert "Weather in Paris" not in json.dumps(dict(span.attributes or {}))


def test_create_records_the_conversation_system_and_answer(
    server: ReplayServer, spans: InMemorySpanExporter, capture: None
) -> None:
    sync_client(server.base_url("json")).messages.create(**CONVERSATION)
    a = attributes(spans)
    assert json.loads(a[semconv.GEN_AI_SYSTEM_INSTRUCTIONS]) == [{"type": "text", "content": "Answer briefly."}]
    assert json.loads(a[semconv.GEN_AI_INPUT_MESSAGES]) == [
        {"role": "user", "parts": [{"type": "text", "content": "Weather in Paris?"}]},
        {"role": "assistant",
         "parts": [{"type": "tool_call", "id": "toolu_0", "name": "weather", "arguments": {"city": "Paris"}}]},
        {"role": "user", "parts": [{"type": "tool_call_response", "id": "toolu_0",
                                    "response": [{"type": "text", "content": "18C"}]},
                                   {"type": "image"}]},  # the image's bytes are not recorded
    ]  # fmt: skip
    assert json.loads(a[semconv.GEN_AI_OUTPUT_MESSAGES]) == [
        {"role": "assistant", "parts": [{"type": "text", "content": '{"answer": 42}'}], "finish_reason": "end_turn"}
    ]
    assert a[semconv.GEN_AI_USAGE_OUTPUT_TOKENS] == 20  # the counts are unchanged by content capture


def test_a_stream_records_the_assembled_text(server: ReplayServer, spans: InMemorySpanExporter, capture: None) -> None:
    stream = sync_client(server.base_url("sse")).messages.create(**REQUEST, stream=True)
    for _ in stream:
        pass
    a = attributes(spans)
    text = "".join(f"word{i} " for i in range(5))
    assert json.loads(a[semconv.GEN_AI_OUTPUT_MESSAGES]) == [
        {"role": "assistant", "parts": [{"type": "text", "content": text}], "finish_reason": "end_turn"}
    ]
    assert json.loads(a[semconv.GEN_AI_INPUT_MESSAGES]) == [{"role": "user", "parts": [{"type": "text",
                                                                                        "content": "hi"}]}]  # fmt: skip
    assert a[semconv.GEN_AI_USAGE_OUTPUT_TOKENS] == 42


def test_an_async_stream_helper_records_thinking_text_and_the_tool_call(
    server: ReplayServer, spans: InMemorySpanExporter, capture: None
) -> None:
    async def run() -> Any:
        client = async_client(server.base_url("tools"))
        async with client.messages.stream(**REQUEST) as stream:
            final = await stream.get_final_message()
        await client.close()
        return final

    final = asyncio.run(run())
    assert final.content[2].input == {"city": "Paris"}  # the application's view is untouched
    parts = json.loads(attributes(spans)[semconv.GEN_AI_OUTPUT_MESSAGES])[0]["parts"]
    assert parts == [
        {"type": "reasoning", "content": "need weather"},
        {"type": "text", "content": "Checking."},
        {"type": "tool_call", "id": "toolu_1", "name": "weather", "arguments": {"city": "Paris"}},
    ]


def test_a_stream_closed_early_records_what_arrived(
    server: ReplayServer, spans: InMemorySpanExporter, capture: None
) -> None:
    with sync_client(server.base_url("tools")).messages.create(**REQUEST, stream=True) as stream:
        for event in stream:
            if event.type == "content_block_start" and event.index == 1:
                break
    a = attributes(spans)
    assert a[semconv.STREAM_COMPLETE] is False
    parts = json.loads(a[semconv.GEN_AI_OUTPUT_MESSAGES])[0]["parts"]
    assert parts[0] == {"type": "reasoning", "content": "need weather"}
