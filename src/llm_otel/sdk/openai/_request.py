"""What a request is: which endpoint, which provider, which span attributes; and the include_usage rewrite.

Runs on the user's call path before the request is sent. ``plan_request`` never raises
(it returns ``None`` and the call goes on untraced); the rest is called under its guard.
"""

from __future__ import annotations

import contextlib
import logging
import os
import weakref
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeGuard

from opentelemetry.util.types import AttributeValue

from llm_otel import semconv
from llm_otel.sdk.openai import _content

log = logging.getLogger("llm_otel")

# The inference endpoints that get a span: options.url (as resource methods pass it) -> (operation, kind).
# ``kind`` selects the response reader: "chat" and "completion" share the choices/chunk shape.
ENDPOINTS: dict[str, tuple[str, str]] = {
    "/chat/completions": (semconv.OP_CHAT, "chat"),
    "/completions": (semconv.OP_TEXT_COMPLETION, "completion"),
    "/embeddings": (semconv.OP_EMBEDDINGS, "embeddings"),
    "/responses": (semconv.OP_CHAT, "responses"),
    # A compaction pass (``responses.compact``) is billed inference: its CompactedResponse has
    # the Responses usage shape (no model: the span's request model prices it).
    "/responses/compact": (semconv.OP_CHAT, "responses"),
}

RAW_RESPONSE_HEADER = "X-Stainless-Raw-Response"  # openai._constants; set by with_raw/streaming_response
INCLUDE_USAGE_ENV = "LLM_OTEL_OPENAI_INCLUDE_USAGE"

_include_usage_option: bool = True


def set_include_usage(value: bool | None) -> None:
    """``install(include_usage=...)``; ``None`` keeps the default (True)."""
    global _include_usage_option
    _include_usage_option = True if value is None else bool(value)


def include_usage_enabled() -> bool:
    """Whether chat/completion streams get ``stream_options.include_usage`` (env can switch it off)."""
    env = os.environ.get(INCLUDE_USAGE_ENV)
    if env is not None and env.strip().lower() in ("0", "false", "no", "off"):
        return False
    return _include_usage_option


@dataclass(slots=True)
class RequestPlan:
    """Everything the wrapper needs to know about one instrumented request."""

    operation: str
    kind: str
    provider: str
    model: str | None
    attributes: dict[str, AttributeValue]
    stream: bool
    raw: bool  # with_raw_response / with_streaming_response: the app may read the bytes itself
    options: Any  # the FinalRequestOptions to send (a copy when we rewrote it)
    hide_usage_chunk: bool  # we added include_usage: hide the usage-only chunk from the app
    retrieve: bool = False  # GET /responses/{id}: a span only if it brings usage not recorded yet


# --- provider and server ---------------------------------------------------------------------------

_client_info: weakref.WeakKeyDictionary[Any, tuple[Any, str, str | None, int | None]] = weakref.WeakKeyDictionary()


def _provider_for(client: Any, host: str) -> str:
    """``gen_ai.provider.name`` from the client class, its provider runtime, then the host."""
    for cls in type(client).__mro__:
        if cls.__name__ in ("BaseAzureClient", "AzureOpenAI", "AsyncAzureOpenAI"):
            return semconv.PROVIDER_AZURE_OPENAI
    runtime = getattr(client, "_provider_runtime", None)
    name = getattr(runtime, "name", None)
    if name == "bedrock":
        return semconv.PROVIDER_AWS_BEDROCK
    if name == "vertex":
        return semconv.PROVIDER_GCP_VERTEX_AI
    host = host.lower()
    if host.endswith((".openai.azure.com", ".services.ai.azure.com", ".cognitiveservices.azure.com")):
        return semconv.PROVIDER_AZURE_OPENAI
    if host == "api.anthropic.com" or host.endswith(".anthropic.com"):
        return semconv.PROVIDER_ANTHROPIC
    return semconv.PROVIDER_OPENAI


def client_info(client: Any) -> tuple[str, str | None, int | None]:
    """(provider, server.address, server.port) of a client, cached per client and base URL."""
    base_url = getattr(client, "_base_url", None)
    cached = _client_info.get(client)
    if cached is not None and cached[0] is base_url:
        return cached[1], cached[2], cached[3]
    host = str(getattr(base_url, "host", "") or "")
    port = getattr(base_url, "port", None)
    if port is None:
        port = {"https": 443, "http": 80}.get(str(getattr(base_url, "scheme", "")))
    provider = _provider_for(client, host)
    with contextlib.suppress(TypeError):  # not weak-referenceable: no cache
        _client_info[client] = (base_url, provider, host or None, port)
    return provider, host or None, port


# --- request attributes -----------------------------------------------------------------------------


def _json_size(value: Any) -> int:
    """Serialized size in bytes, as the client puts it on the wire (compact JSON, UTF-8)."""
    try:
        from openai._utils._json import openapi_dumps

        return len(openapi_dumps(value))
    except Exception:
        import json

        return len(json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str).encode())


