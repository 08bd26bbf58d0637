"""Request-side span attributes of one Messages call, read from the SDK's ``FinalRequestOptions``.

Read before the SDK prepares the body, so ``json_data`` may hold ``omit`` sentinels and
one-shot iterables: only lists and tuples are counted, nothing is iterated or consumed.
``extra_body`` (``options.extra_json``) is merged in the SDK after this point, so a
parameter the method does not take (``temperature`` in anthropic 2.x) is looked up there too.

Hot path (per call; guarded by ``benchmarks/sdk_overhead.py``): a handful of dict lookups.
The serialized size of the tool definitions is the only costly part, so it is cached for
the last tools list seen (agents re-send the same list object on every turn).
"""

from __future__ import annotations

import contextlib
import json
import threading
from typing import Any

from opentelemetry.util.types import AttributeValue

from llm_otel import semconv
from llm_otel.sdk import content
from llm_otel.sdk.anthropic import content as anthropic_content

Attributes = dict[str, AttributeValue]

MESSAGES_CREATE_SPAN_NAME = "anthropic.messages.create"
"""``options.span_name`` of every call that creates a Message: create, stream(), parse, beta too."""

_NUMBER_PARAMS = (
    ("temperature", semconv.GEN_AI_REQUEST_TEMPERATURE),
    ("top_p", semconv.GEN_AI_REQUEST_TOP_P),
)

_tools_lock = threading.Lock()
_last_tools: tuple[Any, int, int] | None = None  # (tools object, its length, its serialized size)


def tools_bytes(tools: list[Any] | tuple[Any, ...]) -> int | None:
    """Serialized size (compact JSON, UTF-8) of the tool definitions; cached for the last list seen.

    ``None`` when they cannot be serialized (never raises).
    """
    global _last_tools
    cached = _last_tools
    if cached is not None and cached[0] is tools and cached[1] == len(tools):
        return cached[2]
    try:
        size = len(json.dumps(tools, separators=(",", ":"), ensure_ascii=False, default=str).encode("utf-8"))
    except Exception:
        return None
    with _tools_lock:
        _last_tools = (tools, len(tools), size)
    return size


def request_attributes(client: Any, options: Any, stream: bool) -> tuple[str | None, Attributes]:
    """The request model and the attributes our span starts with. May raise; the caller catches."""
    body = options.json_data
    if not isinstance(body, dict):
        body = {}
    extra = options.extra_json
    attrs: dict[str, AttributeValue] = {}
    model = body.get("model")
    if not isinstance(model, str):
        model = None
    max_tokens = body.get("max_tokens")
    if isinstance(max_tokens, int) and not isinstance(max_tokens, bool):
        attrs[semconv.GEN_AI_REQUEST_MAX_TOKENS] = max_tokens
    extra_dict = extra if isinstance(extra, dict) else None
    for key, name in _NUMBER_PARAMS:
        value = body.get(key)
        if value is None and extra_dict is not None:
            value = extra_dict.get(key)
        if value is not None and isinstance(value, (int, float)) and not isinstance(value, bool):
            attrs[name] = float(value)
    stop = body.get("stop_sequences")
    if isinstance(stop, (list, tuple)) and all(isinstance(s, str) for s in stop):
        attrs[semconv.GEN_AI_REQUEST_STOP_SEQUENCES] = tuple(stop)  # a tuple: what the SDK stores for a list
    attrs[semconv.GEN_AI_REQUEST_STREAM] = bool(stream)
    messages = body.get("messages")
    if isinstance(messages, (list, tuple)):
        attrs[semconv.REQUEST_MESSAGES_COUNT] = len(messages)
    tools = body.get("tools")
    if isinstance(tools, (list, tuple)):
        attrs[semconv.REQUEST_TOOLS_COUNT] = len(tools)
        size = tools_bytes(tools) if tools else None
        if size is not None:
            attrs[semconv.REQUEST_TOOLS_BYTES] = size
    if content.capture_content():  # opted in: gen_ai.input.messages, gen_ai.system_instructions
        # Content is optional: if it cannot be read, the call and its counts are recorded without it.
        with contextlib.suppress(Exception):
            attrs.update(anthropic_content.input_attributes(body))
    host, port = _server(client.base_url)
    if host:
        attrs[semconv.SERVER_ADDRESS] = host
        attrs[semconv.SERVER_PORT] = port
    return model, attrs


_last_server: tuple[Any, str, int] | None = None  # (base URL object, host, port) of the last call


def _server(url: Any) -> tuple[str, int]:
    """``server.address`` and ``server.port`` of a base URL; kept for the last URL object seen
    (httpx URLs are immutable, and a client keeps its own), since each property parses."""
    global _last_server
    last = _last_server
    if last is not None and last[0] is url:
        return last[1], last[2]
    host = url.host
    port = url.port or (80 if url.scheme == "http" else 443)
    _last_server = (url, host, port)
    return host, port
