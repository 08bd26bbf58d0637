"""Dialect ``openinference``: Arize's OpenInference instrumentations (Phoenix, Arize).

Scopes ``openinference.instrumentation.<library>``; every span says what it is in
``openinference.span.kind``. Read from ``openinference-semantic-conventions`` 0.1.42
(``SpanAttributes``) and ``openinference-instrumentation-openai`` 0.1.66 /
``-anthropic`` 3.1.0:

- only ``LLM`` (and ``EMBEDDING``) spans are calls. ``CHAIN``, ``AGENT``, ``TOOL``,
  ``RETRIEVER``, ... carry no call of their own (a framework's CHAIN span may repeat its
  children's token counts: pricing it would count them twice) -> None.
- ``llm.token_count.prompt`` is INCLUSIVE of cache reads and writes (OpenAI's prompt count;
  for Anthropic the sum, since Arize-ai/openinference#1465),
  ``llm.token_count.completion`` includes reasoning.
- cache ``llm.token_count.prompt_details.cache_read`` (older ``...cache_input``) and
  ``...cache_write``; reasoning ``llm.token_count.completion_details.reasoning``.
- model: ``llm.model_name`` is the response's model; ``llm.request.model_name`` /
  ``llm.response.model_name`` where the instrumentation sets them; embeddings
  ``embedding.model_name``. Provider ``llm.provider`` (older ``llm.system``).
- no response id and no service tier: a call seen by OpenInference and by another
  instrumentation cannot be matched by response id.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from llm_otel import semconv
from llm_otel.processor.dialects import common
from llm_otel.processor.record import CallRecord

DIALECT: Final = "openinference"

SPAN_KIND: Final = "openinference.span.kind"
_OPERATION_BY_KIND: Final = {"LLM": semconv.OP_CHAT, "EMBEDDING": semconv.OP_EMBEDDINGS}

LLM_PROVIDER: Final = "llm.provider"
LLM_SYSTEM: Final = "llm.system"
LLM_MODEL_NAME: Final = "llm.model_name"
LLM_REQUEST_MODEL_NAME: Final = "llm.request.model_name"
LLM_RESPONSE_MODEL_NAME: Final = "llm.response.model_name"
EMBEDDING_MODEL_NAME: Final = "embedding.model_name"
PROMPT: Final = "llm.token_count.prompt"
COMPLETION: Final = "llm.token_count.completion"
CACHE_READ: Final = "llm.token_count.prompt_details.cache_read"
CACHE_INPUT: Final = "llm.token_count.prompt_details.cache_input"  # older name of cache_read
CACHE_WRITE: Final = "llm.token_count.prompt_details.cache_write"
REASONING: Final = "llm.token_count.completion_details.reasoning"


def read(span: Any, attrs: Mapping[str, object], resource: Mapping[str, object]) -> CallRecord | None:
    """The record of an LLM or EMBEDDING span; None for every other span kind."""
    kind = attrs.get(SPAN_KIND)
    operation = _OPERATION_BY_KIND.get(kind.upper()) if isinstance(kind, str) else None
    if operation is None:
        return None
    t = common.tokens
    text = common.text
    if operation == semconv.OP_EMBEDDINGS:
        response_model = text(attrs, EMBEDDING_MODEL_NAME) or text(attrs, LLM_MODEL_NAME)
    else:
        response_model = text(attrs, LLM_RESPONSE_MODEL_NAME) or text(attrs, LLM_MODEL_NAME)
    request_model = text(attrs, LLM_REQUEST_MODEL_NAME)
    provider = (
        common.provider_name(attrs.get(LLM_PROVIDER))
        or common.provider_name(attrs.get(LLM_SYSTEM))
        or common.provider_from_model(response_model or request_model)
    )
    flags: list[str] = []
    cache_read = t(attrs, CACHE_READ)
    if cache_read is None:
        cache_read = t(attrs, CACHE_INPUT)
    usage = common.make_usage(
        input_tokens=t(attrs, PROMPT),
        output_tokens=t(attrs, COMPLETION),
        cache_read=cache_read,
        cache_write=t(attrs, CACHE_WRITE),
        reasoning=t(attrs, REASONING),
        flags=flags,
    )
    return common.call_record(
        span,
        attrs,
        resource,
        dialect=DIALECT,
        provider=provider,
        operation=operation,
        request_model=request_model,
        response_model=response_model,
        response_id=None,
        usage=usage,
        flags=flags,
    )
