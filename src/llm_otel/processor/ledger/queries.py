"""Reads: counter totals for restarts, and the time-range queries the FinOps layer builds on.

Times are nanoseconds since the epoch; half-open ranges ``[since, until)``. Paging is by
keyset so a month of calls streams in bounded memory.
"""

from __future__ import annotations

import json
from decimal import Decimal

from llm_otel import semconv
from llm_otel.processor.ledger.dialect import EXACT, Cursor, Dialect
from llm_otel.processor.ledger.model import CallRow, Labels, TaskRow
from llm_otel.processor.ledger.rows import call_row, task_row


def _persisted(cur: Cursor, d: Dialect, replica: str | None) -> dict[str, dict[Labels, Decimal]]:
    """Every row of ``ledger_totals``, summed over replicas (or one replica's): metric -> labels -> amount."""
    if replica is None:
        cur.execute("SELECT metric, labels, value FROM ledger_totals")
    else:
        cur.execute(d.sql("SELECT metric, labels, value FROM ledger_totals WHERE replica = ?"), (replica,))
    sums: dict[tuple[str, str], Decimal] = {}
    for r in cur.fetchall():
        key = (r["metric"], r["labels"])
        sums[key] = EXACT.add(sums.get(key, Decimal(0)), d.dec(r["value"]))
    out: dict[str, dict[Labels, Decimal]] = {}
    for (metric, labels), value in sums.items():
        if value:
            out.setdefault(metric, {})[tuple(json.loads(labels))] = value
    return out


def totals(cur: Cursor, d: Dialect, replica: str | None) -> dict[str, dict[Labels, Decimal]]:
    """Persisted counter totals: metric -> label tuple -> amount (see model.COUNTER_LABELS).

    ``replica``: that replica's own totals (what its counters resume from); None: all replicas summed.
    The task cost histogram kept in the same table is not a counter: see ``task_cost_histogram``.
    """
    out = _persisted(cur, d, replica)
    out.pop(semconv.METRIC_TASK_COST, None)
    return out


def task_cost_histogram(cur: Cursor, d: Dialect, replica: str | None) -> dict[Labels, Decimal]:
    """The persisted ``llm_task_cost_usd`` histogram: (team, task_type, status, le) -> amount."""
    return _persisted(cur, d, replica).get(semconv.METRIC_TASK_COST, {})


def calls_page(
    cur: Cursor,
    d: Dialect,
    since_ns: int,
    until_ns: int,
    after: tuple[int, str, str] | None,
    limit: int,
    counted_only: bool,
) -> list[CallRow]:
    """Calls started in ``[since, until)``, ordered by (start, trace id, span id), after ``after``."""
    where = ["start_ns >= ?", "start_ns < ?"]
    params: list[object] = [since_ns, until_ns]
    if counted_only:
        where.append("counted")
    if after is not None:
        where.append("(start_ns > ? OR (start_ns = ? AND (trace_id > ? OR (trace_id = ? AND span_id > ?))))")
        params += [after[0], after[0], after[1], after[1], after[2]]
    cur.execute(
        d.sql(
            f"SELECT * FROM ledger_calls WHERE {' AND '.join(where)} "
            f"ORDER BY start_ns, trace_id, span_id LIMIT {int(limit)}"
        ),
        params,
    )
    return [call_row(r, d) for r in cur.fetchall()]


def calls_for_task(cur: Cursor, d: Dialect, task_id: str, counted_only: bool) -> list[CallRow]:
    """A task's calls in start order (for context economics and retry-loop detection)."""
    cond = " AND counted" if counted_only else ""
    cur.execute(
        d.sql(f"SELECT * FROM ledger_calls WHERE task_id = ?{cond} ORDER BY start_ns, trace_id, span_id"),
        (task_id,),
    )
    return [call_row(r, d) for r in cur.fetchall()]


def get_task(cur: Cursor, d: Dialect, task_id: str) -> TaskRow | None:
    cur.execute(d.sql("SELECT * FROM ledger_tasks WHERE task_id = ?"), (task_id,))
    row = cur.fetchone()
    return None if row is None else task_row(row, d)


def tasks_page(
    cur: Cursor,
    d: Dialect,
    since_ns: int | None,
    until_ns: int | None,
    finalized: bool | None,
    after: str | None,
    limit: int,
) -> list[TaskRow]:
    """Tasks that began in ``[since, until)`` (span start, else first call), by task id after ``after``."""
    where: list[str] = []
    params: list[object] = []
    if since_ns is not None or until_ns is not None:
        lo, hi = (
            since_ns if since_ns is not None else -(2**63),
            until_ns if until_ns is not None else 2**63 - 1,
        )
        where.append(
            "((start_ns >= ? AND start_ns < ?) OR (start_ns IS NULL AND first_call_ns >= ? AND first_call_ns < ?))"
        )
        params += [lo, hi, lo, hi]
    if finalized is not None:
        where.append("finalized" if finalized else "NOT finalized")
    if after is not None:
        where.append("task_id > ?")
        params.append(after)
    clause = f"WHERE {' AND '.join(where)} " if where else ""
    cur.execute(d.sql(f"SELECT * FROM ledger_tasks {clause}ORDER BY task_id LIMIT {int(limit)}"), params)
    return [task_row(r, d) for r in cur.fetchall()]


def delete_calls_before(cur: Cursor, d: Dialect, horizon_ns: int) -> int:
    """Retention: drop call rows (and their response arbiter rows) that started before the horizon."""
    cur.execute(d.sql("DELETE FROM ledger_responses WHERE start_ns < ?"), (horizon_ns,))
    cur.execute(d.sql("DELETE FROM ledger_calls WHERE start_ns < ?"), (horizon_ns,))
    return int(cur.rowcount or 0)
