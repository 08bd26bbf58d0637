"""OpenAI stream lifecycle: the span ends exactly once, with the right status, however the stream ends.

Real ``openai`` clients (sync and async) over HTTP to the local replay server, with
recorded streams (a Chat Completions stream with its usage chunk, a Responses stream).
"""

from __future__ import annotations

import gc
import json
from collections.abc import Iterator
from typing import Any

import openai
import pytest
from openai_helpers import chat_stream_exchange, fast_server, llm_spans, responses_stream_exchange, sse_events
from opentelemetry.trace import StatusCode

from llm_otel import semconv
from llm_otel.sdk import openai as llm_openai
from replay.server import ReplayServer

CHAT = chat_stream_exchange()
RESPONSES = responses_stream_exchange()
CHAT_EVENTS = sse_events(CHAT["response_body"])
USAGE = semconv.GEN_AI_USAGE_INPUT_TOKENS
COMPLETE = semconv.STREAM_COMPLETE


@pytest.fixture(scope="module")
def server() -> Iterator[ReplayServer]:
    llm_openai.install()
    with fast_server() as srv:
        srv.add("chat", CHAT)
        srv.add("responses", RESPONSES)
        failing = dict(CHAT)
        failing["response_body"] = "".join(CHAT_EVENTS[:3]) + 'data: {"error": {"message": "overloaded"}}\n\n'
        srv.add("failing", failing)
        yield srv
    llm_openai.uninstall()


def _client(server: ReplayServer, key: str) -> openai.OpenAI:
    return openai.OpenAI(api_key="test", base_url=server.base_url(key) + "/v1", max_retries=0)


def _aclient(server: ReplayServer, key: str) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(api_key="test", base_url=server.base_url(key) + "/v1", max_retries=0)


def _chat_kwargs() -> dict[str, Any]:
    return dict(CHAT["request"])


def _one(spans: Any) -> Any:
    found = llm_spans(spans)
    assert len(found) == 1, [s.name for s in found]
    return found[0]


def _assert_complete(span: Any, input_tokens: int) -> None:
    assert span.status.status_code is StatusCode.UNSET
    assert span.attributes[COMPLETE] is True
    assert span.attributes[USAGE] == input_tokens


def _assert_incomplete(span: Any) -> None:
    assert span.status.status_code is StatusCode.UNSET
    assert span.attributes[COMPLETE] is False
    assert USAGE not in span.attributes
    assert semconv.GEN_AI_USAGE_OUTPUT_TOKENS not in span.attributes


# --- sync -------------------------------------------------------------------------------------------


def test_stream_read_to_the_end_ends_the_span_once_with_usage(server: ReplayServer, spans: Any) -> None:
    stream = _client(server, "chat").chat.completions.create(**_chat_kwargs())
    assert isinstance(stream, openai.Stream)
    chunks = list(stream)
    assert len(chunks) == len(CHAT_EVENTS) - 1  # every data event but [DONE]
    _assert_complete(_one(spans), CHAT["expected"]["input_tokens"])
    stream.close()
    assert len(llm_spans(spans)) == 1


def test_stream_broken_out_of_and_closed_ends_the_span_incomplete_at_close(server: ReplayServer, spans: Any) -> None:
    stream = _client(server, "chat").chat.completions.create(**_chat_kwargs())
    for _ in stream:
        break
    assert llm_spans(spans) == []
    stream.close()
    span = _one(spans)
    _assert_incomplete(span)
    assert span.attributes[semconv.GEN_AI_RESPONSE_ID] == CHAT["expected"]["response_id"]


def test_stream_with_block_exited_early_ends_the_span_at_exit(server: ReplayServer, spans: Any) -> None:
    with _client(server, "chat").chat.completions.create(**_chat_kwargs()) as stream:
        next(iter(stream))
        assert llm_spans(spans) == []
    _assert_incomplete(_one(spans))


def test_stream_abandoned_mid_way_ends_the_span_when_collected(server: ReplayServer, spans: Any) -> None:
    stream = _client(server, "chat").chat.completions.create(**_chat_kwargs())
    next(stream)
    del stream
    gc.collect()
    _assert_incomplete(_one(spans))


def test_stream_never_read_and_abandoned_ends_the_span_when_collected(server: ReplayServer, spans: Any) -> None:
    _client(server, "chat").chat.completions.create(**_chat_kwargs())
    gc.collect()
    _assert_incomplete(_one(spans))


