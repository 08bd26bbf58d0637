"""Runs ``skip_unchanged`` avoided: stored once per (trace id, span id), counted once into the totals.

One row per skip span in ``ledger_avoided``; the same transaction adds the new rows'
amounts to ``ledger_totals`` (this replica's row), so ``llm_avoided_cost_usd`` and
``llm_avoided_calls`` resume after a restart like the other business counters, and a span
delivered twice, or to two replicas sharing a PostgreSQL ledger, counts once (the primary key
decides: ``INSERT ... ON CONFLICT DO NOTHING``, a concurrent insert waits and then conflicts).
Lock order: avoided rows (sorted by key), then totals rows, as in ``writes``.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal, localcontext

from llm_otel import semconv
from llm_otel.processor.ledger.dialect import EXACT, Cursor, Dialect
from llm_otel.processor.ledger.model import CounterDelta
from llm_otel.processor.ledger.writes import apply_totals
from llm_otel.processor.record import AvoidedRecord

_INSERT = (
    "INSERT INTO ledger_avoided (trace_id, span_id, start_ns, recorded_ns, replica, task_id, task_type, team,"
    " calls, tokens_input, tokens_output, tokens_cache_read, cost_usd)"
)
_TYPES = ("text", "text", "bigint", "bigint", "text", "text", "text", "text",
          "bigint", "bigint", "bigint", "bigint", "numeric")  # fmt: skip


def avoided_delta(records: Sequence[AvoidedRecord], counted: Sequence[bool]) -> CounterDelta:
    """The counter delta of the records counted (``counted[i]``): cost and calls per (team, task type)."""
    out: CounterDelta = {}
    with localcontext(EXACT):
        for r, ok in zip(records, counted, strict=True):
            if not ok:
                continue
            labels = (r.team, r.task_type)
            for metric, amount in (
                (semconv.METRIC_AVOIDED_COST, r.cost_usd),
                (semconv.METRIC_AVOIDED_CALLS, Decimal(r.calls)),
            ):
                if amount:
                    key = (metric, labels)
                    out[key] = out.get(key, Decimal(0)) + amount
    return out


def record_avoided(
    cur: Cursor, d: Dialect, records: Sequence[AvoidedRecord], now_ns: int, replica: str = ""
) -> list[bool]:
    """Insert ``records`` unless their span is already stored; True per record newly stored (counted).

    A span repeated within ``records`` is stored (and counted) at its first position only.
    """
    first_of: dict[tuple[str, str], int] = {}
    for i, r in enumerate(records):
        first_of.setdefault((r.trace_id, r.span_id), i)
    keys = sorted(first_of)
    rows = []
    for k in keys:
        r = records[first_of[k]]
        rows.append((
            r.trace_id, r.span_id, r.start_ns, now_ns, replica, r.task_id, r.task_type, r.team,
            r.calls, r.input_tokens, r.output_tokens, r.cache_read_tokens, d.enc(r.cost_usd),
        ))  # fmt: skip
    tail = "ON CONFLICT (trace_id, span_id) DO NOTHING RETURNING trace_id, span_id"
    new = {(x["trace_id"], x["span_id"]) for x in d.upsert_rows(cur, _INSERT, tail, rows, _TYPES)}
    stored = [k in new for k in keys]
    counted = [False] * len(records)
    for k, ok in zip(keys, stored, strict=True):
        counted[first_of[k]] = ok
    apply_totals(cur, d, avoided_delta(records, counted), replica)
    return counted
