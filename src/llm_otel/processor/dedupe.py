"""Exactly-once counting: what the pipeline does with the ledger's verdict on each call.

The ledger is the arbiter (it is shared by replicas and survives restarts): it keys call
rows on (trace id, span id) and keeps one counted record per (provider, response id), the
richest (``ledger.richness``). This module turns its per-call outcomes into the moves the
rest of the processor makes: counter deltas for the metrics, duplicates and late spans for
the self-metrics, and the calls whose task the rollup must hear about.

Hot path (once per ledger batch): one pass over the outcomes; guarded by
benchmarks/processor_throughput.py.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from llm_otel.processor.metrics import ProcessorMetrics


@dataclass(slots=True)
class Tally:
    """How one batch's calls were counted."""

    new: int = 0
    replaced: int = 0
    duplicate_span: int = 0
    duplicate_response: int = 0
    expired: int = 0
    rejected: int = 0  # the ledger refused the record (``CallOutcome.reason``): reported to the sender
    late: int = 0
    deltas: list[dict[tuple[str, tuple[str | None, ...]], Decimal]] = field(default_factory=list)
    tasks: list[str] = field(default_factory=list)  # task ids of counted, not-late calls


def tally(outcomes: Iterable[Any]) -> Tally:
    """Sort the ledger's ``CallOutcome``s into counts, deltas to apply, and tasks touched."""
    t = Tally()
    for o in outcomes:
        status = o.status
        if status == "new":
            t.new += 1
        elif status == "replaced":
            t.replaced += 1
        elif status == "duplicate_span":
            t.duplicate_span += 1
        elif status == "duplicate_response":
            t.duplicate_response += 1
        elif status == "rejected":
            t.rejected += 1
        else:
            t.expired += 1
        if o.delta:
            t.deltas.append(o.delta)
        if o.late:
            t.late += 1
        elif o.task_id is not None and status in ("new", "replaced"):
            t.tasks.append(o.task_id)
    return t


def apply(t: Tally, metrics: ProcessorMetrics) -> None:
    """Move the business counters by the batch's exact deltas and count duplicates and late spans."""
    if t.deltas:
        metrics.business.apply_deltas(t.deltas)
    if t.duplicate_span:
        metrics.spans_duplicate.labels("span").inc(t.duplicate_span)
    if t.duplicate_response:
        metrics.spans_duplicate.labels("response").inc(t.duplicate_response)
    if t.late:
        metrics.spans_late.inc(t.late)


def task_spans_counted(outcomes: Sequence[Any], metrics: ProcessorMetrics) -> list[str]:
    """Task ids of task spans that are new and not late (``TaskSpanOutcome``); counts duplicates and late."""
    fresh = []
    for o in outcomes:
        if o.duplicate:
            metrics.spans_duplicate.labels("span").inc()
        elif o.late:
            metrics.spans_late.inc()
        else:
            fresh.append(o.task_id)
    return fresh