_NUMBER_PARAMS = (
    ("temperature", semconv.GEN_AI_REQUEST_TEMPERATURE),
    ("top_p", semconv.GEN_AI_REQUEST_TOP_P),
    ("frequency_penalty", semconv.GEN_AI_REQUEST_FREQUENCY_PENALTY),
    ("presence_penalty", semconv.GEN_AI_REQUEST_PRESENCE_PENALTY),
)


# Every body key ``request_attributes`` reads besides model, stream, messages and input.
_PARAMETERS = frozenset(
    {
        "max_output_tokens",
        "max_completion_tokens",
        "max_tokens",
        *(key for key, _ in _NUMBER_PARAMS),
        "seed",
        "n",
        "stop",
        "encoding_format",
        "response_format",
        "text",
        "tools",
        "functions",
        "conversation",
    }
)


def request_attributes(kind: str, body: Mapping[str, Any]) -> dict[str, AttributeValue]:
    """Span attributes of the request parameters (no content: counts and sizes only).

    Hot path (per call, ``benchmarks/sdk_overhead.py``): a body with none of ``_PARAMETERS``
    (model and messages only, a common call) skips the parameter lookups.
    """
    attrs: dict[str, AttributeValue] = {}
    get = body.get
    if _PARAMETERS.isdisjoint(body):
        if kind != "embeddings":
            attrs[semconv.GEN_AI_REQUEST_STREAM] = get("stream") is True
        _messages_count(kind, get, attrs)
        return attrs
    if kind == "responses":
        max_tokens = get("max_output_tokens")
    else:
        max_tokens = get("max_completion_tokens")
        if max_tokens is None:
            max_tokens = get("max_tokens")
    if isinstance(max_tokens, int) and not isinstance(max_tokens, bool):
        attrs[semconv.GEN_AI_REQUEST_MAX_TOKENS] = max_tokens
    # Hot path (per call): most parameters are absent, so ``None`` is ruled out first.
    for key, name in _NUMBER_PARAMS:
        value = get(key)
        if value is not None and isinstance(value, (int, float)) and not isinstance(value, bool):
            attrs[name] = float(value)
    seed = get("seed")
    if seed is not None and isinstance(seed, int) and not isinstance(seed, bool):
        attrs[semconv.GEN_AI_REQUEST_SEED] = seed
    n = get("n")
    if n is not None and isinstance(n, int) and not isinstance(n, bool) and n != 1:
        attrs[semconv.GEN_AI_REQUEST_CHOICE_COUNT] = n
    stop = get("stop")
    if stop is None:
        pass
    elif isinstance(stop, str):
        attrs[semconv.GEN_AI_REQUEST_STOP_SEQUENCES] = (stop,)  # tuples: what the SDK stores for a list
    elif isinstance(stop, (list, tuple)) and all(isinstance(s, str) for s in stop):
        attrs[semconv.GEN_AI_REQUEST_STOP_SEQUENCES] = tuple(stop)
    if kind != "embeddings":
        attrs[semconv.GEN_AI_REQUEST_STREAM] = get("stream") is True
    else:
        fmt = get("encoding_format")
        if isinstance(fmt, str):
            attrs[semconv.GEN_AI_REQUEST_ENCODING_FORMATS] = (fmt,)
    output_type = _output_type(kind, body)
    if output_type:
        attrs[semconv.GEN_AI_OUTPUT_TYPE] = output_type
    tools = get("tools")
    if isinstance(tools, (list, tuple)) and tools:
        attrs[semconv.REQUEST_TOOLS_COUNT] = len(tools)
        attrs[semconv.REQUEST_TOOLS_BYTES] = _json_size(tools)
    elif kind == "chat":
        functions = get("functions")  # the legacy form of tools
        if isinstance(functions, (list, tuple)) and functions:
            attrs[semconv.REQUEST_TOOLS_COUNT] = len(functions)
            attrs[semconv.REQUEST_TOOLS_BYTES] = _json_size(functions)
    _messages_count(kind, get, attrs)
    if kind == "responses":
        conversation = get("conversation")
        if _mapping(conversation):
            conversation = conversation.get("id")
        if isinstance(conversation, str) and conversation:
            attrs[semconv.GEN_AI_CONVERSATION_ID] = conversation
    return attrs


def _mapping(value: Any) -> TypeGuard[Mapping[str, Any]]:
    """``isinstance(value, Mapping)``; a dict or ``None`` without the ABC check (~0.4 us each)."""
    return type(value) is dict or (value is not None and isinstance(value, Mapping))