def test_stream_failing_mid_way_ends_the_span_with_error(server: ReplayServer, spans: Any) -> None:
    stream = _client(server, "failing").chat.completions.create(**_chat_kwargs())
    with pytest.raises(openai.APIError, match="overloaded"):
        for _ in stream:
            pass
    span = _one(spans)
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes[semconv.ERROR_TYPE] == "APIError"
    assert span.attributes[COMPLETE] is False


def test_stream_closed_twice_and_gc_still_ends_the_span_once(server: ReplayServer, spans: Any) -> None:
    stream = _client(server, "chat").chat.completions.create(**_chat_kwargs())
    list(stream)
    stream.close()
    stream.close()
    del stream
    gc.collect()
    assert len(llm_spans(spans)) == 1


def test_next_keeps_working_on_the_proxied_stream(server: ReplayServer, spans: Any) -> None:
    stream = _client(server, "chat").chat.completions.create(**_chat_kwargs())
    first = next(stream)
    rest = list(stream)
    assert first.id == CHAT["expected"]["response_id"]
    assert len(rest) == len(CHAT_EVENTS) - 2
    assert stream.response.status_code == 200
    _assert_complete(_one(spans), CHAT["expected"]["input_tokens"])


def test_chat_helper_stream_gives_final_completion_and_one_span(server: ReplayServer, spans: Any) -> None:
    kwargs = _chat_kwargs()
    kwargs.pop("stream")
    with _client(server, "chat").chat.completions.stream(**kwargs) as stream:
        completion = stream.get_final_completion()
    assert completion.usage is not None
    assert completion.usage.prompt_tokens == CHAT["expected"]["input_tokens"]
    _assert_complete(_one(spans), CHAT["expected"]["input_tokens"])


def test_chat_helper_stream_exited_early_ends_the_span_at_exit(server: ReplayServer, spans: Any) -> None:
    kwargs = _chat_kwargs()
    kwargs.pop("stream")
    with _client(server, "chat").chat.completions.stream(**kwargs) as stream:
        for _ in stream:
            break
        assert llm_spans(spans) == []
    _assert_incomplete(_one(spans))


def test_responses_helper_stream_gives_text_deltas_and_final_response(server: ReplayServer, spans: Any) -> None:
    kwargs = dict(RESPONSES["request"])
    kwargs.pop("stream")
    with _client(server, "responses").responses.stream(**kwargs) as stream:
        deltas = [e.delta for e in stream if e.type == "response.output_text.delta"]
        final = stream.get_final_response()
    assert deltas
    assert final.id == RESPONSES["expected"]["response_id"]
    span = _one(spans)
    _assert_complete(span, RESPONSES["expected"]["input_tokens"])
    assert list(span.attributes[semconv.GEN_AI_RESPONSE_FINISH_REASONS]) == ["completed"]


def test_responses_helper_stream_until_done_records_usage(server: ReplayServer, spans: Any) -> None:
    kwargs = dict(RESPONSES["request"])
    kwargs.pop("stream")
    with _client(server, "responses").responses.stream(**kwargs) as stream:
        stream.until_done()
    _assert_complete(_one(spans), RESPONSES["expected"]["input_tokens"])


def test_responses_stream_closed_after_created_keeps_only_the_certain_ids(server: ReplayServer, spans: Any) -> None:
    stream = _client(server, "responses").responses.create(**RESPONSES["request"])
    assert next(stream).type == "response.created"
    stream.close()
    span = _one(spans)
    _assert_incomplete(span)
    assert span.attributes[semconv.GEN_AI_RESPONSE_ID] == RESPONSES["expected"]["response_id"]
    assert semconv.GEN_AI_RESPONSE_FINISH_REASONS not in span.attributes


# --- async ------------------------------------------------------------------------------------------


async def test_async_stream_read_to_the_end_ends_the_span_once_with_usage(server: ReplayServer, spans: Any) -> None:
    stream = await _aclient(server, "chat").chat.completions.create(**_chat_kwargs())
    assert isinstance(stream, openai.AsyncStream)
    chunks = [c async for c in stream]
    assert len(chunks) == len(CHAT_EVENTS) - 1
    _assert_complete(_one(spans), CHAT["expected"]["input_tokens"])
    await stream.close()
    assert len(llm_spans(spans)) == 1


async def test_async_stream_broken_out_of_and_closed_ends_the_span_at_close(server: ReplayServer, spans: Any) -> None:
    stream = await _aclient(server, "chat").chat.completions.create(**_chat_kwargs())
    async for _ in stream:
        break
    assert llm_spans(spans) == []
    await stream.close()
    _assert_incomplete(_one(spans))


