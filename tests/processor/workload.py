"""A generated agent workload with known ground truth, as real OTel SDK spans.

Spans are made by the OpenTelemetry SDK (a private TracerProvider, scope ``llm_otel``, the
span shape of llm-otel's own instrumentation) and exported with the SDK's own OTLP
exporters in fixed-size batches, so a test knows exactly which spans were sent.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, set_span_in_context

from llm_otel import semconv
from llm_otel.pricing.usage import Usage
from llm_otel.processor.server import make_pricer

MODELS = (("openai", "gpt-4o-mini"), ("openai", "gpt-4o"), ("anthropic", "claude-3-5-haiku-20241022"))
TEAMS = ("secops", "growth", None)
TASK_TYPES = ("policy-review", "triage")


@dataclass
class Truth:
    calls: int = 0
    cost: Decimal = Decimal(0)
    tokens: int = 0
    tasks: set[str] = field(default_factory=set)
    task_cost: Decimal = Decimal(0)  # of calls inside a task
    cost_by_team: dict[str, Decimal] = field(default_factory=dict)


def generate(
    n_tasks: int, calls_per_task: int = 3, seed: int = 1, *, unattributed_calls: int = 0, service: str = "agent"
) -> tuple[list[ReadableSpan], Truth]:
    """Spans of ``n_tasks`` tasks (each: its calls, then its task span) plus calls outside any task."""
    rng = random.Random(seed)
    mem = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    provider.add_span_processor(SimpleSpanProcessor(mem))
    tracer = provider.get_tracer(semconv.INSTRUMENTATION_SCOPE)
    price = make_pricer(None)
    truth = Truth()

    def call(task_id: str | None, task_type: str | None, team: str | None, ctx: object) -> None:
        provider_name, model = rng.choice(MODELS)
        inp = rng.randint(100, 20_000)
        cache_read = rng.randint(0, inp // 2)
        out = rng.randint(1, 2_000)
        attrs: dict[str, object] = {
            semconv.GEN_AI_OPERATION_NAME: "chat",
            semconv.GEN_AI_PROVIDER_NAME: provider_name,
            semconv.GEN_AI_REQUEST_MODEL: model,
            semconv.GEN_AI_RESPONSE_MODEL: model,
            semconv.GEN_AI_RESPONSE_ID: f"resp-{rng.getrandbits(64):016x}",
            semconv.GEN_AI_USAGE_INPUT_TOKENS: inp,
            semconv.GEN_AI_USAGE_OUTPUT_TOKENS: out,
            semconv.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS: cache_read,
        }
        if task_id is not None:
            attrs[semconv.TASK_ID] = task_id
            attrs[semconv.TASK_TYPE] = task_type
            if team is not None:
                attrs[semconv.TEAM] = team
        span = tracer.start_span(f"chat {model}", context=ctx, kind=SpanKind.CLIENT, attributes=attrs)  # type: ignore[arg-type]
        span.end()
        from llm_otel.processor.record import CallRecord

        rec = CallRecord(
            trace_id="0" * 32,
            span_id="0" * 16,
            start_ns=getattr(span, "start_time", 0) or 0,
            end_ns=0,
            provider=provider_name,
            operation="chat",
            request_model=model,
            response_model=model,
            response_id=None,
            usage=Usage(input_tokens=inp, output_tokens=out, cache_read_tokens=cache_read),
            dialect="llm_otel",
        )
        cost = price(rec)
        assert cost.priced, cost.unpriced_reason
        truth.calls += 1
        truth.cost += cost.total
        truth.tokens += inp + out
        if task_id is not None:
            truth.task_cost += cost.total
        key = team or semconv.UNATTRIBUTED
        truth.cost_by_team[key] = truth.cost_by_team.get(key, Decimal(0)) + cost.total

    for i in range(n_tasks):
        task_id = f"task-{seed}-{i}"
        task_type = rng.choice(TASK_TYPES)
        team = rng.choice(TEAMS)
        attrs: dict[str, object] = {semconv.TASK_ID: task_id, semconv.TASK_TYPE: task_type, semconv.TASK_STATUS: "ok"}
        if team is not None:
            attrs[semconv.TEAM] = team
        root = tracer.start_span(f"{semconv.TASK_SPAN_NAME_PREFIX} {task_type}", attributes=attrs)  # type: ignore[arg-type]
        ctx = set_span_in_context(root)
        for _ in range(calls_per_task):
            call(task_id, task_type, team, ctx)
        root.end()
        truth.tasks.add(task_id)
    for _ in range(unattributed_calls):
        call(None, None, None, None)
    provider.shutdown()
    return list(mem.get_finished_spans()), truth


def export_all(exporter: object, spans: Sequence[ReadableSpan], batch: int = 256) -> None:
    """Export in batches with the SDK exporter; every batch must succeed (retries are the exporter's)."""
    from opentelemetry.sdk.trace.export import SpanExportResult

    for i in range(0, len(spans), batch):
        result = exporter.export(spans[i : i + batch])  # type: ignore[attr-defined]
        assert result == SpanExportResult.SUCCESS, f"batch {i // batch} failed: {result}"
