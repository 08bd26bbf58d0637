"""A sampler that never drops spend: GenAI client spans and task spans are always sampled.

Everything else goes to the sampler the user chose (``OTEL_TRACES_SAMPLER``, default
``parentbased_always_on``). GenAI spans are recognised by ``gen_ai.operation.name`` among
the attributes given at span start (our wrappers and the anthropic SDK's native span
pass them there); task spans by their name ``llm_otel.task <type>``.

Trade-off (see docs/sdk.md): a GenAI span sampled under an unsampled parent makes a
partial trace (its parent is never exported), and every LLM call is exported whatever
the ratio. Spend is what this project accounts for, so losing it to sampling is the
worse failure; the span volume is one span per LLM call plus one per task.

Never raises: if the check fails, the decision is the delegate's.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from opentelemetry.context import Context
from opentelemetry.sdk.trace.sampling import (
    Decision,
    ParentBased,
    Sampler,
    SamplingResult,
    _get_from_env_or_default,
)
from opentelemetry.trace import Link, SpanKind, get_current_span
from opentelemetry.trace.span import TraceState
from opentelemetry.util.types import Attributes

from llm_otel import semconv

log = logging.getLogger("llm_otel")

_OP = semconv.GEN_AI_OPERATION_NAME
_TASK_PREFIX = semconv.TASK_SPAN_NAME_PREFIX + " "


class SpendPreservingSampler(Sampler):
    """Always samples GenAI spans and ``llm_otel.task`` spans; delegates the rest."""

    def __init__(self, delegate: Sampler | None = None) -> None:
        self.delegate: Sampler = delegate if delegate is not None else ParentBased_always_on()

    def should_sample(
        self,
        parent_context: Context | None,
        trace_id: int,
        name: str,
        kind: SpanKind | None = None,
        attributes: Attributes = None,
        links: Sequence[Link] | None = None,
        trace_state: TraceState | None = None,
    ) -> SamplingResult:
        try:
            if (attributes and _OP in attributes) or name.startswith(_TASK_PREFIX):
                return SamplingResult(Decision.RECORD_AND_SAMPLE, attributes, _parent_trace_state(parent_context))
        except Exception:
            log.debug("llm-otel sampler check failed; delegating", exc_info=True)
        return self.delegate.should_sample(parent_context, trace_id, name, kind, attributes, links, trace_state)

    def get_description(self) -> str:
        return f"LLMOtelSpendPreserving{{{self.delegate.get_description()}}}"


def ParentBased_always_on() -> Sampler:
    from opentelemetry.sdk.trace.sampling import ALWAYS_ON

    return ParentBased(ALWAYS_ON)


def _parent_trace_state(parent_context: Context | None) -> TraceState | None:
    ctx = get_current_span(parent_context).get_span_context()
    return ctx.trace_state if ctx is not None and ctx.is_valid else None


def sampler_from_env() -> SpendPreservingSampler:
    """Our sampler wrapping the one ``OTEL_TRACES_SAMPLER`` / ``OTEL_TRACES_SAMPLER_ARG`` name."""
    try:
        delegate = _get_from_env_or_default()
    except Exception:
        log.debug("llm-otel could not read OTEL_TRACES_SAMPLER; using parentbased_always_on", exc_info=True)
        delegate = ParentBased_always_on()
    return SpendPreservingSampler(delegate)