def _messages_count(kind: str, get: Any, attrs: dict[str, AttributeValue]) -> None:
    messages = get("messages") if kind == "chat" else get("input") if kind == "responses" else None
    if isinstance(messages, (list, tuple)):
        attrs[semconv.REQUEST_MESSAGES_COUNT] = len(messages)
    elif isinstance(messages, str):
        attrs[semconv.REQUEST_MESSAGES_COUNT] = 1


def _output_type(kind: str, body: Mapping[str, Any]) -> str | None:
    if kind == "chat":
        fmt = body.get("response_format")
        ftype = fmt.get("type") if _mapping(fmt) else None
    elif kind == "responses":
        text = body.get("text")
        fmt = text.get("format") if _mapping(text) else None
        ftype = fmt.get("type") if _mapping(fmt) else None
    else:
        return None
    if ftype in ("json_schema", "json_object"):
        return "json"
    if ftype == "text":
        return "text"
    return None


# --- the plan ---------------------------------------------------------------------------------------


def _headers_get(headers: Any, name: str) -> Any:
    if not headers or not isinstance(headers, Mapping):  # ``NOT_GIVEN`` and ``{}`` are falsy: no ABC check
        return None
    value = headers.get(name)
    if value is None:
        lower = name.lower()
        for key, val in headers.items():
            if isinstance(key, str) and key.lower() == lower:
                return val
    return value


def effective_body(options: Any) -> Mapping[str, Any] | None:
    """The JSON body as it will be sent: ``json_data`` overlaid with ``extra_body``."""
    body = options.json_data
    extra = options.extra_json
    if type(body) is not dict and not isinstance(body, Mapping):
        body = None
    if extra is not None and isinstance(extra, Mapping) and extra:
        return {**(body or {}), **extra}
    return body


def plan_request(client: Any, options: Any, stream: bool) -> RequestPlan | None:
    """The plan for one ``client.request(...)``, or ``None`` for anything we do not trace. Never raises."""
    try:
        url = options.url
        endpoint = ENDPOINTS.get(url)
        if endpoint is None or options.method.lower() != "post":
            return _retrieve_plan(client, options, stream, url)
        operation, kind = endpoint
        body = effective_body(options) or {}
        model = body.get("model")
        if not isinstance(model, str):
            model = None
        provider, address, port = client_info(client)
        attrs = request_attributes(kind, body)
        if _content.enabled():
            try:
                attrs.update(_content.input_attributes(kind, body))
            except Exception:
                log.debug("llm-otel could not record openai input messages", exc_info=True)
        if address:
            attrs[semconv.SERVER_ADDRESS] = address
        if port is not None:
            attrs[semconv.SERVER_PORT] = port
        raw = bool(_headers_get(options.headers, RAW_RESPONSE_HEADER))
        hide = False
        if stream and not raw and kind in ("chat", "completion") and include_usage_enabled():
            stream_options = body.get("stream_options")
            asked = _mapping(stream_options) and stream_options.get("include_usage") is True
            if not asked:
                options = with_include_usage(options, stream_options)
                hide = True
        return RequestPlan(operation, kind, provider, model, attrs, stream, raw, options, hide)
    except Exception:
        log.debug("llm-otel could not read an openai request; it goes on untraced", exc_info=True)
        return None


def _retrieve_plan(client: Any, options: Any, stream: bool, url: Any) -> RequestPlan | None:
    """``responses.retrieve(id)`` (GET ``/responses/{id}``, not streamed, not raw): how a background
    response's usage becomes known. Anything else: ``None`` (no span)."""
    if (
        type(url) is not str
        or not url.startswith(_RETRIEVE_PREFIX)
        or "/" in url[len(_RETRIEVE_PREFIX) :]
        or len(url) == len(_RETRIEVE_PREFIX)
        or options.method.lower() != "get"
        or stream
        or _headers_get(options.headers, RAW_RESPONSE_HEADER)
    ):
        return None
    provider, address, port = client_info(client)
    attrs: dict[str, AttributeValue] = {}
    if address:
        attrs[semconv.SERVER_ADDRESS] = address
    if port is not None:
        attrs[semconv.SERVER_PORT] = port
    return RequestPlan(semconv.OP_CHAT, "responses", provider, None, attrs, False, False, options, False, True)


_RETRIEVE_PREFIX = "/responses/"


def with_include_usage(options: Any, stream_options: Any) -> Any:
    """A copy of ``options`` whose body asks for the usage chunk; the caller's objects stay untouched.

    ``extra_body`` wins over the body when the client merges them, so the new
    ``stream_options`` goes there (a fresh dict), keeping the app's other stream options.
    """
    merged = dict(stream_options) if isinstance(stream_options, Mapping) else {}
    merged["include_usage"] = True
    extra = options.extra_json
    new_extra = dict(extra) if isinstance(extra, Mapping) else {}
    new_extra["stream_options"] = merged
    copy = options.model_copy() if hasattr(options, "model_copy") else options.copy()
    copy.extra_json = new_extra
    return copy
