"""A real local HTTP server answering GET with constructed provider cost-report pages.

Routes are ``path -> [page, page, ...]``; the ``page`` query parameter picks one (``page_<n>``,
absent: the first), the way the providers' ``next_page`` cursors work. Every request is kept
(path, query, headers) for assertions.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: BillingServer

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        query = parse_qs(url.query)
        self.server.requests.append((url.path, query, {k.lower(): v for k, v in self.headers.items()}))
        pages = self.server.routes.get(url.path)
        if pages is None:
            self._send(404, {"error": {"type": "not_found_error", "message": f"no route {url.path}"}})
            return
        index = int(query.get("page", ["page_0"])[0].removeprefix("page_"))
        self._send(200, pages[index])

    def _send(self, status: int, doc: Any) -> None:
        payload = (doc if isinstance(doc, str) else json.dumps(doc)).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


class BillingServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.routes: dict[str, list[Any]] = {}
        self.requests: list[tuple[str, dict[str, list[str]], dict[str, str]]] = []
        self._thread = threading.Thread(target=self.serve_forever, daemon=True)

    def __enter__(self) -> BillingServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()
        self.server_close()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"
