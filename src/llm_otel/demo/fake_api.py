"""A local fake of the OpenAI and Anthropic HTTP APIs for the demo and the examples.

Responses are shaped like the real ones (the real ``openai`` and ``anthropic`` clients
parse them), and their usage is computed from the request: input from the serialized
context with tool definitions included, prompt caching modelled (Anthropic
``cache_control`` breakpoints write and later read a prefix; OpenAI caches a repeated
prefix of at least 1,024 tokens automatically), streaming supported.

Failure injection for retry loops: a request with header ``x-fake-fail: <status>`` is
answered with that HTTP error status.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from llm_otel.demo.tokens import PrefixCache, count_tokens, output_tokens_for, serialize

_WORDS = ("the", "agent", "reviewed", "policy", "and", "found", "no", "issue", "with", "scope", "access", "data")


def _text(n_tokens: int, seed: str) -> str:
    h = int.from_bytes(hashlib.blake2b(seed.encode(), digest_size=4).digest(), "big")
    return " ".join(_WORDS[(h + i) % len(_WORDS)] for i in range(max(1, n_tokens)))


def _id(prefix: str, seed: str) -> str:
    return prefix + hashlib.blake2b(seed.encode(), digest_size=12).hexdigest()


class FakeAPI:
    """The request -> response logic, independent of HTTP (one instance per server)."""

    def __init__(self) -> None:
        self.cache = PrefixCache()
        self._counter = 0
        self._lock = threading.Lock()

    def _seq(self) -> int:
        with self._lock:
            self._counter += 1
            return self._counter

    # --- OpenAI -------------------------------------------------------------------
    def openai_chat(self, req: dict[str, Any]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """(final completion, stream chunks) for a chat.completions request."""
        model = str(req.get("model", "gpt-4o-mini"))
        prompt = serialize({"tools": req.get("tools"), "messages": req.get("messages")})
        input_tokens = count_tokens(prompt)
        cached = self.cache.openai_cached_tokens(f"openai:{model}", prompt)
        seed = f"{prompt}#{self._seq()}"
        output = output_tokens_for(req, seed)
        cid = _id("chatcmpl-", seed)
        text = _text(output, seed)
        usage = {
            "prompt_tokens": input_tokens,
            "completion_tokens": output,
            "total_tokens": input_tokens + output,
            "prompt_tokens_details": {"cached_tokens": cached, "audio_tokens": 0},
            "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0},
        }
        created = int(time.time())
        snapshot = model if "-20" in model else f"{model}-2024-07-18"
        completion = {
            "id": cid,
            "object": "chat.completion",
            "created": created,
            "model": snapshot,
            "choices": [
                {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}
            ],
            "usage": usage,
            "service_tier": "default",
        }
        base = {"id": cid, "object": "chat.completion.chunk", "created": created, "model": snapshot}
        words = text.split(" ")
        chunks = [{**base, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}]}]
        for i in range(0, len(words), 8):
            piece = " ".join(words[i : i + 8]) + " "
            chunks.append({**base, "choices": [{"index": 0, "delta": {"content": piece}}]})
        chunks.append({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
        if (req.get("stream_options") or {}).get("include_usage"):
            chunks.append({**base, "choices": [], "usage": usage})
        return completion, chunks

    def openai_embeddings(self, req: dict[str, Any]) -> dict[str, Any]:
        inputs = req.get("input")
        items = inputs if isinstance(inputs, list) else [inputs]
        tokens = sum(count_tokens(str(x)) for x in items)
        return {
            "object": "list",
            "data": [{"object": "embedding", "index": i, "embedding": [0.0] * 8} for i in range(len(items))],
            "model": str(req.get("model", "text-embedding-3-small")),
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
        }

    # --- Anthropic ----------------------------------------------------------------
    def anthropic_messages(self, req: dict[str, Any]) -> tuple[dict[str, Any], list[tuple[str, dict[str, Any]]]]:
        """(final message, stream events) for a messages request."""
        model = str(req.get("model", "claude-haiku-4-5"))
        # Anthropic's cache order: tools, then system, then messages.
        parts: list[Any] = []
        prefixes: list[str] = []

        def visit(part: Any) -> None:
            parts.append(part)
            if isinstance(part, dict) and part.get("cache_control"):
                prefixes.append(serialize(parts))

        for tool in req.get("tools") or []:
            visit(tool)
        system = req.get("system")
        if isinstance(system, list):
            for block in system:
                visit(block)
        elif system:
            visit(system)
        for msg in req.get("messages") or []:
            content = msg.get("content") if isinstance(msg, dict) else None
            if isinstance(content, list):
                for block in content:
                    visit(block)
            else:
                visit(msg)
        total = count_tokens(serialize(parts))
        read, write = self.cache.anthropic_cache(f"anthropic:{model}", prefixes)
        uncached = max(0, total - read - write)
        seed = f"{serialize(parts)}#{self._seq()}"
        output = output_tokens_for(req, seed)
        mid = _id("msg_", seed)
        text = _text(output, seed)
        usage = {
            "input_tokens": uncached,
            "cache_creation_input_tokens": write,
            "cache_read_input_tokens": read,
            "cache_creation": {"ephemeral_5m_input_tokens": write, "ephemeral_1h_input_tokens": 0},
            "output_tokens": output,
            "service_tier": "standard",
        }
        message = {
            "id": mid,
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": [{"type": "text", "text": text}],
            "stop_reason": "end_turn",
            "stop_sequence": None,
            "usage": usage,
        }
        start_usage = {**usage, "output_tokens": 1}
        events: list[tuple[str, dict[str, Any]]] = [
            ("message_start", {"type": "message_start", "message": {**message, "content": [], "stop_reason": None,
                                                                    "usage": start_usage}}),
            ("content_block_start",
             {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
        ]
        words = text.split(" ")
        for i in range(0, len(words), 8):
            events.append(("content_block_delta", {"type": "content_block_delta", "index": 0,
                                                   "delta": {"type": "text_delta",
                                                             "text": " ".join(words[i : i + 8]) + " "}}))
        events.append(("content_block_stop", {"type": "content_block_stop", "index": 0}))
        events.append(("message_delta", {"type": "message_delta",
                                         "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                                         "usage": {"output_tokens": output}}))
        events.append(("message_stop", {"type": "message_stop"}))
        return message, events


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # else every small response waits ~40 ms for the client's delayed ACK
    server: FakeAPIServer

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        try:
            req = json.loads(self.rfile.read(length) or b"{}")
        except ValueError:
            self._json(400, {"error": {"type": "invalid_request_error", "message": "body is not JSON"}})
            return
        fail = self.headers.get("x-fake-fail")
        if fail:
            status = int(fail)
            self._json(status, {"type": "error", "error": {"type": "api_error", "message": "injected failure"}})
            return
        api = self.server.api
        path = self.path.split("?", 1)[0]
        if path.endswith("/chat/completions"):
            completion, chunks = api.openai_chat(req)
            if req.get("stream"):
                self._sse(f"data: {json.dumps(c)}\n\n" for c in [*chunks, None] if c is not None)
                return
            self._json(200, completion)
        elif path.endswith("/embeddings"):
            self._json(200, api.openai_embeddings(req))
        elif path.endswith("/messages"):
            message, events = api.anthropic_messages(req)
            if req.get("stream"):
                self._sse(f"event: {name}\ndata: {json.dumps(data)}\n\n" for name, data in events)
                return
            self._json(200, message)
        else:
            self._json(404, {"error": {"type": "not_found_error", "message": f"no route {path}"}})

    def _json(self, status: int, body: dict[str, Any]) -> None:
        payload = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def _sse(self, events: Iterator[str]) -> None:
        body = "".join(events)
        if self.path.split("?", 1)[0].endswith("/chat/completions"):
            body += "data: [DONE]\n\n"
        payload = body.encode()
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.send_header("content-length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


class FakeAPIServer(ThreadingHTTPServer):
    """Serves the fake API on 127.0.0.1 (port 0 picks a free one) from a background thread."""

    daemon_threads = True

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        super().__init__((host, port), _Handler)
        self.api = FakeAPI()
        self._thread = threading.Thread(target=self.serve_forever, name="llm-otel-fake-api", daemon=True)

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> FakeAPIServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.shutdown()
        self.server_close()

    def __enter__(self) -> FakeAPIServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
