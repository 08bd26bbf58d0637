"""Hand-built OTLP requests (protobuf messages) for tests that need exact control over every field."""

from __future__ import annotations

import os
import time
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from llm_otel import semconv


def kv(key: str, value: Any) -> KeyValue:
    v = AnyValue()
    if isinstance(value, bool):
        v.bool_value = value
    elif isinstance(value, int):
        v.int_value = value
    elif isinstance(value, float):
        v.double_value = value
    else:
        v.string_value = str(value)
    return KeyValue(key=key, value=v)


def call_span(
    *,
    model: str = "gpt-4o-mini",
    provider: str = "openai",
    input_tokens: int = 1000,
    output_tokens: int = 100,
    team: str | None = "secops",
    task_id: str | None = None,
    trace_id: bytes | None = None,
    span_id: bytes | None = None,
    response_id: str | None = None,
    **extra: Any,
) -> Span:
    now = time.time_ns()
    attrs = {
        semconv.GEN_AI_OPERATION_NAME: "chat",
        semconv.GEN_AI_PROVIDER_NAME: provider,
        semconv.GEN_AI_REQUEST_MODEL: model,
        semconv.GEN_AI_RESPONSE_MODEL: model,
        semconv.GEN_AI_USAGE_INPUT_TOKENS: input_tokens,
        semconv.GEN_AI_USAGE_OUTPUT_TOKENS: output_tokens,
        **extra,
    }
    if team is not None:
        attrs[semconv.TEAM] = team
    if task_id is not None:
        attrs[semconv.TASK_ID] = task_id
        attrs[semconv.TASK_TYPE] = "fuzz"
    if response_id is not None:
        attrs[semconv.GEN_AI_RESPONSE_ID] = response_id
    return Span(
        trace_id=trace_id if trace_id is not None else os.urandom(16),
        span_id=span_id if span_id is not None else os.urandom(8),
        name=f"chat {model}",
        kind=Span.SPAN_KIND_CLIENT,
        start_time_unix_nano=now - 1_000_000,
        end_time_unix_nano=now,
        attributes=[kv(k, v) for k, v in attrs.items()],
    )


def request(*spans: Span, scope: str = semconv.INSTRUMENTATION_SCOPE) -> ExportTraceServiceRequest:
    req = ExportTraceServiceRequest()
    rs = req.resource_spans.add()
    rs.resource.attributes.append(kv("service.name", "fuzz"))
    ss = rs.scope_spans.add()
    ss.scope.name = scope
    ss.spans.extend(spans)
    return req