async def test_async_stream_with_block_exited_early_ends_the_span_at_exit(server: ReplayServer, spans: Any) -> None:
    async with await _aclient(server, "chat").chat.completions.create(**_chat_kwargs()) as stream:
        await stream.__anext__()
        assert llm_spans(spans) == []
    _assert_incomplete(_one(spans))


async def test_async_stream_abandoned_mid_way_ends_the_span_when_collected(server: ReplayServer, spans: Any) -> None:
    stream = await _aclient(server, "chat").chat.completions.create(**_chat_kwargs())
    await stream.__anext__()
    del stream
    gc.collect()
    _assert_incomplete(_one(spans))


async def test_async_stream_failing_mid_way_ends_the_span_with_error(server: ReplayServer, spans: Any) -> None:
    stream = await _aclient(server, "failing").chat.completions.create(**_chat_kwargs())
    with pytest.raises(openai.APIError, match="overloaded"):
        async for _ in stream:
            pass
    span = _one(spans)
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes[semconv.ERROR_TYPE] == "APIError"


async def test_async_chat_helper_stream_gives_final_completion(server: ReplayServer, spans: Any) -> None:
    kwargs = _chat_kwargs()
    kwargs.pop("stream")
    async with _aclient(server, "chat").chat.completions.stream(**kwargs) as stream:
        completion = await stream.get_final_completion()
    assert completion.usage is not None
    _assert_complete(_one(spans), CHAT["expected"]["input_tokens"])


async def test_async_chat_helper_stream_exited_early_ends_the_span_at_exit(server: ReplayServer, spans: Any) -> None:
    kwargs = _chat_kwargs()
    kwargs.pop("stream")
    async with _aclient(server, "chat").chat.completions.stream(**kwargs) as stream:
        async for _ in stream:
            break
    _assert_incomplete(_one(spans))


async def test_async_responses_helper_stream_gives_final_response(server: ReplayServer, spans: Any) -> None:
    kwargs = dict(RESPONSES["request"])
    kwargs.pop("stream")
    async with _aclient(server, "responses").responses.stream(**kwargs) as stream:
        final = await stream.get_final_response()
    assert final.id == RESPONSES["expected"]["response_id"]
    _assert_complete(_one(spans), RESPONSES["expected"]["input_tokens"])


# --- shapes -----------------------------------------------------------------------------------------


def test_stream_iterated_inline_ends_the_span_with_usage(server: ReplayServer, spans: Any) -> None:
    count = 0
    for _ in _client(server, "chat").chat.completions.create(**_chat_kwargs()):
        count += 1
    assert count == len(CHAT_EVENTS) - 1
    _assert_complete(_one(spans), CHAT["expected"]["input_tokens"])


async def test_async_stream_iterated_inline_ends_the_span_with_usage(server: ReplayServer, spans: Any) -> None:
    count = 0
    async for _ in await _aclient(server, "chat").chat.completions.create(**_chat_kwargs()):
        count += 1
    assert count == len(CHAT_EVENTS) - 1
    _assert_complete(_one(spans), CHAT["expected"]["input_tokens"])


def test_azure_stream_takes_the_id_from_the_first_chunk_that_has_one(server: ReplayServer, spans: Any) -> None:
    filter_chunk = (
        'data: {"choices":[],"created":0,"id":"","model":"","object":"",'
        '"prompt_filter_results":[{"prompt_index":0,"content_filter_results":{}}]}\n\n'
    )
    azure = dict(CHAT)
    azure["response_body"] = filter_chunk + CHAT["response_body"]
    server.add("azure_stream", azure)
    client = openai.AzureOpenAI(
        api_key="test", api_version="2024-10-21", azure_endpoint=server.base_url("azure_stream"), max_retries=0
    )
    chunks = list(client.chat.completions.create(**_chat_kwargs()))
    assert chunks[0].id == ""
    span = _one(spans)
    _assert_complete(span, CHAT["expected"]["input_tokens"])
    assert span.attributes[semconv.GEN_AI_RESPONSE_ID] == CHAT["expected"]["response_id"]
    assert span.attributes[semconv.GEN_AI_RESPONSE_MODEL] == CHAT["expected"]["response_model"]
    assert span.attributes[semconv.GEN_AI_PROVIDER_NAME] == "azure.ai.openai"


