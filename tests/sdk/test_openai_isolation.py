"""Failure isolation: a fault inside llm-otel never changes what the app's openai call returns or raises.

Faults are injected into our own code (usage extraction, stream state, span start,
span methods, request planning); each test checks the app got the same result as
uninstrumented and the span, when there is one, still ended once.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import openai
import pytest
from openai_helpers import chat_stream_exchange, fast_server, first_exchange, llm_spans

from llm_otel.sdk import call as call_module
from llm_otel.sdk import openai as llm_openai
from llm_otel.sdk.openai import _patch, _request, _response, _state, _streams
from replay.server import ReplayServer

CHAT = first_exchange(lambda ex: ex["path"] == "/v1/chat/completions" and not ex["stream"])
CHAT_STREAM = chat_stream_exchange()
RESPONSES_STREAM = first_exchange(lambda ex: ex["path"] == "/v1/responses" and ex["stream"])


class Boom(Exception):
    pass


def _boom(*_: Any, **__: Any) -> Any:
    raise Boom("injected")


@pytest.fixture(scope="module")
def server() -> Iterator[ReplayServer]:
    llm_openai.install()
    with fast_server() as srv:
        srv.add("chat", CHAT)
        srv.add("stream", CHAT_STREAM)
        srv.add("responses", RESPONSES_STREAM)
        yield srv
    llm_openai.uninstall()


def _client(server: ReplayServer, key: str) -> openai.OpenAI:
    return openai.OpenAI(api_key="test", base_url=server.base_url(key) + "/v1", max_retries=0)


def _chunk_dicts(server: ReplayServer, key: str, request: dict[str, Any]) -> list[dict[str, Any]]:
    return [c.to_dict() for c in _client(server, key).chat.completions.create(**request)]


@pytest.fixture
def expected_chunks(server: ReplayServer) -> list[dict[str, Any]]:
    llm_openai.uninstall()
    try:
        return _chunk_dicts(server, "stream", CHAT_STREAM["request"])
    finally:
        llm_openai.install()


def test_usage_extraction_failure_returns_the_same_completion(
    server: ReplayServer, spans: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_response, "usage_from_openai", _boom)
    completion = _client(server, "chat").chat.completions.create(**CHAT["request"])
    assert completion.id == CHAT["expected"]["response_id"]
    assert len(llm_spans(spans)) == 1


def test_stream_state_failure_leaves_the_chunks_untouched(
    server: ReplayServer, spans: Any, monkeypatch: pytest.MonkeyPatch, expected_chunks: list[dict[str, Any]]
) -> None:
    monkeypatch.setattr(_state.StreamState, "first_chunk", _boom)
    monkeypatch.setattr(_state.StreamState, "usage_chunk", _boom)
    monkeypatch.setattr(_state, "usage_from_openai", _boom)
    assert _chunk_dicts(server, "stream", CHAT_STREAM["request"]) == expected_chunks
    assert len(llm_spans(spans)) == 1


def test_responses_stream_state_failure_leaves_the_events_untouched(
    server: ReplayServer, spans: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_state, "outcome_from_response", _boom)
    events = list(_client(server, "responses").responses.create(**RESPONSES_STREAM["request"]))
    assert events[-1].type == "response.completed"
    assert len(llm_spans(spans)) == 1


def test_span_start_failure_leaves_the_call_untraced(
    server: ReplayServer, spans: Any, monkeypatch: pytest.MonkeyPatch, expected_chunks: list[dict[str, Any]]
) -> None:
    monkeypatch.setattr(_patch, "start_call", _boom)
    completion = _client(server, "chat").chat.completions.create(**CHAT["request"])
    assert completion.id == CHAT["expected"]["response_id"]
    assert _chunk_dicts(server, "stream", CHAT_STREAM["request"]) == expected_chunks
    assert llm_spans(spans) == []


def test_tracer_failure_leaves_the_call_untraced(
    server: ReplayServer, spans: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(call_module, "get_tracer", _boom)
    completion = _client(server, "chat").chat.completions.create(**CHAT["request"])
    assert completion.id == CHAT["expected"]["response_id"]


def test_span_method_failures_do_not_reach_the_app(
    server: ReplayServer, spans: Any, monkeypatch: pytest.MonkeyPatch, expected_chunks: list[dict[str, Any]]
) -> None:
    from opentelemetry.sdk.trace import Span

    monkeypatch.setattr(Span, "set_attributes", _boom)
    monkeypatch.setattr(Span, "set_status", _boom)
    completion = _client(server, "chat").chat.completions.create(**CHAT["request"])
    assert completion.id == CHAT["expected"]["response_id"]
    assert _chunk_dicts(server, "stream", CHAT_STREAM["request"]) == expected_chunks
    assert len(llm_spans(spans)) == 2  # ended anyway, without our attributes


def test_request_planning_failure_sends_the_request_unchanged(
    server: ReplayServer, spans: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_request, "request_attributes", _boom)
    completion = _client(server, "chat").chat.completions.create(**CHAT["request"])
    assert completion.id == CHAT["expected"]["response_id"]
    assert llm_spans(spans) == []


def test_stream_proxy_failure_returns_the_plain_stream(
    server: ReplayServer, spans: Any, monkeypatch: pytest.MonkeyPatch, expected_chunks: list[dict[str, Any]]
) -> None:
    monkeypatch.setattr(_streams, "TracedStream", _boom)
    assert _chunk_dicts(server, "stream", CHAT_STREAM["request"]) == expected_chunks


def test_budget_check_failure_lets_the_call_go_on(
    server: ReplayServer, spans: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_patch.context, "check_budget", _boom)
    completion = _client(server, "chat").chat.completions.create(**CHAT["request"])
    assert completion.id == CHAT["expected"]["response_id"]
    assert len(llm_spans(spans)) == 1


def test_close_callback_failure_does_not_break_close(
    server: ReplayServer, spans: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_state.StreamState, "closed", _boom)
    stream = _client(server, "stream").chat.completions.create(**CHAT_STREAM["request"])
    next(stream)
    stream.close()
    assert stream.response.is_closed
