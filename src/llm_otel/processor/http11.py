"""A small asyncio HTTP/1.1 server: just what OTLP/HTTP and /metrics need, with hard limits.

Keep-alive, Content-Length and chunked bodies, ``Expect: 100-continue``. Limits are checked
before memory is committed: headers (64 KiB), bodies (``max_body``: a larger
Content-Length is answered 413 without reading it). Tracks in-flight requests so that
shutdown can stop accepting, let them finish, and close idle connections.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

log = logging.getLogger("llm_otel.processor.http")

MAX_HEADER_BYTES = 64 * 1024
IDLE_TIMEOUT_S = 120.0  # a keep-alive connection with no new request is closed after this
BODY_TIMEOUT_S = 120.0  # a body must arrive within this (slow senders cannot hold requests open forever)
REASONS = {
    200: "OK", 400: "Bad Request", 401: "Unauthorized", 404: "Not Found", 405: "Method Not Allowed",
    413: "Payload Too Large", 415: "Unsupported Media Type", 429: "Too Many Requests",
    500: "Internal Server Error", 503: "Service Unavailable",
}  # fmt: skip


@dataclass(slots=True)
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes = b""


@dataclass(slots=True)
class Response:
    status: int
    body: bytes = b""
    content_type: str = "text/plain; charset=utf-8"
    headers: list[tuple[str, str]] = field(default_factory=list)


Handler = Callable[[Request], Awaitable[Response]]


class _Close(Exception):
    pass


class HttpServer:
    def __init__(self, handler: Handler, *, max_body: int, ssl_context: ssl.SSLContext | None = None) -> None:
        self.handler = handler
        self.max_body = max_body
        self.ssl_context = ssl_context
        self._server: asyncio.Server | None = None
        self._in_flight = 0
        self._idle: set[asyncio.StreamWriter] = set()
        self._drained = asyncio.Event()
        self._drained.set()
        self._closing = False

    async def start(self, host: str, port: int) -> int:
        """Listen; returns the bound port (``port`` 0 picks a free one)."""
        self._server = await asyncio.start_server(
            self._connection, host, port, limit=MAX_HEADER_BYTES, ssl=self.ssl_context, reuse_address=True
        )
        return int(self._server.sockets[0].getsockname()[1])

    async def close(self, timeout: float) -> None:
        """Stop accepting; let in-flight requests finish (up to ``timeout``); close idle connections."""
        self._closing = True
        if self._server is not None:
            self._server.close()
        for w in list(self._idle):
            w.close()
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self._drained.wait(), timeout)

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while not self._closing:
                self._idle.add(writer)
                try:
                    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), IDLE_TIMEOUT_S)
                finally:
                    self._idle.discard(writer)
                keep_alive = await self._one(head, reader, writer)
                if not keep_alive:
                    break
        except (
            asyncio.IncompleteReadError,
            asyncio.LimitOverrunError,
            asyncio.TimeoutError,
            ConnectionError,
            _Close,
            ssl.SSLError,
        ):
            pass
        except Exception:
            log.exception("HTTP connection failed")
        finally:
            with contextlib.suppress(Exception):
                writer.close()

    async def _one(self, head: bytes, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        try:
            lines = head.decode("latin-1").split("\r\n")
            method, target, version = lines[0].split(" ", 2)
        except ValueError:
            await self._send(writer, Response(400, b"malformed request line\n"), False)
            return False
        headers: dict[str, str] = {}
        for line in lines[1:]:
            if not line:
                continue
            name, sep, value = line.partition(":")
            if not sep:
                await self._send(writer, Response(400, b"malformed header line\n"), False)
                return False
            headers[name.strip().lower()] = value.strip()
        keep_alive = version == "HTTP/1.1" and headers.get("connection", "").lower() != "close"
        self._in_flight += 1
        self._drained.clear()
        try:
            try:
                body = await asyncio.wait_for(self._body(headers, reader, writer), BODY_TIMEOUT_S)
            except _TooLarge as exc:
                await self._send(writer, Response(413, f"{exc}\n".encode()), False)
                return False
            except ValueError as exc:
                await self._send(writer, Response(400, f"{exc}\n".encode()), False)
                return False
            path = target.split("?", 1)[0]
            try:
                resp = await self.handler(Request(method.upper(), path, headers, body))
            except Exception:
                log.exception("HTTP handler failed")
                resp = Response(500, b"internal error\n")
            await self._send(writer, resp, keep_alive)
            return keep_alive
        finally:
            self._in_flight -= 1
            if self._in_flight == 0:
                self._drained.set()

    async def _body(self, headers: dict[str, str], reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bytes:
        length = headers.get("content-length")
        if length is not None and length.isdigit() and int(length) > self.max_body:
            raise _TooLarge(
                f"body of {length} bytes is larger than the {self.max_body} bytes accepted; send smaller batches"
            )
        if headers.get("expect", "").lower() == "100-continue":
            writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        if "chunked" in headers.get("transfer-encoding", "").lower():
            parts: list[bytes] = []
            total = 0
            while True:
                size_line = await reader.readuntil(b"\r\n")
                try:
                    size = int(size_line.split(b";", 1)[0].strip(), 16)
                except ValueError:
                    raise ValueError("malformed chunk size") from None
                if size == 0:
                    while (await reader.readuntil(b"\r\n")) != b"\r\n":
                        pass
                    return b"".join(parts)
                total += size
                if total > self.max_body:
                    raise _TooLarge(f"body larger than {self.max_body} bytes")
                parts.append(await reader.readexactly(size))
                await reader.readexactly(2)
        if length is None:
            return b""
        if not length.isdigit():
            raise ValueError("malformed Content-Length")
        n = int(length)
        return await reader.readexactly(n) if n else b""

    async def _send(self, writer: asyncio.StreamWriter, resp: Response, keep_alive: bool) -> None:
        head = [
            f"HTTP/1.1 {resp.status} {REASONS.get(resp.status, 'Status')}",
            f"Content-Type: {resp.content_type}",
            f"Content-Length: {len(resp.body)}",
            f"Connection: {'keep-alive' if keep_alive else 'close'}",
        ]
        head.extend(f"{k}: {v}" for k, v in resp.headers)
        writer.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + resp.body)
        await writer.drain()


class _TooLarge(ValueError):
    pass
