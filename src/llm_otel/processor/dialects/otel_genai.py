"""Dialect ``otel_genai``: the official OpenTelemetry GenAI instrumentations.

``opentelemetry-instrumentation-openai-v2`` and the other
``opentelemetry-instrumentation-genai-*`` packages of opentelemetry-python-contrib,
whose spans come from ``opentelemetry-util-genai`` (scope
``opentelemetry.util.genai.handler``) or, in older releases, from the instrumentation's
own tracer. Read from openai-v2 2.4b0 (``patch.py``, ``response_extractors.py``) and
util-genai 1.1b0 (``_inference_invocation.py``):

- leaf calls by ``gen_ai.operation.name`` (chat, text_completion, embeddings,
  generate_content); ``invoke_agent``/``execute_tool``/workflow spans -> None.
- provider: ``gen_ai.provider.name``; releases before semconv 1.37 say ``gen_ai.system``.
- ``gen_ai.usage.input_tokens`` is the provider's prompt count; the conventions make it
  inclusive of cached tokens, and the OpenAI API reports it that way.
- cache reads ``gen_ai.usage.cache_read.input_tokens``; cache writes
  ``gen_ai.usage.cache_write.input_tokens`` (util-genai) or
  ``gen_ai.usage.cache_creation.input_tokens`` (openai-v2's Responses extractor, older name).
- before semconv 1.27: ``gen_ai.usage.prompt_tokens`` / ``gen_ai.usage.completion_tokens``.
- ``openai.response.service_tier`` (older: ``gen_ai.openai.response.service_tier``).

When llm-otel's SDK runs next to such an instrumentation it adds no span of its own but
puts its ``llm_otel.*`` extras on this one (cache-write TTL split, service tier, stream
completeness, iterations; ``sdk/anthropic/coexist.py``): they are read here too, for every
``gen_ai.*``-shaped dialect.

Known gap of openai-v2 2.4b0: Chat Completions spans carry no cache-read count, so a
cached prompt is priced at the uncached rate (see docs/dialects.md).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from llm_otel import semconv
from llm_otel.processor.dialects import common
from llm_otel.processor.record import CallRecord

DIALECT: Final = "otel_genai"

GEN_AI_SYSTEM: Final = "gen_ai.system"  # before gen_ai.provider.name (semconv 1.37)
INPUT_KEYS: Final = (semconv.GEN_AI_USAGE_INPUT_TOKENS, "gen_ai.usage.prompt_tokens")
OUTPUT_KEYS: Final = (semconv.GEN_AI_USAGE_OUTPUT_TOKENS, "gen_ai.usage.completion_tokens")
CACHE_READ_KEYS: Final = (semconv.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS,)
CACHE_WRITE_KEYS: Final = (semconv.GEN_AI_USAGE_CACHE_WRITE_INPUT_TOKENS, "gen_ai.usage.cache_creation.input_tokens")
REASONING_KEYS: Final = (semconv.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS,)
SERVICE_TIER_KEYS: Final = ("openai.response.service_tier", "gen_ai.openai.response.service_tier")


def read(span: Any, attrs: Mapping[str, object], resource: Mapping[str, object]) -> CallRecord | None:
    """The record of a leaf GenAI call span; None for agent, tool and workflow spans."""
    operation = common.leaf_operation(attrs.get(semconv.GEN_AI_OPERATION_NAME))
    if operation is None:
        return None
    return read_call(span, attrs, resource, dialect=DIALECT, operation=operation)


def read_call(
    span: Any,
    attrs: Mapping[str, object],
    resource: Mapping[str, object],
    *,
    dialect: str,
    operation: str,
    input_keys: tuple[str, ...] = INPUT_KEYS,
    output_keys: tuple[str, ...] = OUTPUT_KEYS,
    cache_read_keys: tuple[str, ...] = CACHE_READ_KEYS,
    cache_write_keys: tuple[str, ...] = CACHE_WRITE_KEYS,
    reasoning_keys: tuple[str, ...] = REASONING_KEYS,
    request_model_keys: tuple[str, ...] = (semconv.GEN_AI_REQUEST_MODEL,),
    input_exclusive_for: frozenset[str] = frozenset(),
) -> CallRecord:
    """A ``gen_ai.*``-shaped call span as a record; the key tuples list current names before older ones.

    ``input_exclusive_for``: providers whose input count this dialect reports without cache tokens.
    """
    first = common.first_tokens
    request_model = _first_text(attrs, request_model_keys)
    response_model = common.text(attrs, semconv.GEN_AI_RESPONSE_MODEL)
    provider = (
        common.provider_name(attrs.get(semconv.GEN_AI_PROVIDER_NAME))
        or common.provider_name(attrs.get(GEN_AI_SYSTEM))
        or common.provider_from_model(response_model or request_model)
    )
    flags: list[str] = []
    service_tier = _first_text(attrs, SERVICE_TIER_KEYS)
    stream_complete = None
    if common.has_llm_otel_extras(attrs):
        # llm-otel's SDK stood aside for this instrumentation and added what it cannot record.
        t = common.tokens
        complete = attrs.get(semconv.STREAM_COMPLETE)
        stream_complete = complete if type(complete) is bool else None
        service_tier = service_tier or common.text(attrs, semconv.SERVICE_TIER)
        usage = common.make_usage(
            input_tokens=first(attrs, input_keys),
            output_tokens=first(attrs, output_keys),
            cache_read=first(attrs, cache_read_keys),
            cache_write=first(attrs, cache_write_keys),
            reasoning=first(attrs, reasoning_keys),
            cache_write_5m=t(attrs, semconv.USAGE_CACHE_WRITE_5M),
            cache_write_1h=t(attrs, semconv.USAGE_CACHE_WRITE_1H),
            cache_write_30m=t(attrs, semconv.USAGE_CACHE_WRITE_30M),
            cache_write_12h=t(attrs, semconv.USAGE_CACHE_WRITE_12H),
            iterations=common.read_iterations(attrs),
            estimated=attrs.get(semconv.USAGE_ESTIMATED) is True,
            input_exclusive=provider in input_exclusive_for,
            flags=flags,
        )
    else:
        usage = common.make_usage(
            input_tokens=first(attrs, input_keys),
            output_tokens=first(attrs, output_keys),
            cache_read=first(attrs, cache_read_keys),
            cache_write=first(attrs, cache_write_keys),
            reasoning=first(attrs, reasoning_keys),
            input_exclusive=provider in input_exclusive_for,
            flags=flags,
        )
    return common.call_record(
        span,
        attrs,
        resource,
        dialect=dialect,
        provider=provider,
        operation=operation,
        request_model=request_model,
        response_model=response_model,
        response_id=common.text(attrs, semconv.GEN_AI_RESPONSE_ID),
        usage=usage,
        flags=flags,
        service_tier=service_tier,
        stream_complete=stream_complete,
    )


def _first_text(attrs: Mapping[str, object], keys: tuple[str, ...]) -> str | None:
    for key in keys:
        value = common.text(attrs, key)
        if value:
            return value
    return None
