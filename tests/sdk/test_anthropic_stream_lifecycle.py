"""The span of a streamed Anthropic call ends exactly once, with the right status and counts, however the
stream ends: read to the end, broken out of and closed, left by a ``with`` block early, abandoned and
garbage-collected, failed mid-stream, cut short by the server. Sync and async, native tracing on and off.
"""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Iterator
from typing import Any

import anthropic
import pytest
from anthropic_helpers import (
    FAILING_STREAM,
    FULL_STREAM,
    REQUEST,
    TRUNCATED_STREAM,
    async_client,
    exchange,
    only_our_span,
    our_spans,
    sync_client,
)
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

import llm_otel.sdk.anthropic as instrumentation
from llm_otel import semconv
from replay.server import ReplayServer

NATIVE = {"native_on": {}, "native_off": {"open_telemetry": False}}


@pytest.fixture(scope="module")
def server() -> Iterator[ReplayServer]:
    instrumentation.install()
    with ReplayServer() as srv:
        srv.add("full", exchange(FULL_STREAM, stream=True))
        srv.add("truncated", exchange(TRUNCATED_STREAM, stream=True))
        srv.add("failing", exchange(FAILING_STREAM, stream=True))
        yield srv
    instrumentation.uninstall()


@pytest.fixture(params=list(NATIVE))
def native(request: pytest.FixtureRequest) -> dict[str, Any]:
    return NATIVE[request.param]


def attrs(spans: InMemorySpanExporter) -> dict[str, Any]:
    return dict(only_our_span(spans).attributes or {})


def assert_complete(spans: InMemorySpanExporter) -> None:
    span = only_our_span(spans)
    a = dict(span.attributes or {})
    assert span.status.status_code is StatusCode.UNSET
    assert a[semconv.STREAM_COMPLETE] is True
    assert a[semconv.GEN_AI_USAGE_INPUT_TOKENS] == 18  # 10 + 5 read + 3 written
    assert a[semconv.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS] == 5
    assert a[semconv.GEN_AI_USAGE_CACHE_WRITE_INPUT_TOKENS] == 3
    assert a[semconv.USAGE_CACHE_WRITE_5M] == 2
    assert a[semconv.USAGE_CACHE_WRITE_1H] == 1
    assert a[semconv.GEN_AI_USAGE_OUTPUT_TOKENS] == 42
    assert a[semconv.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS] == 7
    assert a[semconv.GEN_AI_RESPONSE_FINISH_REASONS] == ("end_turn",)
    assert a[semconv.GEN_AI_RESPONSE_ID] == "msg_lifecycle"
    assert a[semconv.SERVICE_TIER] == "standard"


def assert_incomplete(spans: InMemorySpanExporter, status: StatusCode = StatusCode.UNSET) -> dict[str, Any]:
    span = only_our_span(spans)
    a = dict(span.attributes or {})
    assert span.status.status_code is status
    assert a[semconv.STREAM_COMPLETE] is False
    assert a[semconv.GEN_AI_USAGE_INPUT_TOKENS] == 18
    assert a[semconv.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS] == 5
    assert semconv.GEN_AI_USAGE_OUTPUT_TOKENS not in a  # message_start's placeholder is never final
    assert semconv.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS not in a
    return a


# --- sync -----------------------------------------------------------------------------------------


def test_sync_stream_read_to_the_end_ends_the_span_once_complete(
    server: ReplayServer, spans: InMemorySpanExporter, native: dict[str, Any]
) -> None:
    client = sync_client(server.base_url("full"), **native)
    events = list(client.messages.create(**REQUEST, stream=True))
    assert [e.type for e in events][-1] == "message_stop"
    assert_complete(spans)


def test_sync_stream_broken_out_of_and_closed_records_input_but_not_placeholder_output(
    server: ReplayServer, spans: InMemorySpanExporter, native: dict[str, Any]
) -> None:
    stream = sync_client(server.base_url("full"), **native).messages.create(**REQUEST, stream=True)
    for event in stream:
        if event.type == "content_block_delta":
            break
    assert our_spans(spans) == []  # not ended before the application lets go
    stream.close()
    stream.close()
    assert_incomplete(spans)


def test_sync_stream_helper_left_early_from_with_block_ends_the_span_incomplete(
    server: ReplayServer, spans: InMemorySpanExporter, native: dict[str, Any]
) -> None:
    with sync_client(server.base_url("full"), **native).messages.stream(**REQUEST) as stream:
        for text in stream.text_stream:
            assert text.startswith("word")
            break
    assert_incomplete(spans)


def test_sync_stream_abandoned_after_one_event_is_ended_by_garbage_collection(
    server: ReplayServer, spans: InMemorySpanExporter, native: dict[str, Any]
) -> None:
    stream = sync_client(server.base_url("full"), **native).messages.create(**REQUEST, stream=True)
    next(iter(stream))
    del stream
    gc.collect()
    a = dict(only_our_span(spans).attributes or {})
    assert a[semconv.STREAM_COMPLETE] is False
    assert semconv.GEN_AI_USAGE_OUTPUT_TOKENS not in a


