"""What the processor's stages hand each other: one normalized LLM call, one task span.

Dialect readers (``processor/dialects/``) produce these from any instrumentation's
spans; dedupe, pricing, ledger and rollup consume them and never look at raw
attributes again.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from llm_otel.pricing.usage import Usage


@dataclass(slots=True)
class CallRecord:
    """One leaf inference call, as reported by one span."""

    trace_id: str  # 32 lowercase hex
    span_id: str  # 16 lowercase hex
    start_ns: int
    end_ns: int
    provider: str  # gen_ai.provider.name value (openai, anthropic, azure.ai.openai, aws.bedrock, ...)
    operation: str  # chat, text_completion, embeddings, ...
    request_model: str | None
    response_model: str | None
    response_id: str | None
    usage: Usage
    dialect: str  # which reader produced it: llm_otel, anthropic_native, otel_genai, openllmetry, ...
    parent_span_id: str | None = None
    service_tier: str | None = None
    error_type: str | None = None  # None: ok
    stream_complete: bool | None = None
    task_id: str | None = None
    task_type: str | None = None
    team: str | None = None
    agent_name: str | None = None
    agent_id: str | None = None
    prompt_template: str | None = None
    prompt_version: str | None = None
    tools_count: int | None = None
    tools_bytes: int | None = None
    messages_count: int | None = None
    service_name: str | None = None
    # Normalizations applied to make the record conform (e.g. "input_exclusive_of_cache"), for audit.
    flags: tuple[str, ...] = field(default=())

    @property
    def model(self) -> str | None:
        """The model that served the call: the response's dated snapshot over the request alias."""
        return self.response_model or self.request_model


@dataclass(slots=True)
class TaskSpanRecord:
    """The span ``llm_otel.task()`` emits when a task ends: tells the rollup the task is complete."""

    trace_id: str
    span_id: str
    task_id: str
    task_type: str | None
    team: str | None
    status: str  # ok | error
    start_ns: int
    end_ns: int
    budget_usd: float | None = None


@dataclass(slots=True)
class AvoidedRecord:
    """The span ``skip_unchanged`` emits when it skips a call: what the skipped run would have cost.

    Counted once per (trace id, span id) into ``llm_avoided_cost_usd`` / ``llm_avoided_calls``.
    """

    trace_id: str
    span_id: str
    start_ns: int
    task_id: str | None
    task_type: str | None
    team: str | None
    calls: int
    input_tokens: int
    output_tokens: int
    cache_read_tokens: int
    cost_usd: Decimal  # from the float attribute's repr (exact for what the SDK sent)
