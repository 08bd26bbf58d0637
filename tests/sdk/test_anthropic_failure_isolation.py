"""Fault injection: whatever fails inside llm-otel's anthropic instrumentation, the application's call returns
(or raises) exactly what it would without llm-otel, and a span that was started still ends."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import anthropic
import pytest
from anthropic_helpers import (
    FULL_STREAM,
    MESSAGE_JSON,
    REQUEST,
    async_client,
    exchange,
    our_spans,
    sync_client,
)
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import llm_otel.sdk.anthropic as instrumentation
from llm_otel.sdk import call as call_module
from llm_otel.sdk import context
from llm_otel.sdk.anthropic import stream as stream_module
from llm_otel.sdk.anthropic import wrappers
from replay.server import ReplayServer

ERROR_JSON = '{"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}'


def boom(*_: Any, **__: Any) -> Any:
    raise RuntimeError("injected fault in llm-otel")


@pytest.fixture(scope="module")
def server() -> Iterator[ReplayServer]:
    instrumentation.install()
    with ReplayServer() as srv:
        srv.add("json", exchange(MESSAGE_JSON, stream=False))
        srv.add("sse", exchange(FULL_STREAM, stream=True))
        srv.add("error", exchange(ERROR_JSON, stream=False, status=529))
        yield srv
    instrumentation.uninstall()


FAULTS = {
    "request attributes": (wrappers, "request_attributes"),
    "span start": (call_module, "get_tracer"),
    "budget check": (context, "check_budget"),
    "body attach": (wrappers, "attach"),
    "message recording": (wrappers, "finish_message"),
    "usage normalization": (stream_module, "normalize_anthropic_usage"),
    "stream usage": (stream_module, "stream_usage"),
    "task totals": (context, "on_call_finished"),
    "error typing": (wrappers, "error_type"),
    "foreign detection": (wrappers, "foreign_owner"),
}


@pytest.fixture(params=list(FAULTS))
def fault(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    module, name = FAULTS[request.param]
    monkeypatch.setattr(module, name, boom)
    return str(request.param)


def test_a_fault_does_not_change_what_create_returns(
    server: ReplayServer, spans: InMemorySpanExporter, fault: str
) -> None:
    message = sync_client(server.base_url("json")).messages.create(**REQUEST)
    assert message.id == "msg_json" and message.usage.output_tokens == 20
    assert len(our_spans(spans)) <= 1


def test_a_fault_does_not_change_the_events_of_a_stream(
    server: ReplayServer, spans: InMemorySpanExporter, fault: str
) -> None:
    events = list(sync_client(server.base_url("sse")).messages.create(**REQUEST, stream=True))
    assert events[0].type == "message_start" and events[-1].type == "message_stop"
    with sync_client(server.base_url("sse")).messages.stream(**REQUEST) as stream:
        assert stream.get_final_text() == "word0 word1 word2 word3 word4 "
    assert len(our_spans(spans)) <= 2


def test_a_fault_does_not_change_the_error_the_application_sees(
    server: ReplayServer, spans: InMemorySpanExporter, fault: str
) -> None:
    with pytest.raises(anthropic.InternalServerError) as raised:
        sync_client(server.base_url("error")).messages.create(**REQUEST)
    assert raised.value.status_code == 529
    assert raised.value.type == "overloaded_error"


async def test_a_fault_does_not_change_what_async_calls_return(
    server: ReplayServer, spans: InMemorySpanExporter, fault: str
) -> None:
    client = async_client(server.base_url("json"))
    message = await client.messages.create(**REQUEST)
    assert message.id == "msg_json"
    stream = await async_client(server.base_url("sse")).messages.create(**REQUEST, stream=True)
    events = [e async for e in stream]
    assert events[-1].type == "message_stop"


def test_a_started_span_still_ends_when_recording_the_stream_fails(
    server: ReplayServer, spans: InMemorySpanExporter, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(stream_module, "stream_usage", boom)
    list(sync_client(server.base_url("sse")).messages.create(**REQUEST, stream=True))
    (span,) = our_spans(spans)
    assert span.end_time is not None


def test_an_exporter_that_raises_does_not_reach_the_application(
    server: ReplayServer, spans: InMemorySpanExporter, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(spans, "export", boom)
    message = sync_client(server.base_url("json")).messages.create(**REQUEST)
    assert message.id == "msg_json"
