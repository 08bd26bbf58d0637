"""A real local HTTP server that answers with recorded responses.

Each exchange gets its own URL prefix ``/x/<key>/``, so the server is stateless
and safe for concurrent (async) clients: point a client's ``base_url`` at
``server.base_url(key)`` (plus ``/v1`` for openai) after ``server.add(key, exchange)``.
The last request body received for each key is kept for assertions.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # else every small response waits ~40 ms for the client's delayed ACK
    server: ReplayServer  # type: ignore[assignment]

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(length) if length else b""
        parts = self.path.split("/", 3)  # ['', 'x', key, rest]
        ex = self.server.exchanges.get(parts[2]) if len(parts) > 3 and parts[1] == "x" else None
        if ex is None:
            self._send(404, "application/json", b'{"error": {"message": "no recording for this path"}}')
            return
        self.server.requests[parts[2]] = (self.path, dict(self.headers), body)
        ctype = (ex.get("response_headers") or {}).get("content-type") or (
            "text/event-stream" if ex.get("stream") else "application/json"
        )
        self._send(ex["status"], ctype, ex["response_body"].encode("utf-8"))

    def do_GET(self) -> None:  # e.g. responses.retrieve: answered like a POST, without a body
        self.do_POST()

    def _send(self, status: int, ctype: str, payload: bytes) -> None:
        self.send_response(status)
        self.send_header("content-type", ctype)
        self.send_header("content-length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


class ReplayServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.exchanges: dict[str, dict[str, Any]] = {}
        self.requests: dict[str, tuple[str, dict[str, str], bytes]] = {}
        self._thread = threading.Thread(target=self.serve_forever, daemon=True)

    def __enter__(self) -> ReplayServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()
        self.server_close()

    def add(self, key: str, exchange: dict[str, Any]) -> None:
        self.exchanges[key] = exchange

    def base_url(self, key: str) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/x/{key}"

    def request_json(self, key: str) -> Any:
        return json.loads(self.requests[key][2])
