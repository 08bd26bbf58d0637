"""Dialect ``anthropic_native``: the spans the ``anthropic`` SDK (2.x) records itself.

Scope ``com.anthropic.sdk.python`` (``com.anthropic.sdk.python.<platform>`` for the
Bedrock/Vertex clients, whose ``gen_ai.provider.name`` says ``aws.bedrock`` /
``gcp.vertex_ai``). Read from ``anthropic/_tracing.py`` (``SPAN_ATTRIBUTES``) and
``anthropic/lib/_tracing/_response.py`` (``set_usage_sums``), anthropic 2.14.0:

- only ``anthropic.messages.create`` is an inference call. ``anthropic.messages.count_tokens``
  counts a prompt (``anthropic.message.count_tokens.input_tokens``) and bills nothing;
  sessions, tool and environment-work spans carry no usage. All -> None.
- ``gen_ai.usage.input_tokens`` is INCLUSIVE: the SDK sets it to
  ``input_tokens + cache_read_input_tokens + cache_creation_input_tokens``.
- cache writes: ``gen_ai.usage.cache_write.input_tokens`` with the TTL split under
  ``anthropic.usage.cache_creation.ephemeral_{5m,1h}_input_tokens``.
- ``gen_ai.usage.reasoning.output_tokens`` from ``output_tokens_details.thinking_tokens``.
- compaction iterations (billed, outside the top-level usage):
  ``anthropic.usage.compaction.{input,output}_tokens``, input inclusive of cache.
- ``anthropic.response.service_tier`` is the tier that served the call.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from llm_otel import semconv
from llm_otel.pricing.usage import IterationUsage
from llm_otel.processor.dialects import common
from llm_otel.processor.record import CallRecord

DIALECT: Final = "anthropic_native"
SCOPE: Final = "com.anthropic.sdk.python"

MESSAGES_CREATE: Final = "anthropic.messages.create"
CACHE_WRITE_5M: Final = "anthropic.usage.cache_creation.ephemeral_5m_input_tokens"
CACHE_WRITE_1H: Final = "anthropic.usage.cache_creation.ephemeral_1h_input_tokens"
COMPACTION_INPUT: Final = "anthropic.usage.compaction.input_tokens"
COMPACTION_OUTPUT: Final = "anthropic.usage.compaction.output_tokens"
RESPONSE_SERVICE_TIER: Final = "anthropic.response.service_tier"


def read(span: Any, attrs: Mapping[str, object], resource: Mapping[str, object]) -> CallRecord | None:
    """The record of an ``anthropic.messages.create`` span; None for the SDK's other spans."""
    if span.name != MESSAGES_CREATE:
        return None
    t = common.tokens
    iterations: tuple[IterationUsage, ...] = ()
    if COMPACTION_INPUT in attrs or COMPACTION_OUTPUT in attrs:
        iterations = (
            IterationUsage(
                kind="compaction",
                input_tokens=t(attrs, COMPACTION_INPUT) or 0,
                output_tokens=t(attrs, COMPACTION_OUTPUT) or 0,
            ),
        )
    flags: list[str] = []
    usage = common.make_usage(
        input_tokens=t(attrs, semconv.GEN_AI_USAGE_INPUT_TOKENS),
        output_tokens=t(attrs, semconv.GEN_AI_USAGE_OUTPUT_TOKENS),
        cache_read=t(attrs, semconv.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS),
        cache_write=t(attrs, semconv.GEN_AI_USAGE_CACHE_WRITE_INPUT_TOKENS),
        reasoning=t(attrs, semconv.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS),
        cache_write_5m=t(attrs, CACHE_WRITE_5M),
        cache_write_1h=t(attrs, CACHE_WRITE_1H),
        iterations=iterations,
        flags=flags,
    )
    return common.call_record(
        span,
        attrs,
        resource,
        dialect=DIALECT,
        provider=common.provider_name(attrs.get(semconv.GEN_AI_PROVIDER_NAME)) or semconv.PROVIDER_ANTHROPIC,
        operation=semconv.OP_CHAT,
        request_model=common.text(attrs, semconv.GEN_AI_REQUEST_MODEL),
        response_model=common.text(attrs, semconv.GEN_AI_RESPONSE_MODEL),
        response_id=common.text(attrs, semconv.GEN_AI_RESPONSE_ID),
        usage=usage,
        flags=flags,
        service_tier=common.text(attrs, RESPONSE_SERVICE_TIER),
    )