def test_sync_stream_abandoned_unread_is_ended_by_garbage_collection_without_usage(
    server: ReplayServer, spans: InMemorySpanExporter, native: dict[str, Any]
) -> None:
    stream = sync_client(server.base_url("full"), **native).messages.create(**REQUEST, stream=True)
    del stream
    gc.collect()
    a = dict(only_our_span(spans).attributes or {})
    assert a[semconv.STREAM_COMPLETE] is False
    assert not any(k.startswith("gen_ai.usage.") for k in a)


def test_sync_stream_failing_mid_stream_raises_the_sdk_error_and_marks_the_span_error(
    server: ReplayServer, spans: InMemorySpanExporter, native: dict[str, Any]
) -> None:
    stream = sync_client(server.base_url("failing"), **native).messages.create(**REQUEST, stream=True)
    with pytest.raises(anthropic.APIStatusError):
        for _ in stream:
            pass
    a = assert_incomplete(spans, StatusCode.ERROR)
    assert a[semconv.ERROR_TYPE] == "overloaded_error"


def test_sync_stream_cut_short_by_the_server_is_incomplete_and_an_error(
    server: ReplayServer, spans: InMemorySpanExporter, native: dict[str, Any]
) -> None:
    events = list(sync_client(server.base_url("truncated"), **native).messages.create(**REQUEST, stream=True))
    assert events[-1].type == "content_block_delta"
    a = assert_incomplete(spans, StatusCode.ERROR)
    assert a[semconv.ERROR_TYPE] == "incomplete_stream"


def test_sync_stream_helper_keeps_its_whole_api(
    server: ReplayServer, spans: InMemorySpanExporter, native: dict[str, Any]
) -> None:
    with sync_client(server.base_url("full"), **native).messages.stream(**REQUEST) as stream:
        assert stream.response.status_code == 200
        first = next(stream)
        assert first.type == "message_start"
        assert stream.current_message_snapshot.id == "msg_lifecycle"
        stream.until_done()
        message = stream.get_final_message()
        assert stream.get_final_text() == "word0 word1 word2 word3 word4 "
    assert message.usage.output_tokens == 42
    assert_complete(spans)


# --- async ----------------------------------------------------------------------------------------


async def test_async_stream_read_to_the_end_ends_the_span_once_complete(
    server: ReplayServer, spans: InMemorySpanExporter, native: dict[str, Any]
) -> None:
    client = async_client(server.base_url("full"), **native)
    events = [e async for e in await client.messages.create(**REQUEST, stream=True)]
    assert events[-1].type == "message_stop"
    assert_complete(spans)


async def test_async_stream_broken_out_of_and_closed_records_input_but_not_placeholder_output(
    server: ReplayServer, spans: InMemorySpanExporter, native: dict[str, Any]
) -> None:
    stream = await async_client(server.base_url("full"), **native).messages.create(**REQUEST, stream=True)
    async for event in stream:
        if event.type == "content_block_delta":
            break
    await stream.close()
    assert_incomplete(spans)


async def test_async_stream_helper_left_early_from_with_block_ends_the_span_incomplete(
    server: ReplayServer, spans: InMemorySpanExporter, native: dict[str, Any]
) -> None:
    async with async_client(server.base_url("full"), **native).messages.stream(**REQUEST) as stream:
        async for _ in stream.text_stream:
            break
    assert_incomplete(spans)


async def test_async_stream_abandoned_after_one_event_is_ended_by_garbage_collection(
    server: ReplayServer, spans: InMemorySpanExporter, native: dict[str, Any]
) -> None:
    stream = await async_client(server.base_url("full"), **native).messages.create(**REQUEST, stream=True)
    await stream.__anext__()
    del stream
    gc.collect()
    for _ in range(5):  # the event loop finalizes an abandoned async generator in a task of its own
        await asyncio.sleep(0)
    gc.collect()
    a = dict(only_our_span(spans).attributes or {})
    assert a[semconv.STREAM_COMPLETE] is False
    assert semconv.GEN_AI_USAGE_OUTPUT_TOKENS not in a


async def test_async_stream_failing_mid_stream_raises_the_sdk_error_and_marks_the_span_error(
    server: ReplayServer, spans: InMemorySpanExporter, native: dict[str, Any]
) -> None:
    stream = await async_client(server.base_url("failing"), **native).messages.create(**REQUEST, stream=True)
    with pytest.raises(anthropic.APIStatusError):
        async for _ in stream:
            pass
    a = assert_incomplete(spans, StatusCode.ERROR)
    assert a[semconv.ERROR_TYPE] == "overloaded_error"


async def test_async_stream_cut_short_by_the_server_is_incomplete_and_an_error(
    server: ReplayServer, spans: InMemorySpanExporter, native: dict[str, Any]
) -> None:
    client = async_client(server.base_url("truncated"), **native)
    events = [e async for e in await client.messages.create(**REQUEST, stream=True)]
    assert events[-1].type == "content_block_delta"
    assert_incomplete(spans, StatusCode.ERROR)


async def test_async_stream_helper_keeps_its_whole_api(
    server: ReplayServer, spans: InMemorySpanExporter, native: dict[str, Any]
) -> None:
    async with async_client(server.base_url("full"), **native).messages.stream(**REQUEST) as stream:
        assert stream.response.status_code == 200
        first = await stream.__anext__()
        assert first.type == "message_start"
        await stream.until_done()
        message = await stream.get_final_message()
        assert await stream.get_final_text() == "word0 word1 word2 word3 word4 "
    assert message.usage.output_tokens == 42
    assert_complete(spans)
