"""Dialect ``openllmetry``: Traceloop's OpenLLMetry instrumentations.

``opentelemetry-instrumentation-openai`` / ``-anthropic`` / ... from traceloop/openllmetry
(PyPI names without ``-v2``; scopes ``opentelemetry.instrumentation.openai.v1``,
``opentelemetry.instrumentation.anthropic``, ...) and ``traceloop-sdk``. Read from
0.62.4 and ``opentelemetry-semantic-conventions-ai`` 0.5.1 (``SpanAttributes``), with the
names of older releases:

- token counts: ``gen_ai.usage.input_tokens``/``output_tokens``; before them
  ``gen_ai.usage.prompt_tokens``/``completion_tokens``, and before those
  ``llm.usage.prompt_tokens``/``completion_tokens``.
- cache: ``gen_ai.usage.cache_read.input_tokens`` and
  ``gen_ai.usage.cache_creation.input_tokens``; older
  ``gen_ai.usage.cache_read_input_tokens`` / ``gen_ai.usage.cache_creation_input_tokens``.
- reasoning: ``gen_ai.usage.reasoning_tokens`` (older ``llm.usage.reasoning_tokens``).
- Anthropic input is INCLUSIVE since the prompt-caching support (traceloop/openllmetry#2175,
  Oct 2024): ``input_tokens + cache_read + cache_creation``. Releases before it reported
  no cache counts at all, so nothing can be repaired there.
- operation ``gen_ai.operation.name``, older ``llm.request.type`` (chat, completion,
  embedding); provider ``gen_ai.provider.name``, older ``gen_ai.system`` ("Anthropic", ...).
- ``traceloop.span.kind`` (workflow, task, agent, tool) marks the SDK's decorator spans:
  never calls -> None.

Known gaps of 0.62.4: Anthropic streams count output as ``message_start`` +
``message_delta`` output tokens (the delta is already cumulative, so output is over by
the placeholder, usually 1); no cache-write TTL split; OpenAI cache writes
(``cache_write_tokens``) are not reported.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from llm_otel import semconv
from llm_otel.processor.dialects import common, otel_genai
from llm_otel.processor.record import CallRecord

DIALECT: Final = "openllmetry"

TRACELOOP_SPAN_KIND: Final = "traceloop.span.kind"
LLM_REQUEST_TYPE: Final = "llm.request.type"
# Attributes only OpenLLMetry writes: they tell its spans from the official instrumentations'.
MARKERS: Final = (
    TRACELOOP_SPAN_KIND,
    LLM_REQUEST_TYPE,
    "gen_ai.usage.total_tokens",
    "gen_ai.is_streaming",
    "gen_ai.usage.prompt_tokens",
    "llm.usage.total_tokens",
    "llm.usage.prompt_tokens",
    "gen_ai.usage.cache_read_input_tokens",
    "gen_ai.usage.cache_creation_input_tokens",
    "gen_ai.usage.reasoning_tokens",
    "gen_ai.openai.api_base",
)

INPUT_KEYS: Final = (semconv.GEN_AI_USAGE_INPUT_TOKENS, "gen_ai.usage.prompt_tokens", "llm.usage.prompt_tokens")
OUTPUT_KEYS: Final = (
    semconv.GEN_AI_USAGE_OUTPUT_TOKENS,
    "gen_ai.usage.completion_tokens",
    "llm.usage.completion_tokens",
)
CACHE_READ_KEYS: Final = (semconv.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS, "gen_ai.usage.cache_read_input_tokens")
CACHE_WRITE_KEYS: Final = (
    "gen_ai.usage.cache_creation.input_tokens",
    "gen_ai.usage.cache_creation_input_tokens",
    semconv.GEN_AI_USAGE_CACHE_WRITE_INPUT_TOKENS,
)
REASONING_KEYS: Final = (
    semconv.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS,
    "gen_ai.usage.reasoning_tokens",
    "llm.usage.reasoning_tokens",
)


def has_markers(attrs: Mapping[str, object]) -> bool:
    """Whether a ``gen_ai.*`` span carries an attribute only OpenLLMetry writes."""
    return any(key in attrs for key in MARKERS)


def read(span: Any, attrs: Mapping[str, object], resource: Mapping[str, object]) -> CallRecord | None:
    """The record of an OpenLLMetry LLM span; None for its workflow/task/agent/tool spans."""
    if TRACELOOP_SPAN_KIND in attrs:
        return None
    op = attrs.get(semconv.GEN_AI_OPERATION_NAME)
    if op is None:
        op = attrs.get(LLM_REQUEST_TYPE)
    operation = common.leaf_operation(op)
    if operation is None:
        return None
    return otel_genai.read_call(
        span,
        attrs,
        resource,
        dialect=DIALECT,
        operation=operation,
        input_keys=INPUT_KEYS,
        output_keys=OUTPUT_KEYS,
        cache_read_keys=CACHE_READ_KEYS,
        cache_write_keys=CACHE_WRITE_KEYS,
        reasoning_keys=REASONING_KEYS,
        request_model_keys=(semconv.GEN_AI_REQUEST_MODEL, "llm.request.model"),
    )
