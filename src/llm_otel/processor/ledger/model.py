"""What the ledger takes and gives back: priced calls in; outcomes, deltas, rows and totals out.

Everything here is plain data. Money is ``Decimal`` USD, never float; token and call
counts are ``int`` (inside counter deltas they are ``Decimal`` too, so one mapping
carries every counter). Times are nanoseconds since the Unix epoch, like OTLP.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Literal

from llm_otel import semconv
from llm_otel.pricing.cost import Cost
from llm_otel.processor.record import CallRecord

#: Label names of every counter the ledger keeps totals for, in the order of the label tuples
#: used as keys in :class:`CallOutcome.delta` and :meth:`Ledger.totals`. Metric names are
#: ``semconv.METRIC_*`` (without the ``_total`` suffix prometheus-client adds).
COUNTER_LABELS: dict[str, tuple[str, ...]] = {
    semconv.METRIC_COST: ("provider", "model", "team", "task_type", "token_type"),
    semconv.METRIC_TOKENS: ("provider", "model", "team", "task_type", "token_type"),
    semconv.METRIC_CALLS: ("provider", "model", "team", "task_type", "outcome"),
    semconv.METRIC_CACHE_SAVINGS: ("provider", "model", "team", "task_type"),
    semconv.METRIC_UNPRICED_CALLS: ("provider", "model", "reason"),
    semconv.METRIC_PROMPT_COST: ("template", "version", "provider", "model"),
    semconv.METRIC_TASK_ANOMALIES: ("team", "task_type", "kind"),
    semconv.METRIC_AVOIDED_COST: ("team", "task_type"),
    semconv.METRIC_AVOIDED_CALLS: ("team", "task_type"),
}

#: ``llm_task_cost_usd`` bucket upper bounds in USD (from sub-cent lookups to runaway agents). Kept
#: here because the ledger persists the histogram (``ledger_totals``, metric ``llm_task_cost_usd``,
#: labels (team, task_type, status, le); ``le`` = ``"sum"`` holds the exact cost sum) so that it
#: resumes after a restart like the counters do.
TASK_COST_BUCKETS: tuple[float, ...] = (
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 25.0, 50.0, 100.0,
)  # fmt: skip
TASK_COST_SUM = "sum"  # the ``le`` label value of the histogram's exact sum in ledger_totals


def task_cost_bucket(cost: float) -> str:
    """The ``le`` label (``repr`` of the bound, or ``+Inf``) of the first bucket ``cost`` falls in."""
    for bound in TASK_COST_BUCKETS:
        if cost <= bound:
            return repr(bound)
    return "+Inf"


#: Anomaly kinds a task row can carry (issue 7).
ANOMALY_KINDS = ("runaway", "retry_loop", "context_blowup")

Labels = tuple["str | None", ...]
#: (metric name, label values) -> amount. ``None`` label values mean "not reported"; the metrics
#: layer maps them to ``unattributed`` (team, task_type) or its own placeholder.
CounterDelta = dict[tuple[str, Labels], Decimal]

CallStatus = Literal["new", "replaced", "duplicate_span", "duplicate_response", "expired", "rejected"]


@dataclass(frozen=True, slots=True)
class PricedCall:
    """One normalized call and what pricing said it cost: the unit the ledger records."""

    record: CallRecord
    cost: Cost


@dataclass(frozen=True, slots=True)
class CallOutcome:
    """What :meth:`Ledger.record_calls` did with one call, and exactly how the counters moved.

    ``status``:
      - ``new``: first record of this span and of its response; counted.
      - ``replaced``: another span of the same (provider, response id) was counted before, and this
        record is richer; it is counted instead of ``replaced`` (trace id, span id).
      - ``duplicate_span``: this (trace id, span id) is already in the ledger; nothing changed.
      - ``duplicate_response``: the same response is already counted from a record at least as rich
        (``kept``); this span is stored for audit but not counted.
      - ``expired``: the call started before the retention horizon; nothing stored or counted
        (the ledger can no longer tell whether it was seen before).
      - ``rejected``: the record cannot be stored as is (``reason`` says why: a negative or
        absurd token count, a non-finite cost, an unknown cost bucket, a missing id); nothing
        stored or counted, and the rest of the batch is recorded normally.

    ``delta`` is the exact signed change to every counter; apply it and the counters equal the
    ledger's totals. On ``replaced`` some amounts can be negative (the richer record moved tokens
    from ``input`` to ``cache_read``, say).
    """

    trace_id: str
    span_id: str
    status: CallStatus
    late: bool = False  # the call's task was already finalized when it arrived
    delta: CounterDelta = field(default_factory=dict)
    replaced: tuple[str, str] | None = None  # (trace id, span id) no longer counted
    kept: tuple[str, str] | None = None  # on duplicate_response: the record that stays counted
    task_id: str | None = None
    reason: str | None = None  # on rejected

    @property
    def counted(self) -> bool:
        """True when this record is now the counted one (``new`` or ``replaced``)."""
        return self.status in ("new", "replaced")


@dataclass(frozen=True, slots=True)
class TaskSpanOutcome:
    """What :meth:`Ledger.upsert_task_span` did: ``duplicate`` when this task span was already applied."""

    task_id: str
    duplicate: bool
    late: bool  # the task was already finalized (by idle timeout) when its span arrived


@dataclass(frozen=True, slots=True)
class TaskEconomics:
    """Context economics of one task (issue 7), computed by the rollup when the task finalizes."""

    turns: int | None = None  # LLM calls that sent context (messages) in the task
    tokens_resent: int | None = None  # sum over calls of (input - new input it added)
    cache_share: float | None = None  # cache-read tokens / inclusive input tokens
    tool_share: float | None = None  # tool-definition tokens / inclusive input tokens
    tool_tokens: int | None = None  # estimated tokens of tool definitions sent (bytes / ratio)
    first_input_tokens: int | None = None  # inclusive input of the task's first call
    max_input_tokens: int | None = None  # largest inclusive input of any call in the task


def richness(record: CallRecord, cost: Cost) -> int:
    """How much a record says, as one sortable integer: of two records of one response, keep the larger.

    Compared field by field, most important first:
      1. priced (a record pricing could resolve beats one it could not);
      2. not estimated (counts the provider reported beat estimates);
      3. token buckets reported (input, output, cache read, cache write, each TTL split,
         reasoning, iterations: more buckets = a finer, more correct cost);
      4. attribution fields present (task id/type, team, agent name/id, prompt template/version,
         tools count/bytes, messages count, service tier, response model, parent span);
      5. stream complete (not reported as cut short);
      6. dialect (llm-otel's own spans over other instrumentations').
    Ties are broken by the smaller (trace id, span id), so the winner does not depend on
    arrival order and replicas converge (see :func:`better`).
    """
    u = record.usage
    buckets = sum(
        v is not None
        for v in (
            u.input_tokens,
            u.output_tokens,
            u.cache_read_tokens,
            u.cache_write_tokens,
            u.cache_write_5m_tokens,
            u.cache_write_1h_tokens,
            u.cache_write_30m_tokens,
            u.cache_write_12h_tokens,
            u.reasoning_tokens,
        )
    ) + bool(u.iterations)
    attribution = sum(
        v is not None
        for v in (
            record.task_id,
            record.task_type,
            record.team,
            record.agent_name,
            record.agent_id,
            record.prompt_template,
            record.prompt_version,
            record.tools_count,
            record.tools_bytes,
            record.messages_count,
            record.service_tier,
            record.response_model,
            record.parent_span_id,
        )
    )
    priced = cost.source != "unpriced"
    not_estimated = not (u.estimated or cost.estimated)
    complete = record.stream_complete is not False
    own = record.dialect == "llm_otel"
    return (
        int(priced) * 10_000_000
        + int(not_estimated) * 1_000_000
        + buckets * 10_000
        + attribution * 100
        + int(complete) * 10
        + int(own)
    )


def better(a: tuple[int, str, str], b: tuple[int, str, str]) -> bool:
    """Whether record ``a`` = (richness, trace id, span id) should be counted instead of ``b``."""
    return a[0] > b[0] or (a[0] == b[0] and (a[1], a[2]) < (b[1], b[2]))


@dataclass(frozen=True, slots=True)
class CallRow:
    """One row of ``ledger_calls`` as read back (see docs/ledger.md for every column)."""

    trace_id: str
    span_id: str
    parent_span_id: str | None
    start_ns: int
    end_ns: int
    recorded_ns: int
    provider: str
    operation: str | None
    request_model: str | None
    response_model: str | None
    model: str | None
    response_id: str | None
    counted: bool
    superseded_by: str | None
    richness: int
    tokens_input: int | None
    tokens_cache_read: int | None
    tokens_cache_write: int | None
    tokens_cache_write_5m: int | None
    tokens_cache_write_1h: int | None
    tokens_cache_write_30m: int | None
    tokens_cache_write_12h: int | None
    tokens_output: int | None
    tokens_reasoning: int | None
    tokens_iterations_input: int
    tokens_iterations_cache_read: int
    tokens_iterations_cache_write: int
    tokens_iterations_output: int
    iterations: str | None
    usage_estimated: bool
    cost_input: Decimal
    cost_cache_read: Decimal
    cost_cache_write: Decimal
    cost_output: Decimal
    cost_total: Decimal
    list_cost_input: Decimal
    list_cost_cache_read: Decimal
    list_cost_cache_write: Decimal
    list_cost_output: Decimal
    list_cost_total: Decimal
    cache_savings: Decimal
    cache_write_premium: Decimal
    cost_buckets: str
    cost_source: str
    cost_estimated: bool
    unpriced_reason: str | None
    data_version: str | None
    billing_provider: str | None
    priced_model: str | None
    service_tier: str | None
    task_id: str | None
    task_type: str | None
    team: str | None
    agent_name: str | None
    agent_id: str | None
    prompt_template: str | None
    prompt_version: str | None
    tools_count: int | None
    tools_bytes: int | None
    messages_count: int | None
    error_type: str | None
    dialect: str
    flags: str
    stream_complete: bool | None
    late: bool
    service_name: str | None

    @property
    def inclusive_input_tokens(self) -> int:
        """Input tokens inclusive of cache reads and writes (``tokens_input`` is the uncached part)."""
        return (self.tokens_input or 0) + (self.tokens_cache_read or 0) + (self.tokens_cache_write or 0)


@dataclass(frozen=True, slots=True)
class TaskRow:
    """One row of ``ledger_tasks`` as read back (see docs/ledger.md for every column)."""

    task_id: str
    task_type: str | None
    team: str | None
    status: str | None
    trace_id: str | None
    span_trace_id: str | None
    span_id: str | None
    start_ns: int | None
    end_ns: int | None
    budget_usd: Decimal | None
    has_span: bool
    calls: int
    error_calls: int
    unpriced_calls: int
    tokens_input: int
    tokens_cache_read: int
    tokens_cache_write: int
    tokens_output: int
    tokens_reasoning: int
    cost: Decimal
    list_cost: Decimal
    cache_savings: Decimal
    cache_write_premium: Decimal
    first_call_ns: int | None
    last_call_ns: int | None
    last_seen_ns: int
    late_spans: int
    finalized: bool
    finalized_ns: int | None
    anomaly_runaway: bool | None = None
    anomaly_retry_loop: bool | None = None
    anomaly_context_blowup: bool | None = None
    anomaly_detail: str | None = None
    turns: int | None = None
    tokens_resent: int | None = None
    cache_share: float | None = None
    tool_share: float | None = None
    tool_tokens: int | None = None
    first_input_tokens: int | None = None
    max_input_tokens: int | None = None

    @property
    def began_ns(self) -> int | None:
        """When the task began: its span's start, else its first call's."""
        return self.start_ns if self.start_ns is not None else self.first_call_ns

    @property
    def anomalies(self) -> tuple[str, ...]:
        """The anomaly kinds flagged on this task."""
        return tuple(k for k in ANOMALY_KINDS if getattr(self, f"anomaly_{k}"))
