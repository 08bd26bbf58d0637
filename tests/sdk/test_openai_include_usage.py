"""include_usage: llm-otel asks chat streams for their usage chunk and hides it when the app did not ask.

The server here behaves like OpenAI: it sends the usage-only chunk (and ``"usage": null``
on every chunk) only when the request says ``stream_options.include_usage``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import openai
import pytest
from openai_helpers import _NoDelayHandler, chat_stream_exchange, llm_spans, sse_events

from llm_otel import semconv
from llm_otel.sdk import openai as llm_openai
from replay.server import ReplayServer

CHAT = chat_stream_exchange()


def _without_usage(body: str) -> str:
    events = [e for e in sse_events(body) if '"choices":[]' not in e]
    return "".join(e.replace(',"usage":null', "") for e in events)


class _UsageAwareHandler(_NoDelayHandler):
    def do_POST(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        body = json.loads(self.rfile.read(length))
        self.server.requests["last"] = (self.path, dict(self.headers), json.dumps(body).encode())
        asked = (body.get("stream_options") or {}).get("include_usage") is True
        payload = CHAT["response_body"] if asked else _without_usage(CHAT["response_body"])
        self._send(200, "text/event-stream", payload.encode())


@pytest.fixture(scope="module")
def server() -> Iterator[ReplayServer]:
    srv = ReplayServer()
    srv.RequestHandlerClass = _UsageAwareHandler
    with srv:
        yield srv


def _request() -> dict[str, Any]:
    request = dict(CHAT["request"])
    request.pop("stream_options")
    return request


def _chunks(server: ReplayServer, **extra: Any) -> list[dict[str, Any]]:
    client = openai.OpenAI(api_key="test", base_url=server.base_url("x") + "/v1", max_retries=0)
    return [chunk.to_dict() for chunk in client.chat.completions.create(**_request(), **extra)]


@pytest.fixture
def uninstrumented_chunks(server: ReplayServer) -> list[dict[str, Any]]:
    llm_openai.uninstall()
    return _chunks(server)


@pytest.fixture
def instrumented(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.delenv("LLM_OTEL_OPENAI_INCLUDE_USAGE", raising=False)
    llm_openai.install()
    yield
    llm_openai.uninstall()


def test_app_that_did_not_ask_sees_exactly_the_uninstrumented_chunks(
    server: ReplayServer, spans: Any, uninstrumented_chunks: list[dict[str, Any]], instrumented: None
) -> None:
    assert _chunks(server) == uninstrumented_chunks
    sent = json.loads(server.requests["last"][2])
    assert sent["stream_options"] == {"include_usage": True}
    found = llm_spans(spans)
    assert len(found) == 1, [(s.name, s.instrumentation_scope.name) for s in found]
    span = found[0]
    assert span.attributes[semconv.GEN_AI_USAGE_INPUT_TOKENS] == CHAT["expected"]["input_tokens"]
    assert span.attributes[semconv.GEN_AI_USAGE_OUTPUT_TOKENS] == CHAT["expected"]["output_tokens"]


def test_app_that_asked_for_usage_still_gets_its_usage_chunk(
    server: ReplayServer, spans: Any, instrumented: None
) -> None:
    chunks = _chunks(server, stream_options={"include_usage": True})
    assert chunks[-1]["usage"]["prompt_tokens"] == CHAT["expected"]["input_tokens"]
    assert len(llm_spans(spans)) == 1


def test_the_apps_stream_options_dict_is_not_mutated(server: ReplayServer, spans: Any, instrumented: None) -> None:
    options: dict[str, Any] = {"include_obfuscation": False}
    _chunks(server, stream_options=options)
    assert options == {"include_obfuscation": False}
    sent = json.loads(server.requests["last"][2])
    assert sent["stream_options"] == {"include_obfuscation": False, "include_usage": True}


def test_include_usage_env_false_sends_the_request_unchanged(
    server: ReplayServer, spans: Any, monkeypatch: pytest.MonkeyPatch, instrumented: None
) -> None:
    monkeypatch.setenv("LLM_OTEL_OPENAI_INCLUDE_USAGE", "false")
    _chunks(server)
    assert "stream_options" not in json.loads(server.requests["last"][2])
    (span,) = llm_spans(spans)
    assert semconv.GEN_AI_USAGE_INPUT_TOKENS not in span.attributes
    assert span.attributes[semconv.STREAM_COMPLETE] is True


def test_include_usage_option_false_sends_the_request_unchanged(server: ReplayServer, spans: Any) -> None:
    llm_openai.install(include_usage=False)
    try:
        _chunks(server)
    finally:
        llm_openai.uninstall()
    assert "stream_options" not in json.loads(server.requests["last"][2])


def test_usage_chunk_stays_hidden_when_our_chunk_reading_fails(
    server: ReplayServer,
    spans: Any,
    uninstrumented_chunks: list[dict[str, Any]],
    instrumented: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from llm_otel.sdk.openai import _state

    def boom(*_: Any) -> Any:
        raise RuntimeError("injected")

    monkeypatch.setattr(_state.StreamState, "first_chunk", boom)
    assert _chunks(server) == uninstrumented_chunks
    assert len(llm_spans(spans)) == 1
