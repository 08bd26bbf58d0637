"""OTLP/HTTP: ``POST /v1/traces`` in protobuf or JSON, gzip-compressed or not, per the OTLP specification.

Answers: 200 with ``ExportTraceServiceResponse`` (``partial_success`` when spans were
rejected: their count and reasons, the rest kept); 400 with a ``google.rpc.Status`` saying
what is wrong with the body; 413 when the body, or what it inflates to, is over the cap;
401 without the configured bearer token; 429 (queue full) or 503 (ledger failing,
shutting down) with ``Retry-After``. Success is sent only after the rows are durable.
"""

from __future__ import annotations

import hmac
import logging
import time

from google.protobuf import json_format
from google.protobuf.message import Message
from google.rpc import status_pb2
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

from llm_otel.processor.decode import BadRequest, TooLarge, decode_body
from llm_otel.processor.http11 import Request, Response
from llm_otel.processor.metrics import ProcessorMetrics
from llm_otel.processor.pipeline import Overloaded, Pipeline, Unavailable

log = logging.getLogger("llm_otel.processor.http")

TRACES_PATH = "/v1/traces"
PROTOBUF = "application/x-protobuf"
JSON = "application/json"

# google.rpc.Code values used in error bodies
_INVALID_ARGUMENT, _UNAUTHENTICATED, _RESOURCE_EXHAUSTED, _UNAVAILABLE = 3, 16, 8, 14


class OtlpHttpHandler:
    def __init__(
        self,
        pipeline: Pipeline,
        metrics: ProcessorMetrics,
        *,
        max_decompressed_bytes: int,
        auth_token: str | None = None,
        retry_after_s: int = 1,
    ) -> None:
        self.pipeline = pipeline
        self.metrics = metrics
        self.limit = max_decompressed_bytes
        self.expected_auth = f"Bearer {auth_token}".encode() if auth_token else None
        self.retry_after_s = retry_after_s

    async def __call__(self, req: Request) -> Response:
        t0 = time.perf_counter()
        resp, outcome = await self._handle(req)
        self.metrics.request_duration.labels("http", outcome).observe(time.perf_counter() - t0)
        return resp

    async def _handle(self, req: Request) -> tuple[Response, str]:
        if req.path != TRACES_PATH:
            return Response(404, f"not found; OTLP traces go to POST {TRACES_PATH}\n".encode()), "invalid"
        json_out = req.headers.get("content-type", "").split(";", 1)[0].strip().lower() == JSON
        if req.method != "POST":
            return self._status(405, 3, "use POST", json_out), "invalid"
        if self.expected_auth is not None:
            got = req.headers.get("authorization", "").encode("latin-1", "replace")
            if not hmac.compare_digest(got, self.expected_auth):
                return self._status(401, _UNAUTHENTICATED, "missing or wrong bearer token", json_out), "unauthenticated"
        try:
            decoded = decode_body(
                req.body, req.headers.get("content-type", ""), req.headers.get("content-encoding", ""), self.limit
            )
        except TooLarge as exc:
            return self._status(413, _INVALID_ARGUMENT, str(exc), json_out), "too_large"
        except BadRequest as exc:
            return self._status(400, _INVALID_ARGUMENT, str(exc), json_out), "invalid"
        try:
            result = await self.pipeline.ingest(decoded, "http")
        except Overloaded as exc:
            return self._retry(429, _RESOURCE_EXHAUSTED, str(exc), json_out), "throttled"
        except Unavailable as exc:
            return self._retry(503, _UNAVAILABLE, str(exc), json_out), "error"
        out = ExportTraceServiceResponse()
        if result.rejected:
            out.partial_success.rejected_spans = result.rejected
            out.partial_success.error_message = result.message
        return self._message(200, out, json_out), "partial" if result.rejected else "ok"

    def _message(
        self, status: int, msg: Message, json_out: bool, headers: list[tuple[str, str]] | None = None
    ) -> Response:
        if json_out:
            body = json_format.MessageToJson(msg, indent=None).encode()
            return Response(status, body, JSON, headers or [])
        return Response(status, msg.SerializeToString(), PROTOBUF, headers or [])

    def _status(self, http: int, code: int, message: str, json_out: bool) -> Response:
        return self._message(http, status_pb2.Status(code=code, message=message), json_out)

    def _retry(self, http: int, code: int, message: str, json_out: bool) -> Response:
        return self._message(
            http, status_pb2.Status(code=code, message=message), json_out, [("Retry-After", str(self.retry_after_s))]
        )