def test_legacy_completions_stream_records_usage_and_hides_the_usage_chunk(server: ReplayServer, spans: Any) -> None:
    chunk = {
        "id": "cmpl-1",
        "object": "text_completion",
        "created": 1,
        "model": "gpt-3.5-turbo-instruct",
        "choices": [{"text": "hi", "index": 0, "logprobs": None, "finish_reason": "length"}],
    }
    usage = {**chunk, "choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4}}
    body = "".join(f"data: {json.dumps(c)}\n\n" for c in (chunk, usage)) + "data: [DONE]\n\n"
    server.add("completions_stream", {"status": 200, "stream": True, "response_body": body})
    client = _client(server, "completions_stream")
    chunks = list(client.completions.create(model="gpt-3.5-turbo-instruct", prompt="x", stream=True))
    assert [c.choices[0].text for c in chunks] == ["hi"]
    span = _one(spans)
    _assert_complete(span, 3)
    assert list(span.attributes[semconv.GEN_AI_RESPONSE_FINISH_REASONS]) == ["length"]
    assert span.attributes[semconv.GEN_AI_OPERATION_NAME] == "text_completion"


# --- content capture (opt-in) on streams ---------------------------------------------------------


@pytest.fixture
def capture_content() -> Iterator[None]:
    from llm_otel.sdk import content

    content.set_capture_content(True)
    yield
    content.set_capture_content(None)


def _chunk(delta: dict[str, Any], finish: str | None = None, index: int = 0) -> dict[str, Any]:
    return {"id": "chatcmpl-c", "object": "chat.completion.chunk", "created": 1, "model": "gpt-4o-mini",
            "choices": [{"index": index, "delta": delta, "finish_reason": finish}]}  # fmt: skip


def test_a_chat_stream_records_its_assembled_output_only_when_opted_in(
    server: ReplayServer, spans: Any, capture_content: None
) -> None:
    """The recorded stream (several tool calls in pieces) against the openai SDK's own assembly of it."""
    kwargs = {k: v for k, v in _chat_kwargs().items() if k != "stream"}
    with _client(server, "chat").chat.completions.stream(**kwargs) as stream:
        final = stream.get_final_completion()
    span = _one(spans)
    (message,) = json.loads(span.attributes[semconv.GEN_AI_OUTPUT_MESSAGES])
    choice = final.choices[0]
    expected_parts = ([{"type": "text", "content": choice.message.content}] if choice.message.content else []) + [
        {"type": "tool_call", "id": t.id, "name": t.function.name, "arguments": t.function.arguments}
        for t in choice.message.tool_calls or ()
    ]
    assert len(expected_parts) >= 2  # the recorded stream has several tool calls
    assert message == {"role": "assistant", "parts": expected_parts, "finish_reason": choice.finish_reason}
    assert semconv.GEN_AI_INPUT_MESSAGES in span.attributes
    _assert_complete(span, CHAT["expected"]["input_tokens"])  # counts unchanged by capture


def test_a_streamed_tool_call_is_assembled_from_its_pieces(
    server: ReplayServer, spans: Any, capture_content: None
) -> None:
    call = {"index": 0, "id": "call_1", "type": "function", "function": {"name": "weather", "arguments": ""}}
    body = "".join(
        f"data: {json.dumps(c)}\n\n"
        for c in (
            _chunk({"role": "assistant", "content": None, "tool_calls": [call]}),
            _chunk({"tool_calls": [{"index": 0, "function": {"arguments": '{"city":'}}]}),
            _chunk({"tool_calls": [{"index": 0, "function": {"arguments": '"Paris"}'}}]}),
            _chunk({}, finish="tool_calls"),
        )
    ) + "data: [DONE]\n\n"
    server.add("tool_stream", {"status": 200, "stream": True, "response_body": body})
    stream = _client(server, "tool_stream").chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "weather?"}], stream=True
    )
    for _ in stream:
        pass
    out = json.loads(_one(spans).attributes[semconv.GEN_AI_OUTPUT_MESSAGES])
    assert out == [{"role": "assistant", "finish_reason": "tool_calls", "parts": [
        {"type": "tool_call", "id": "call_1", "name": "weather", "arguments": '{"city":"Paris"}'}]}]  # fmt: skip


def test_without_opt_in_a_chat_stream_records_no_content(server: ReplayServer, spans: Any) -> None:
    list(_client(server, "chat").chat.completions.create(**_chat_kwargs()))
    span = _one(spans)
    assert semconv.GEN_AI_OUTPUT_MESSAGES not in span.attributes
    assert semconv.GEN_AI_INPUT_MESSAGES not in span.attributes
