"""Shared helpers for the openai tests: build a client call from a recorded request, compare spans."""

from __future__ import annotations

import inspect
from typing import Any

import openai

from llm_otel import semconv
from llm_otel.demo.fake_api import FakeAPIServer
from replay.server import ReplayServer, _Handler


class _NoDelayHandler(_Handler):
    # The handler writes headers and body separately: with Nagle on, each response waits ~40 ms
    # for the client's delayed ACK. TCP_NODELAY makes a replay take ~10 ms.
    disable_nagle_algorithm = True


def fast_server() -> ReplayServer:
    """A ``ReplayServer`` (not started) whose responses are not held back by Nagle's algorithm."""
    server = ReplayServer()
    server.RequestHandlerClass = _NoDelayHandler
    return server


PATH_TO_RESOURCE = {
    "/v1/chat/completions": ("chat", "completions"),
    "/v1/responses": ("responses",),
    "/v1/embeddings": ("embeddings",),
    "/v1/completions": ("completions",),
}

EXPECTED_TO_ATTRIBUTE = {
    "input_tokens": semconv.GEN_AI_USAGE_INPUT_TOKENS,
    "output_tokens": semconv.GEN_AI_USAGE_OUTPUT_TOKENS,
    "cache_read_input_tokens": semconv.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS,
    "cache_write_input_tokens": semconv.GEN_AI_USAGE_CACHE_WRITE_INPUT_TOKENS,
    "cache_write_5m": semconv.USAGE_CACHE_WRITE_5M,
    "cache_write_1h": semconv.USAGE_CACHE_WRITE_1H,
    "cache_write_30m": semconv.USAGE_CACHE_WRITE_30M,
    "cache_write_12h": semconv.USAGE_CACHE_WRITE_12H,
    "reasoning_output_tokens": semconv.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS,
    "response_model": semconv.GEN_AI_RESPONSE_MODEL,
    "response_id": semconv.GEN_AI_RESPONSE_ID,
    "finish_reasons": semconv.GEN_AI_RESPONSE_FINISH_REASONS,
}


def resource_method(client: Any, path: str) -> Any:
    obj = client
    for name in PATH_TO_RESOURCE[path]:
        obj = getattr(obj, name)
    return obj.create


def call_kwargs(method: Any, request: dict[str, Any]) -> dict[str, Any]:
    """The recorded body as keyword arguments; keys the method does not take go to ``extra_body``."""
    params = inspect.signature(method).parameters
    kwargs: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    for key, value in request.items():
        if key in params and key not in ("extra_body", "extra_headers", "extra_query", "timeout"):
            kwargs[key] = value
        else:
            extra[key] = value
    if extra:
        kwargs["extra_body"] = extra
    return kwargs


def replay_sync(client: openai.OpenAI, ex: dict[str, Any]) -> None:
    method = resource_method(client, ex["path"])
    result = method(**call_kwargs(method, ex["request"]))
    if ex["stream"]:
        for _ in result:
            pass


async def replay_async(client: openai.AsyncOpenAI, ex: dict[str, Any]) -> None:
    method = resource_method(client, ex["path"])
    result = await method(**call_kwargs(method, ex["request"]))
    if ex["stream"]:
        async for _ in result:
            pass


def usage_spans(spans: Any) -> list[Any]:
    return [s for s in spans if any(k.startswith("gen_ai.usage.") for k in (s.attributes or {}))]


def mismatches(expected: dict[str, Any], attributes: dict[str, Any]) -> dict[str, tuple[Any, Any]]:
    """Keys whose span value differs from ``expected`` (null or 0 expected: absent or 0 is fine)."""
    out: dict[str, tuple[Any, Any]] = {}
    for key, name in EXPECTED_TO_ATTRIBUTE.items():
        want = expected.get(key)
        got = attributes.get(name)
        if isinstance(got, tuple):
            got = list(got)
        if want in (None, 0, []):
            if got not in (None, 0, []):
                out[key] = (want, got)
        elif got != want:
            out[key] = (want, got)
    return out


def llm_spans(exporter: Any) -> list[Any]:
    """Finished spans that describe an LLM call (ours or another instrumentation's)."""
    return [s for s in exporter.get_finished_spans() if (s.attributes or {}).get(semconv.GEN_AI_OPERATION_NAME)]


def first_exchange(predicate: Any) -> dict[str, Any]:
    from replay import corpus

    for ex in corpus.exchanges("openai"):
        if predicate(ex):
            return ex
    raise LookupError("no such exchange in the corpus")


def chat_stream_exchange() -> dict[str, Any]:
    """A single-choice chat stream recorded with include_usage (ends with the usage-only chunk)."""
    return first_exchange(
        lambda ex: (
            ex["stream"]
            and ex["path"] == "/v1/chat/completions"
            and not ex["request"].get("n")
            and (ex["request"].get("stream_options") or {}).get("include_usage") is True
            and ex["response_body"].count("data: ") > 4
        )
    )


def responses_stream_exchange() -> dict[str, Any]:
    return first_exchange(
        lambda ex: (
            ex["stream"]
            and ex["path"] == "/v1/responses"
            and "response.output_text.delta" in ex["response_body"]
            and "response.completed" in ex["response_body"]
        )
    )


def sse_events(body: str) -> list[str]:
    """The events of an SSE body, each with its trailing blank line."""
    return [part + "\n\n" for part in body.split("\n\n") if part.strip()]


class CountingFakeAPI(FakeAPIServer):
    """The fake API, counting the chat completions it actually served."""

    def __init__(self) -> None:
        super().__init__()
        self.served = 0
        inner = self.api.openai_chat

        def counted(req: Any) -> Any:
            self.served += 1
            return inner(req)

        self.api.openai_chat = counted  # type: ignore[method-assign]
