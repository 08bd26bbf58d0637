"""Shared bits of the anthropic SDK tests: canned exchanges, clients on the replay server, span queries."""

from __future__ import annotations

import asyncio
import base64
import inspect
import json
import ssl
import struct
import threading
import warnings
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import anthropic
import httpx2
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from llm_otel import semconv
from replay import corpus
from replay.server import ReplayServer

SSL = ssl.create_default_context()  # one for all clients: loading the CA store costs ~120 ms per client

MODEL = "claude-opus-4-7"
REQUEST: dict[str, Any] = {"model": MODEL, "max_tokens": 64, "messages": [{"role": "user", "content": "hi"}]}


def sse(*events: dict[str, Any]) -> str:
    return "".join(f"event: {e['type']}\ndata: {json.dumps(e)}\n\n" for e in events)


MESSAGE_START = {
    "type": "message_start",
    "message": {
        "id": "msg_lifecycle",
        "type": "message",
        "role": "assistant",
        "model": MODEL,
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": {
            "input_tokens": 10,
            "cache_read_input_tokens": 5,
            "cache_creation_input_tokens": 3,
            "cache_creation": {"ephemeral_5m_input_tokens": 2, "ephemeral_1h_input_tokens": 1},
            "output_tokens": 1,
            "service_tier": "standard",
        },
    },
}
BLOCK_START = {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}
DELTAS = [
    {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": f"word{i} "}}
    for i in range(5)
]
BLOCK_STOP = {"type": "content_block_stop", "index": 0}
MESSAGE_DELTA = {
    "type": "message_delta",
    "delta": {"stop_reason": "end_turn", "stop_sequence": None},
    "usage": {"output_tokens": 42, "output_tokens_details": {"thinking_tokens": 7}},
}
MESSAGE_STOP = {"type": "message_stop"}

FULL_STREAM = sse(MESSAGE_START, BLOCK_START, *DELTAS, BLOCK_STOP, MESSAGE_DELTA, MESSAGE_STOP)
TRUNCATED_STREAM = sse(MESSAGE_START, BLOCK_START, *DELTAS)
FAILING_STREAM = sse(MESSAGE_START, BLOCK_START, *DELTAS[:2]) + (
    'event: error\ndata: {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}\n\n'
)
MESSAGE_JSON = json.dumps(
    {
        "id": "msg_json",
        "type": "message",
        "role": "assistant",
        "model": MODEL,
        "content": [{"type": "text", "text": '{"answer": 42}'}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": {
            "input_tokens": 10,
            "cache_read_input_tokens": 5,
            "cache_creation_input_tokens": 3,
            "cache_creation": {"ephemeral_5m_input_tokens": 2, "ephemeral_1h_input_tokens": 1},
            "output_tokens": 20,
            "service_tier": "priority",
        },
    }
)
COUNT_JSON = json.dumps({"input_tokens": 12})


def exchange(body: str, *, stream: bool, status: int = 200) -> dict[str, Any]:
    return {"status": status, "response_body": body, "stream": stream, "response_headers": {}}


def sync_client(base_url: str, **options: Any) -> anthropic.Anthropic:
    return anthropic.Anthropic(
        api_key="test-key", base_url=base_url, max_retries=0, http_client=httpx2.Client(verify=SSL), **options
    )


def async_client(base_url: str, **options: Any) -> anthropic.AsyncAnthropic:
    return anthropic.AsyncAnthropic(
        api_key="test-key",
        base_url=base_url,
        max_retries=0,
        http_client=httpx2.AsyncClient(verify=SSL),
        **options,
    )


def scope(span: ReadableSpan) -> str | None:
    return span.instrumentation_scope.name if span.instrumentation_scope else None


def usage_spans(spans: InMemorySpanExporter) -> list[ReadableSpan]:
    finished = spans.get_finished_spans()
    return [s for s in finished if any(k.startswith("gen_ai.usage.") for k in s.attributes or {})]


def our_spans(spans: InMemorySpanExporter) -> list[ReadableSpan]:
    return [s for s in spans.get_finished_spans() if scope(s) == semconv.INSTRUMENTATION_SCOPE]


def native_spans(spans: InMemorySpanExporter) -> list[ReadableSpan]:
    return [s for s in spans.get_finished_spans() if (scope(s) or "").startswith("com.anthropic.sdk")]


def only_our_span(spans: InMemorySpanExporter) -> ReadableSpan:
    """The one span of the call: ours, and no native one, and no other usage-bearing one."""
    ours = our_spans(spans)
    assert len(ours) == 1, [(s.name, scope(s)) for s in spans.get_finished_spans()]
    assert native_spans(spans) == []
    assert usage_spans(spans) in ([], ours)
    return ours[0]


# --- replaying a recorded exchange ---------------------------------------------------------------


def call_arguments(method: Any, ex: dict[str, Any]) -> dict[str, Any]:
    """``method``'s keyword arguments for the recorded request: unknown keys go in ``extra_body``."""
    request = dict(ex["request"] or {})
    params = inspect.signature(method).parameters
    kwargs: dict[str, Any] = {k: v for k, v in request.items() if k in params}
    extra = {k: v for k, v in request.items() if k not in params}
    if extra:
        kwargs["extra_body"] = extra
    for required, default in (("model", "unknown-model"), ("max_tokens", 1), ("messages", [])):
        if required in params:
            kwargs.setdefault(required, default)
    if "timeout" in params and not request.get("stream"):
        kwargs["timeout"] = 60.0  # else the SDK refuses a large max_tokens without streaming, client-side
    beta = ex["request_headers"].get("anthropic-beta")
    if "betas" in params and beta:
        kwargs["betas"] = [b.strip() for b in beta.split(",") if b.strip()]
    return kwargs


def resource(client: Any, ex: dict[str, Any]) -> Any:
    return client.beta.messages if ex["query"] == "beta=true" else client.messages


def replay_sync(srv: ReplayServer, key: str, ex: dict[str, Any], endpoint: str = "create") -> Any:
    client = sync_client(srv.base_url(key))
    try:
        method = getattr(resource(client, ex), endpoint)
        result = method(**call_arguments(method, ex))
        if ex["stream"] and endpoint == "create":
            for _ in result:
                pass
        return result
    finally:
        client.close()


async def replay_async(srv: ReplayServer, key: str, ex: dict[str, Any], endpoint: str = "create") -> Any:
    client = async_client(srv.base_url(key))
    try:
        method = getattr(resource(client, ex), endpoint)
        result = await method(**call_arguments(method, ex))
        if ex["stream"] and endpoint == "create":
            async for _ in result:
                pass
        return result
    finally:
        await client.close()


def replay(srv: ReplayServer, key: str, ex: dict[str, Any], endpoint: str = "create") -> Any:
    """Serves ``ex`` under ``key`` and makes its call: async client when it was recorded async."""
    srv.add(key, ex)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # recorded models the SDK now calls deprecated
        if corpus.is_async(ex):
            return asyncio.run(replay_async(srv, key, ex, endpoint))
        return replay_sync(srv, key, ex, endpoint)


# --- Bedrock streams: AWS event-stream frames over a real local HTTP server -------------------


def _aws_header(name: str, value: str) -> bytes:
    n, v = name.encode(), value.encode()
    return struct.pack(">B", len(n)) + n + b"\x07" + struct.pack(">H", len(v)) + v


def aws_event(event: Any) -> bytes:
    """One ``application/vnd.amazon.eventstream`` frame carrying ``event`` the way Bedrock sends it."""
    payload = json.dumps({"bytes": base64.b64encode(json.dumps(event).encode()).decode()}).encode()
    headers = (
        _aws_header(":event-type", "chunk")
        + _aws_header(":content-type", "application/json")
        + _aws_header(":message-type", "event")
    )
    prelude = struct.pack(">II", 12 + len(headers) + len(payload) + 4, len(headers))
    prelude += struct.pack(">I", zlib.crc32(prelude))
    message = prelude + headers + payload
    return message + struct.pack(">I", zlib.crc32(message))


BEDROCK_STREAM = b"".join(
    aws_event(e) for e in (MESSAGE_START, BLOCK_START, *DELTAS, BLOCK_STOP, MESSAGE_DELTA, MESSAGE_STOP)
)


@contextmanager
def binary_server(body: bytes, content_type: str) -> Iterator[str]:
    """A real local HTTP server answering every POST with ``body`` (the replay server serves text only)."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("content-length") or 0))
            self.send_response(200)
            self.send_header("content-type", content_type)
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
