"""Dialect ``llm_otel``: the spans of llm-otel's own SDK (scope ``llm_otel``).

The contract is ``llm_otel.semconv`` (see DESIGN.md, "Span attributes"): GenAI
conventions with input INCLUSIVE of cache reads and writes, plus our namespace for
cache-write TTL splits, Anthropic ``usage.iterations`` and the task span.

- ``llm_otel.task {type}`` (INTERNAL, ``llm_otel.task.*``) -> ``TaskSpanRecord``; it is
  never priced, whatever it carries.
- a span with a leaf ``gen_ai.operation.name`` (chat, text_completion, embeddings,
  generate_content) -> ``CallRecord``.
- anything else (agent scopes, ...) -> None.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, Final

from llm_otel import semconv
from llm_otel.processor.dialects import common
from llm_otel.processor.errors import MalformedSpan
from llm_otel.processor.record import CallRecord, TaskSpanRecord

DIALECT: Final = "llm_otel"

_TASK_PREFIX: Final = semconv.TASK_SPAN_NAME_PREFIX


def is_task_span(span: Any, attrs: Mapping[str, object]) -> bool:
    """``llm_otel.task {type}``: the span ``llm_otel.task()`` ends when the task ends."""
    name: str = span.name
    if semconv.TASK_STATUS in attrs:
        return True
    return name.startswith(_TASK_PREFIX) and (len(name) == len(_TASK_PREFIX) or name[len(_TASK_PREFIX)] == " ")


def read(span: Any, attrs: Mapping[str, object], resource: Mapping[str, object]) -> CallRecord | TaskSpanRecord | None:
    """The record of one of our spans, or None when it is neither a call nor a task span."""
    if is_task_span(span, attrs):
        return read_task_span(span, attrs, resource)
    operation = common.leaf_operation(attrs.get(semconv.GEN_AI_OPERATION_NAME))
    if operation is None:
        return None
    flags: list[str] = []
    t = common.tokens
    usage = common.make_usage(
        input_tokens=t(attrs, semconv.GEN_AI_USAGE_INPUT_TOKENS),
        output_tokens=t(attrs, semconv.GEN_AI_USAGE_OUTPUT_TOKENS),
        cache_read=t(attrs, semconv.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS),
        cache_write=t(attrs, semconv.GEN_AI_USAGE_CACHE_WRITE_INPUT_TOKENS),
        reasoning=t(attrs, semconv.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS),
        cache_write_5m=t(attrs, semconv.USAGE_CACHE_WRITE_5M),
        cache_write_1h=t(attrs, semconv.USAGE_CACHE_WRITE_1H),
        cache_write_30m=t(attrs, semconv.USAGE_CACHE_WRITE_30M),
        cache_write_12h=t(attrs, semconv.USAGE_CACHE_WRITE_12H),
        iterations=common.read_iterations(attrs),
        estimated=attrs.get(semconv.USAGE_ESTIMATED) is True,
        flags=flags,
    )
    request_model = common.text(attrs, semconv.GEN_AI_REQUEST_MODEL)
    response_model = common.text(attrs, semconv.GEN_AI_RESPONSE_MODEL)
    provider = common.provider_name(attrs.get(semconv.GEN_AI_PROVIDER_NAME)) or common.provider_from_model(
        response_model or request_model
    )
    complete = attrs.get(semconv.STREAM_COMPLETE)
    return common.call_record(
        span,
        attrs,
        resource,
        dialect=DIALECT,
        provider=provider,
        operation=operation,
        request_model=request_model,
        response_model=response_model,
        response_id=common.text(attrs, semconv.GEN_AI_RESPONSE_ID),
        usage=usage,
        flags=flags,
        service_tier=common.text(attrs, semconv.SERVICE_TIER),
        stream_complete=complete if type(complete) is bool else None,
    )


def read_task_span(span: Any, attrs: Mapping[str, object], resource: Mapping[str, object]) -> TaskSpanRecord:
    """The task span as a ``TaskSpanRecord``; without a task id it is malformed (the rollup could not use it)."""
    task_id = common.text(attrs, semconv.TASK_ID)
    if not task_id:
        raise MalformedSpan(f"task span {span.name[:80]!r} has no {semconv.TASK_ID}", attribute=semconv.TASK_ID)
    status = attrs.get(semconv.TASK_STATUS)
    if not isinstance(status, str) or not status:
        status = "error" if common.error_type(span, attrs) else "ok"
    budget = attrs.get(semconv.TASK_BUDGET_USD)
    if budget is not None and (
        isinstance(budget, bool) or not isinstance(budget, (int, float)) or not 0 <= budget < math.inf
    ):
        raise MalformedSpan(
            f"{semconv.TASK_BUDGET_USD} must be a finite number >= 0, got {str(budget)[:40]!r}",
            attribute=semconv.TASK_BUDGET_USD,
        )
    task_type = common.text(attrs, semconv.TASK_TYPE)
    if task_type is None and span.name.startswith(_TASK_PREFIX + " "):
        task_type = span.name[len(_TASK_PREFIX) + 1 :]
    return TaskSpanRecord(
        trace_id=span.trace_id.hex(),
        span_id=span.span_id.hex(),
        task_id=task_id,
        task_type=task_type,
        team=common.text(attrs, semconv.TEAM) or common.text(resource, semconv.TEAM),
        status=status.lower(),
        start_ns=span.start_time_unix_nano,
        end_ns=span.end_time_unix_nano,
        budget_usd=float(budget) if budget is not None else None,
    )
