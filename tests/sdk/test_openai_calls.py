"""OpenAI calls other than plain streams: parse, raw and streaming-response variants, embeddings,
legacy completions, errors, budget, Azure and provider detection, uninstall."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx2
import openai
import pytest
from openai_helpers import chat_stream_exchange, fast_server, first_exchange, llm_spans, mismatches, usage_spans
from opentelemetry.trace import SpanKind, StatusCode

import llm_otel
from llm_otel import semconv
from llm_otel.sdk import openai as llm_openai
from replay import corpus
from replay.server import ReplayServer

CHAT = first_exchange(
    lambda ex: ex["path"] == "/v1/chat/completions" and not ex["stream"] and ex["request"].get("tools")
)
CHAT_STREAM = chat_stream_exchange()
RESPONSES = first_exchange(lambda ex: ex["path"] == "/v1/responses" and not ex["stream"])
RESPONSES_STREAM = first_exchange(lambda ex: ex["path"] == "/v1/responses" and ex["stream"])
EMBEDDINGS = first_exchange(lambda ex: ex["path"] == "/v1/embeddings")
COMPLETIONS = first_exchange(lambda ex: ex["path"] == "/v1/completions")
ERROR_404 = next(
    ex
    for ex in corpus.exchanges("openai", replayable=False)
    if ex["status"] == 404 and ex["path"] == "/v1/chat/completions"
)


@pytest.fixture(scope="module")
def server() -> Iterator[ReplayServer]:
    llm_openai.install()
    with fast_server() as srv:
        for key, ex in {
            "chat": CHAT,
            "chat_stream": CHAT_STREAM,
            "responses": RESPONSES,
            "responses_stream": RESPONSES_STREAM,
            "embeddings": EMBEDDINGS,
            "completions": COMPLETIONS,
            "error404": ERROR_404,
        }.items():
            srv.add(key, ex)
        yield srv
    llm_openai.uninstall()


def _client(server: ReplayServer, key: str) -> openai.OpenAI:
    return openai.OpenAI(api_key="test", base_url=server.base_url(key) + "/v1", max_retries=0)


def _aclient(server: ReplayServer, key: str) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(api_key="test", base_url=server.base_url(key) + "/v1", max_retries=0)


def _exact(spans: Any, ex: dict[str, Any]) -> Any:
    (span,) = usage_spans(spans.get_finished_spans())
    assert mismatches(ex["expected"], dict(span.attributes)) == {}
    return span


# --- request attributes -----------------------------------------------------------------------------


def test_chat_span_carries_request_attributes_and_is_a_client_span(server: ReplayServer, spans: Any) -> None:
    _client(server, "chat").chat.completions.create(**CHAT["request"])
    span = _exact(spans, CHAT)
    attrs = span.attributes
    tools = CHAT["request"]["tools"]
    assert span.kind is SpanKind.CLIENT
    assert span.name == f"chat {CHAT['request']['model']}"
    assert attrs[semconv.GEN_AI_PROVIDER_NAME] == "openai"
    assert attrs[semconv.GEN_AI_OPERATION_NAME] == "chat"
    assert attrs[semconv.GEN_AI_REQUEST_MODEL] == CHAT["request"]["model"]
    assert attrs[semconv.GEN_AI_REQUEST_STREAM] is False
    assert attrs[semconv.REQUEST_TOOLS_COUNT] == len(tools)
    assert attrs[semconv.REQUEST_TOOLS_BYTES] == len(json.dumps(tools, separators=(",", ":")).encode())
    assert attrs[semconv.REQUEST_MESSAGES_COUNT] == len(CHAT["request"]["messages"])
    assert attrs[semconv.SERVER_ADDRESS] == "127.0.0.1"
    assert attrs[semconv.SERVER_PORT] == server.server_address[1]


def test_no_message_content_is_recorded(server: ReplayServer, spans: Any) -> None:
    _client(server, "chat").chat.completions.create(**CHAT["request"])
    (span,) = llm_spans(spans)
    text = json.dumps(dict(span.attributes), default=str)
    for message in CHAT["request"]["messages"]:
        if isinstance(message.get("content"), str) and len(message["content"]) > 8:
            assert message["content"] not in text


def test_sampling_parameters_become_request_attributes(server: ReplayServer, spans: Any) -> None:
    _client(server, "chat").chat.completions.create(
        **CHAT["request"] | {"temperature": 0.2, "top_p": 0.9, "max_tokens": 77, "seed": 5, "stop": ["x"]}
    )
    attrs = llm_spans(spans)[0].attributes
    assert attrs[semconv.GEN_AI_REQUEST_TEMPERATURE] == 0.2
    assert attrs[semconv.GEN_AI_REQUEST_TOP_P] == 0.9
    assert attrs[semconv.GEN_AI_REQUEST_MAX_TOKENS] == 77
    assert attrs[semconv.GEN_AI_REQUEST_SEED] == 5
    assert list(attrs[semconv.GEN_AI_REQUEST_STOP_SEQUENCES]) == ["x"]


# --- endpoints and variants -------------------------------------------------------------------------


def test_parse_records_the_usage(server: ReplayServer, spans: Any) -> None:
    ex = first_exchange(
        lambda e: e["path"] == "/v1/chat/completions" and not e["stream"] and set(e["request"]) == {"model", "messages"}
    )
    server.add("parse", ex)
    parsed = _client(server, "parse").chat.completions.parse(**ex["request"])
    assert parsed.id == ex["expected"]["response_id"]
    _exact(spans, ex)


def test_responses_create_records_the_usage(server: ReplayServer, spans: Any) -> None:
    _client(server, "responses").responses.create(**RESPONSES["request"])
    _exact(spans, RESPONSES)


def test_responses_compact_is_billed_inference_and_gets_a_span(server: ReplayServer, spans: Any) -> None:
    body = {
        "id": "cmp_1", "created_at": 1, "object": "response.compaction",
        "output": [{"type": "message", "id": "msg_1", "role": "user", "status": "completed",
                    "content": [{"type": "input_text", "text": "hi"}]}],
        "usage": {"input_tokens": 1200, "input_tokens_details": {"cached_tokens": 1024}, "output_tokens": 80,
                  "output_tokens_details": {"reasoning_tokens": 16}, "total_tokens": 1280},
    }  # fmt: skip
    server.add("compact", {"status": 200, "stream": False, "response_body": json.dumps(body)})
    result = _client(server, "compact").responses.compact(model="gpt-5.4-mini", input="summarize our chat")
    assert result.usage.input_tokens == 1200  # the application's object is untouched
    (span,) = llm_spans(spans)
    a = span.attributes
    assert a[semconv.GEN_AI_OPERATION_NAME] == "chat"
    assert a[semconv.GEN_AI_REQUEST_MODEL] == "gpt-5.4-mini"
    assert a[semconv.GEN_AI_USAGE_INPUT_TOKENS] == 1200
    assert a[semconv.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS] == 1024
    assert a[semconv.GEN_AI_USAGE_OUTPUT_TOKENS] == 80
    assert a[semconv.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS] == 16
    assert a[semconv.GEN_AI_RESPONSE_ID] == "cmp_1"


def test_embeddings_record_input_tokens_only(server: ReplayServer, spans: Any) -> None:
    _client(server, "embeddings").embeddings.create(**EMBEDDINGS["request"])
    span = _exact(spans, EMBEDDINGS)
    assert span.attributes[semconv.GEN_AI_OPERATION_NAME] == "embeddings"
    assert semconv.GEN_AI_USAGE_OUTPUT_TOKENS not in span.attributes


def test_legacy_completions_record_the_usage(server: ReplayServer, spans: Any) -> None:
    _client(server, "completions").completions.create(**COMPLETIONS["request"])
    span = _exact(spans, COMPLETIONS)
    assert span.attributes[semconv.GEN_AI_OPERATION_NAME] == "text_completion"


async def test_async_responses_create_records_the_usage(server: ReplayServer, spans: Any) -> None:
    await _aclient(server, "responses").responses.create(**RESPONSES["request"])
    _exact(spans, RESPONSES)


def test_with_raw_response_records_the_usage_and_still_parses(server: ReplayServer, spans: Any) -> None:
    raw = _client(server, "chat").chat.completions.with_raw_response.create(**CHAT["request"])
    _exact(spans, CHAT)
    assert raw.parse().id == CHAT["expected"]["response_id"]
    assert raw.headers["content-type"]


def test_with_raw_response_stream_records_the_usage_when_read(server: ReplayServer, spans: Any) -> None:
    raw = _client(server, "chat_stream").chat.completions.with_raw_response.create(**CHAT_STREAM["request"])
    assert llm_spans(spans) == []
    chunks = list(raw.parse())
    assert chunks[-1].usage is not None
    _exact(spans, CHAT_STREAM)


def test_with_streaming_response_parse_records_the_usage(server: ReplayServer, spans: Any) -> None:
    with _client(server, "responses").responses.with_streaming_response.create(**RESPONSES["request"]) as r:
        assert r.parse().id == RESPONSES["expected"]["response_id"]
    _exact(spans, RESPONSES)


def test_with_streaming_response_iter_lines_records_stream_usage(server: ReplayServer, spans: Any) -> None:
    client = _client(server, "responses_stream")
    with client.responses.with_streaming_response.create(**RESPONSES_STREAM["request"]) as r:
        lines = list(r.iter_lines())
    assert lines
    span = _exact(spans, RESPONSES_STREAM)
    assert span.attributes[semconv.STREAM_COMPLETE] is True


def test_with_streaming_response_left_unread_ends_the_span_at_exit(server: ReplayServer, spans: Any) -> None:
    with _client(server, "chat").chat.completions.with_streaming_response.create(**CHAT["request"]) as r:
        assert r.status_code == 200
        assert llm_spans(spans) == []
    (span,) = llm_spans(spans)
    assert semconv.GEN_AI_USAGE_INPUT_TOKENS not in span.attributes
    assert span.attributes[semconv.STREAM_COMPLETE] is False


async def test_async_with_streaming_response_parse_records_the_usage(server: ReplayServer, spans: Any) -> None:
    client = _aclient(server, "chat")
    async with client.chat.completions.with_streaming_response.create(**CHAT["request"]) as r:
        parsed = await r.parse()
    assert parsed.id == CHAT["expected"]["response_id"]
    _exact(spans, CHAT)


def test_non_inference_endpoints_get_no_span(server: ReplayServer, spans: Any) -> None:
    with pytest.raises(openai.NotFoundError):
        _client(server, "nothing").moderations.create(input="x")
    assert llm_spans(spans) == []


# --- errors and budget ------------------------------------------------------------------------------


def test_http_error_is_reraised_unchanged_and_the_span_says_error(server: ReplayServer, spans: Any) -> None:
    with pytest.raises(openai.NotFoundError) as info:
        _client(server, "error404").chat.completions.create(**ERROR_404["request"])
    assert info.value.status_code == 404
    (span,) = llm_spans(spans)
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes[semconv.ERROR_TYPE] == "NotFoundError"


def test_connection_error_is_reraised_and_the_span_says_error(spans: Any) -> None:
    client = openai.OpenAI(api_key="test", base_url="http://127.0.0.1:9/v1", max_retries=0)
    with pytest.raises(openai.APIConnectionError):
        client.chat.completions.create(**CHAT["request"])
    (span,) = llm_spans(spans)
    assert span.attributes[semconv.ERROR_TYPE] == "APIConnectionError"


def test_spent_budget_raises_before_the_request_is_sent(server: ReplayServer, spans: Any) -> None:
    server.requests.pop("chat", None)
    with llm_otel.task("review", budget_usd=0.0), pytest.raises(llm_otel.BudgetExceeded):
        _client(server, "chat").chat.completions.create(**CHAT["request"])
    assert "chat" not in server.requests
    assert llm_spans(spans) == []


def test_calls_count_into_the_current_task(server: ReplayServer, spans: Any) -> None:
    with llm_otel.task("review") as task:
        _client(server, "chat").chat.completions.create(**CHAT["request"])
        stream = _client(server, "chat_stream").chat.completions.create(**CHAT_STREAM["request"])
    list(stream)  # finishes outside the task's block: still counted in it
    assert task.calls == 2
    assert task.tokens == sum(
        ex["expected"]["input_tokens"] + ex["expected"]["output_tokens"] for ex in (CHAT, CHAT_STREAM)
    )


# --- providers --------------------------------------------------------------------------------------


def test_azure_client_is_provider_azure(server: ReplayServer, spans: Any) -> None:
    client = openai.AzureOpenAI(
        api_key="test", api_version="2024-10-21", azure_endpoint=server.base_url("chat"), max_retries=0
    )
    client.chat.completions.create(**CHAT["request"])
    span = _exact(spans, CHAT)
    assert span.attributes[semconv.GEN_AI_PROVIDER_NAME] == "azure.ai.openai"
    path = server.requests["chat"][0]
    assert "/openai/deployments/" in path


async def test_async_azure_client_is_provider_azure(server: ReplayServer, spans: Any) -> None:
    client = openai.AsyncAzureOpenAI(
        api_key="test", api_version="2024-10-21", azure_endpoint=server.base_url("chat"), max_retries=0
    )
    await client.chat.completions.create(**CHAT["request"])
    span = _exact(spans, CHAT)
    assert span.attributes[semconv.GEN_AI_PROVIDER_NAME] == "azure.ai.openai"


class _ToReplay(httpx2.BaseTransport):
    """Sends every request to the replay server, whatever host the client thinks it talks to."""

    def __init__(self, server: ReplayServer, key: str) -> None:
        self._inner = httpx2.HTTPTransport()
        self._port = server.server_address[1]
        self._prefix = f"/x/{key}".encode()

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        request.url = request.url.copy_with(
            scheme="http", host="127.0.0.1", port=self._port, raw_path=self._prefix + request.url.raw_path
        )
        return self._inner.handle_request(request)


def test_anthropic_openai_compatible_endpoint_is_provider_anthropic(server: ReplayServer, spans: Any) -> None:
    ex = next(e for e in corpus.exchanges("anthropic") if e["path"] == "/v1/chat/completions")
    server.add("anthropic_compat", ex)
    client = openai.OpenAI(
        api_key="test",
        base_url="https://api.anthropic.com/v1/",
        max_retries=0,
        http_client=httpx2.Client(transport=_ToReplay(server, "anthropic_compat")),
    )
    client.chat.completions.create(**ex["request"])
    span = _exact(spans, ex)
    assert span.attributes[semconv.GEN_AI_PROVIDER_NAME] == "anthropic"
    assert span.attributes[semconv.SERVER_ADDRESS] == "api.anthropic.com"
    assert span.attributes[semconv.SERVER_PORT] == 443


# --- install / uninstall ----------------------------------------------------------------------------


def test_uninstall_restores_the_original_request_methods(server: ReplayServer, spans: Any) -> None:
    from openai._base_client import AsyncAPIClient, SyncAPIClient

    llm_openai.uninstall()
    try:
        assert not hasattr(SyncAPIClient.__dict__["request"], "__wrapped__")
        assert not hasattr(AsyncAPIClient.__dict__["request"], "__wrapped__")
        _client(server, "chat").chat.completions.create(**CHAT["request"])
        assert llm_spans(spans) == []
        llm_openai.uninstall()  # idempotent
    finally:
        llm_openai.install()
    assert hasattr(SyncAPIClient.__dict__["request"], "__wrapped__")


def test_install_twice_still_gives_one_span_per_call(server: ReplayServer, spans: Any) -> None:
    llm_openai.install()
    llm_openai.install()
    _client(server, "chat").chat.completions.create(**CHAT["request"])
    assert len(llm_spans(spans)) == 1


def test_clients_created_before_install_are_instrumented(server: ReplayServer, spans: Any) -> None:
    llm_openai.uninstall()
    client = _client(server, "chat")
    completions = client.chat.completions  # resources bound before install
    llm_openai.install()
    completions.create(**CHAT["request"])
    assert len(llm_spans(spans)) == 1


def test_available_says_openai_is_importable() -> None:
    assert llm_openai.available() is True


# --- content (opt-in) -------------------------------------------------------------------------------


@pytest.fixture
def capture_content() -> Iterator[None]:
    from llm_otel.sdk import content

    content.set_capture_content(True)
    yield
    content.set_capture_content(None)


def test_message_content_is_recorded_only_when_opted_in(
    server: ReplayServer, spans: Any, capture_content: None
) -> None:
    _client(server, "responses").responses.create(**RESPONSES["request"])
    (span,) = llm_spans(spans)
    inputs = json.loads(span.attributes[semconv.GEN_AI_INPUT_MESSAGES])
    outputs = json.loads(span.attributes[semconv.GEN_AI_OUTPUT_MESSAGES])
    assert inputs[0]["parts"]
    assert outputs[0]["role"] == "assistant"


def test_chat_content_puts_system_messages_in_system_instructions(
    server: ReplayServer, spans: Any, capture_content: None
) -> None:
    request = CHAT["request"] | {"messages": [{"role": "system", "content": "be brief"}, *CHAT["request"]["messages"]]}
    _client(server, "chat").chat.completions.create(**request)
    (span,) = llm_spans(spans)
    system = json.loads(span.attributes[semconv.GEN_AI_SYSTEM_INSTRUCTIONS])
    assert system[0] == {"type": "text", "content": "be brief"}
    assert semconv.GEN_AI_OUTPUT_MESSAGES in span.attributes
