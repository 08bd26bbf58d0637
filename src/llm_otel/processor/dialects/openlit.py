"""Dialect ``openlit``: OpenLIT's auto-instrumentation (``openlit.init()``).

Scopes ``openlit.instrumentation.<library>``; every span also carries the attribute
``telemetry.sdk.name = "openlit"``. Read from openlit 1.45.0
(``instrumentation/anthropic/utils.py``, ``instrumentation/openai/utils.py``,
``semcov/__init__.py``, ``__helpers.py``):

- leaf calls by ``gen_ai.operation.name`` (chat, text_completion, embeddings);
  ``invoke_agent``, ``invoke_workflow``, ``execute_tool``, ``create_agent``, ... -> None.
- Anthropic: ``gen_ai.usage.input_tokens`` is Anthropic's own ``usage.input_tokens``,
  EXCLUSIVE of cache reads and writes (its cost helper says so:
  ``prompt_tokens_include_cache=False``). Normalized here to inclusive, with the flag
  ``input_exclusive_of_cache``. OpenAI input is the prompt count, already inclusive.
- cache ``gen_ai.usage.cache_read.input_tokens`` / ``gen_ai.usage.cache_creation.input_tokens``
  (also the older ``gen_ai.usage.prompt_tokens_details.cached_tokens`` /
  ``...cache_creation_tokens``); reasoning ``gen_ai.usage.reasoning_tokens`` or
  ``gen_ai.usage.completion_tokens_details.reasoning_tokens``.
- provider ``gen_ai.provider.name`` (older ``gen_ai.system``).
- ``gen_ai.usage.cost`` is OpenLIT's own estimate from its own price list: ignored.

Not run for real in the tests: every openlit release pins ``anthropic<1`` and
``openai<3`` (see docs/dialects.md); the tests use spans built to this shape.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from llm_otel import semconv
from llm_otel.processor.dialects import common, otel_genai
from llm_otel.processor.record import CallRecord

DIALECT: Final = "openlit"

SCOPE_PREFIX: Final = "openlit"
TELEMETRY_SDK_NAME: Final = "telemetry.sdk.name"
SDK_NAME: Final = "openlit"

# Providers whose input count OpenLIT reports without cache tokens.
INPUT_EXCLUSIVE_OF_CACHE: Final = frozenset({semconv.PROVIDER_ANTHROPIC})

CACHE_READ_KEYS: Final = (
    semconv.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS,
    "gen_ai.usage.prompt_tokens_details.cached_tokens",
)
CACHE_WRITE_KEYS: Final = (
    "gen_ai.usage.cache_creation.input_tokens",
    semconv.GEN_AI_USAGE_CACHE_WRITE_INPUT_TOKENS,
    "gen_ai.usage.prompt_tokens_details.cache_creation_tokens",
)
REASONING_KEYS: Final = (
    semconv.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS,
    "gen_ai.usage.reasoning_tokens",
    "gen_ai.usage.completion_tokens_details.reasoning_tokens",
)


def is_openlit(attrs: Mapping[str, object]) -> bool:
    """OpenLIT stamps every span it makes with ``telemetry.sdk.name = "openlit"``."""
    return attrs.get(TELEMETRY_SDK_NAME) == SDK_NAME


def read(span: Any, attrs: Mapping[str, object], resource: Mapping[str, object]) -> CallRecord | None:
    """The record of an OpenLIT call span (Anthropic input made inclusive); None for its other spans."""
    operation = common.leaf_operation(attrs.get(semconv.GEN_AI_OPERATION_NAME))
    if operation is None:
        return None
    return otel_genai.read_call(
        span,
        attrs,
        resource,
        dialect=DIALECT,
        operation=operation,
        cache_read_keys=CACHE_READ_KEYS,
        cache_write_keys=CACHE_WRITE_KEYS,
        reasoning_keys=REASONING_KEYS,
        input_exclusive_for=INPUT_EXCLUSIVE_OF_CACHE,
    )
