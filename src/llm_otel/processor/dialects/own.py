"""Dialect ``llm_otel``: the spans of llm-otel's own SDK (scope ``llm_otel``).

The contract is ``llm_otel.semconv`` (see DESIGN.md, "Span attributes"): GenAI
conventions with input INCLUSIVE of cache reads and writes, plus our namespace for
cache-write TTL splits, Anthropic ``usage.iterations`` and the task span.

- ``llm_otel.task {type}`` (INTERNAL, ``llm_otel.task.*``) -> ``TaskSpanRecord``; it is
  never priced, whatever it carries.
- a span with a leaf ``gen_ai.operation.name`` (chat, text_completion, embeddings,
  generate_content) -> ``CallRecord``.
- ``llm_otel.skip_unchanged`` (INTERNAL, ``llm_otel.avoided.*``) -> ``AvoidedRecord``: a call
  the SDK did not make because its input had not changed; never priced.
- anything else (agent scopes, ...) -> None.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from decimal import Decimal
from typing import Any, Final

from llm_otel import semconv
from llm_otel.processor.dialects import common
from llm_otel.processor.errors import MalformedSpan
from llm_otel.processor.record import AvoidedRecord, CallRecord, TaskSpanRecord

DIALECT: Final = "llm_otel"

_TASK_PREFIX: Final = semconv.TASK_SPAN_NAME_PREFIX
#: The span ``llm_otel.sdk.unchanged`` emits for a skipped run (pinned equal by a test).
AVOIDED_SPAN_NAME: Final = "llm_otel.skip_unchanged"
_AVOIDED = semconv.AVOIDED_PREFIX
MAX_AVOIDED_COUNT: Final = 10**15  # calls/tokens of one skipped run: past this it cannot be true
MAX_AVOIDED_USD: Final = 1e9


def is_task_span(span: Any, attrs: Mapping[str, object]) -> bool:
    """``llm_otel.task {type}``: the span ``llm_otel.task()`` ends when the task ends."""
    name: str = span.name
    if semconv.TASK_STATUS in attrs:
        return True
    return name.startswith(_TASK_PREFIX) and (len(name) == len(_TASK_PREFIX) or name[len(_TASK_PREFIX)] == " ")


def read(
    span: Any, attrs: Mapping[str, object], resource: Mapping[str, object]
) -> CallRecord | TaskSpanRecord | AvoidedRecord | None:
    """The record of one of our spans, or None when it is neither a call, a task span nor a skipped run."""
    if span.name == AVOIDED_SPAN_NAME:
        return read_avoided_span(span, attrs, resource)
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


def _avoided_count(attrs: Mapping[str, object], name: str) -> int:
    key = _AVOIDED + name
    value = attrs.get(key)
    if value is None:
        return 0
    if type(value) is float and value.is_integer():
        value = int(value)
    if type(value) is not int or not 0 <= value <= MAX_AVOIDED_COUNT:
        raise MalformedSpan(f"{key} must be an integer >= 0, got {str(value)[:40]!r}", attribute=key)
    return value


def read_avoided_span(span: Any, attrs: Mapping[str, object], resource: Mapping[str, object]) -> AvoidedRecord:
    """The skip span as an ``AvoidedRecord``; negative, fractional or non-finite amounts are malformed."""
    key = _AVOIDED + "cost_usd"
    cost = attrs.get(key, 0.0)
    if isinstance(cost, bool) or not isinstance(cost, (int, float)) or not 0 <= cost <= MAX_AVOIDED_USD:
        raise MalformedSpan(f"{key} must be a finite number >= 0, got {str(cost)[:40]!r}", attribute=key)
    return AvoidedRecord(
        trace_id=span.trace_id.hex(),
        span_id=span.span_id.hex(),
        start_ns=span.start_time_unix_nano,
        task_id=common.text(attrs, semconv.TASK_ID),
        task_type=common.text(attrs, semconv.TASK_TYPE),
        team=common.text(attrs, semconv.TEAM) or common.text(resource, semconv.TEAM),
        calls=_avoided_count(attrs, "calls"),
        input_tokens=_avoided_count(attrs, "input_tokens"),
        output_tokens=_avoided_count(attrs, "output_tokens"),
        cache_read_tokens=_avoided_count(attrs, "cache_read.input_tokens"),
        # repr() is the shortest text that round-trips the float: 0.1 -> Decimal("0.1"), not 0.1000000000000000055...
        cost_usd=Decimal(repr(float(cost))) if cost else Decimal(0),
    )
