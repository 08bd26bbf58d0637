"""OTLP/gRPC: ``opentelemetry.proto.collector.trace.v1.TraceService/Export`` on grpc.aio.

The receive limit is raised to 64 MiB (grpcio's 4 MiB default turns a large collector
batch into RESOURCE_EXHAUSTED that the sender retries forever, i.e. dropped data).
Backpressure is RESOURCE_EXHAUSTED (queue full) or UNAVAILABLE (ledger failing, draining)
with the retry delay twice: in ``google.rpc.retryinfo-bin`` (read by the Python SDK's
exporter) and as a ``google.rpc.Status`` detail in ``grpc-status-details-bin`` (read by Go
exporters and the OpenTelemetry Collector). Success is sent only after rows are durable.
"""

from __future__ import annotations

import hmac
import time
from typing import Any

import grpc
from google.protobuf import any_pb2, duration_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

from llm_otel.processor.decode import BadRequest, decode_protobuf
from llm_otel.processor.metrics import ProcessorMetrics
from llm_otel.processor.pipeline import Overloaded, Pipeline, Unavailable

SERVICE = "opentelemetry.proto.collector.trace.v1.TraceService"


def retry_trailers(code: grpc.StatusCode, message: str, delay_s: float) -> tuple[tuple[str, bytes], ...]:
    """Trailing metadata announcing a retry delay, in both places clients look for it."""
    delay = duration_pb2.Duration(seconds=int(delay_s), nanos=int((delay_s % 1) * 1e9))
    info = error_details_pb2.RetryInfo(retry_delay=delay)
    detail = any_pb2.Any()
    detail.Pack(info)
    status = status_pb2.Status(code=code.value[0], message=message, details=[detail])
    return (
        ("google.rpc.retryinfo-bin", info.SerializeToString()),
        ("grpc-status-details-bin", status.SerializeToString()),
    )


class OtlpGrpcService:
    def __init__(
        self,
        pipeline: Pipeline,
        metrics: ProcessorMetrics,
        *,
        auth_token: str | None = None,
        retry_after_s: int = 1,
    ) -> None:
        self.pipeline = pipeline
        self.metrics = metrics
        self.expected_auth = f"Bearer {auth_token}" if auth_token else None
        self.retry_after_s = retry_after_s
        assert grpc.StatusCode.RESOURCE_EXHAUSTED.value[0] == code_pb2.RESOURCE_EXHAUSTED

    def handler(self) -> grpc.GenericRpcHandler:
        return grpc.method_handlers_generic_handler(
            SERVICE, {"Export": grpc.unary_unary_rpc_method_handler(self.export)}
        )

    async def export(self, body: bytes, context: Any) -> bytes:
        t0 = time.perf_counter()
        outcome = ["error"]
        try:
            return await self._export(body, context, outcome)
        finally:
            self.metrics.request_duration.labels("grpc", outcome[0]).observe(time.perf_counter() - t0)

    async def _export(self, body: bytes, context: Any, outcome: list[str]) -> bytes:
        if self.expected_auth is not None:
            got = dict(context.invocation_metadata() or ()).get("authorization", "")
            if not isinstance(got, str) or not hmac.compare_digest(got.encode(), self.expected_auth.encode()):
                outcome[0] = "unauthenticated"
                await context.abort(grpc.StatusCode.UNAUTHENTICATED, "missing or wrong bearer token")
        try:
            decoded = decode_protobuf(body)
        except BadRequest as exc:
            outcome[0] = "invalid"
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        try:
            result = await self.pipeline.ingest(decoded, "grpc")
        except Overloaded as exc:
            outcome[0] = "throttled"
            await self._abort_retry(context, grpc.StatusCode.RESOURCE_EXHAUSTED, str(exc))
        except Unavailable as exc:
            await self._abort_retry(context, grpc.StatusCode.UNAVAILABLE, str(exc))
        out = ExportTraceServiceResponse()
        if result.rejected:
            out.partial_success.rejected_spans = result.rejected
            out.partial_success.error_message = result.message
        outcome[0] = "partial" if result.rejected else "ok"
        return out.SerializeToString()

    async def _abort_retry(self, context: Any, code: grpc.StatusCode, message: str) -> None:
        await context.abort(code, message, trailing_metadata=retry_trailers(code, message, self.retry_after_s))


def grpc_options(max_message_bytes: int) -> list[tuple[str, Any]]:
    return [
        ("grpc.max_receive_message_length", max_message_bytes),
        ("grpc.max_send_message_length", 16 * 1024 * 1024),
        ("grpc.so_reuseport", 0),
    ]
