"""Task rows beyond call sums: the task span, finalization, anomalies, context economics, baselines.

Call sums on task rows are maintained by ``writes.record_calls``; these functions set what
the rollup and anomaly detector decide. All run inside the caller's transaction.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping, Sequence
from dataclasses import asdict
from decimal import Decimal

from llm_otel import semconv
from llm_otel.processor.ledger.dialect import Cursor, Dialect
from llm_otel.processor.ledger.model import (
    ANOMALY_KINDS,
    TASK_COST_SUM,
    CounterDelta,
    TaskEconomics,
    TaskRow,
    TaskSpanOutcome,
    task_cost_bucket,
)
from llm_otel.processor.ledger.rows import task_row
from llm_otel.processor.ledger.writes import apply_totals
from llm_otel.processor.record import TaskSpanRecord

# Lock (or create) a task row and read it: the no-op DO UPDATE takes the row lock.
_LOCK_TASK = (
    "INSERT INTO ledger_tasks (task_id, last_seen_ns) VALUES (?, ?) "
    "ON CONFLICT (task_id) DO UPDATE SET task_id = excluded.task_id RETURNING *"
)


def upsert_task_span(cur: Cursor, d: Dialect, span: TaskSpanRecord, now_ns: int) -> TaskSpanOutcome:
    """Apply a task span (type, team, status, start/end); the same span again changes nothing."""
    cur.execute(d.sql(_LOCK_TASK), (span.task_id, now_ns))
    row = cur.fetchone()
    if (row["span_trace_id"], row["span_id"]) == (span.trace_id, span.span_id):
        return TaskSpanOutcome(span.task_id, duplicate=True, late=False)
    late = bool(row["finalized"])
    budget = None if span.budget_usd is None else d.enc(Decimal(str(span.budget_usd)))
    cur.execute(
        d.sql(
            "UPDATE ledger_tasks SET task_type = COALESCE(?, task_type), team = COALESCE(?, team), "
            "status = ?, "
            "trace_id = ?, span_trace_id = ?, span_id = ?, start_ns = ?, end_ns = ?, budget_usd = ?, "
            "has_span = TRUE, last_seen_ns = ?, late_spans = late_spans + ? WHERE task_id = ?"
        ),
        (
            span.task_type,
            span.team,
            span.status,
            span.trace_id,
            span.trace_id,
            span.span_id,
            span.start_ns,
            span.end_ns,
            budget,
            now_ns,
            int(late),
            span.task_id,
        ),
    )
    return TaskSpanOutcome(span.task_id, duplicate=False, late=late)


def finalize_task(
    cur: Cursor, d: Dialect, task_id: str, now_ns: int, status: str | None, replica: str = ""
) -> TaskRow | None:
    """Mark a task final; returns its row only to the one caller (of all replicas) that finalized it.

    The task's ``llm_task_cost_usd`` observation (its bucket, and its cost into the exact sum) goes
    into this replica's totals in the same transaction: observed once, and resumed after a restart.
    """
    cur.execute(
        d.sql(
            "UPDATE ledger_tasks SET finalized = TRUE, finalized_ns = ?, status = COALESCE(status, ?) "
            "WHERE task_id = ? AND NOT finalized RETURNING *"
        ),
        (now_ns, status, task_id),
    )
    row = cur.fetchone()
    if row is None:
        return None
    task = task_row(row, d)
    labels = (task.team, task.task_type, task.status)
    delta: CounterDelta = {
        (semconv.METRIC_TASK_COST, (*labels, task_cost_bucket(float(task.cost)))): Decimal(1),
        (semconv.METRIC_TASK_COST, (*labels, TASK_COST_SUM)): task.cost,
    }
    apply_totals(cur, d, delta, replica)
    return task


def set_task_analysis(
    cur: Cursor,
    d: Dialect,
    task_id: str,
    anomalies: Collection[str] | None,
    detail: Mapping[str, object] | None,
    economics: TaskEconomics | None,
    replica: str = "",
) -> tuple[str, ...]:
    """Store anomaly flags and context economics; returns the kinds flagged for the first time.

    Flags are sticky (a task once flagged stays flagged); a kind evaluated and not flagged is
    stored as false (NULL means never evaluated). Newly flagged kinds add 1 to
    ``llm_task_anomalies`` in the totals, once across replicas.
    """
    unknown = set(anomalies or ()) - set(ANOMALY_KINDS)
    if unknown:
        raise ValueError(f"unknown anomaly kind(s) {sorted(unknown)}; known: {ANOMALY_KINDS}")
    cur.execute(d.sql(f"SELECT * FROM ledger_tasks WHERE task_id = ?{d.for_update}"), (task_id,))
    row = cur.fetchone()
    if row is None:
        raise KeyError(f"task {task_id!r} is not in the ledger")
    sets: dict[str, object] = {}
    new: list[str] = []
    if anomalies is not None:
        for kind in ANOMALY_KINDS:
            was = bool(row[f"anomaly_{kind}"])
            now = kind in anomalies
            sets[f"anomaly_{kind}"] = was or now
            if now and not was:
                new.append(kind)
    if detail is not None:
        sets["anomaly_detail"] = json.dumps(detail, sort_keys=True, default=str)
    if economics is not None:
        sets.update({k: v for k, v in asdict(economics).items() if v is not None})
    if sets:
        assignments = ", ".join(f"{k} = ?" for k in sets)
        cur.execute(d.sql(f"UPDATE ledger_tasks SET {assignments} WHERE task_id = ?"), (*sets.values(), task_id))
    if new:
        labels = (row["team"], row["task_type"])
        apply_totals(cur, d, {(semconv.METRIC_TASK_ANOMALIES, (*labels, k)): Decimal(1) for k in new}, replica)
    return tuple(new)


def save_baselines(cur: Cursor, d: Dialect, baselines: Mapping[str, Sequence[float]], now_ns: int) -> None:
    """Persist anomaly baselines: per key (e.g. a task type) its rolling window of samples, oldest first."""
    rows = sorted((k, json.dumps([float(x) for x in v]), len(v), now_ns) for k, v in baselines.items())
    d.many(
        cur,
        "INSERT INTO ledger_baselines (key, samples, sample_count, updated_ns) VALUES (?, ?, ?, ?) "
        "ON CONFLICT (key) DO UPDATE SET samples = excluded.samples, sample_count = excluded.sample_count, "
        "updated_ns = excluded.updated_ns",
        rows,
    )


def load_baselines(cur: Cursor, d: Dialect) -> dict[str, list[float]]:
    cur.execute("SELECT key, samples FROM ledger_baselines ORDER BY key")
    return {r["key"]: [float(x) for x in json.loads(r["samples"])] for r in cur.fetchall()}
