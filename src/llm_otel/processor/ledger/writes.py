"""The write path: record a batch of priced calls exactly once, inside the caller's transaction.

Lock order (PostgreSQL replicas sharing one ledger): every transaction takes row locks in
four phases, each in sorted key order: call rows (trace id, span id), response arbiter rows
(provider, response id), task rows (task id), totals rows (metric, labels). A transaction
only ever waits on a lock of its current phase or a later one, so no cycle (deadlock) can
form; PostgreSQL's deadlock detector plus the retry in ``core`` cover anything else.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from decimal import localcontext
from typing import Any

from llm_otel.pricing._construct import fast_constructor
from llm_otel.processor.ledger.dialect import EXACT, Cursor, Dialect
from llm_otel.processor.ledger.model import CallOutcome, CounterDelta, PricedCall, better
from llm_otel.processor.ledger.rows import (
    CALL_BOOL,
    CALL_COLUMNS,
    CALL_DEC,
    CALL_PG_TYPES,
    TASK_DEC,
    TASK_SUMS,
    add_into,
    call_values,
    contributions,
    decode,
    encode_call,
)
from llm_otel.processor.ledger.validate import check_call

_INSERT_CALL = f"INSERT INTO ledger_calls ({', '.join(CALL_COLUMNS)})"
_MOVE_RESPONSE = (
    "UPDATE ledger_responses SET trace_id = ?, span_id = ?, richness = ?, start_ns = ? "
    "WHERE provider = ? AND response_id = ?"
)
_UNCOUNT = "UPDATE ledger_calls SET counted = FALSE, superseded_by = ? WHERE trace_id = ? AND span_id = ?"
_MARK_LATE = "UPDATE ledger_calls SET late = TRUE WHERE trace_id = ? AND span_id = ?"


_TASK_TYPES = (
    "text",
    "text",
    "text",
    "text",
    *("numeric" if c in TASK_DEC else "bigint" for c in TASK_SUMS),
    "bigint",
    "bigint",
    "bigint",
)


def _task_upsert_sql(d: Dialect) -> tuple[str, str]:
    cols = (
        "task_id",
        "task_type",
        "team",
        "trace_id",
        *TASK_SUMS,
        "first_call_ns",
        "last_call_ns",
        "last_seen_ns",
    )
    sets = [
        "task_type = COALESCE(ledger_tasks.task_type, excluded.task_type)",
        "team = COALESCE(ledger_tasks.team, excluded.team)",
        "trace_id = COALESCE(ledger_tasks.trace_id, excluded.trace_id)",
        "first_call_ns = CASE WHEN ledger_tasks.first_call_ns IS NULL OR excluded.first_call_ns "
        "< ledger_tasks.first_call_ns THEN excluded.first_call_ns ELSE ledger_tasks.first_call_ns END",
        "last_call_ns = CASE WHEN ledger_tasks.last_call_ns IS NULL OR excluded.last_call_ns "
        "> ledger_tasks.last_call_ns THEN excluded.last_call_ns ELSE ledger_tasks.last_call_ns END",
        "last_seen_ns = excluded.last_seen_ns",
    ]
    for c in TASK_SUMS:
        expr = d.add(f"ledger_tasks.{c}", f"excluded.{c}") if c in TASK_DEC else f"ledger_tasks.{c} + excluded.{c}"
        sets.append(f"{c} = {expr}")
    return (
        f"INSERT INTO ledger_tasks ({', '.join(cols)})",
        f"ON CONFLICT (task_id) DO UPDATE SET {', '.join(sets)} RETURNING task_id, finalized",
    )


def totals_upsert_sql(d: Dialect) -> str:
    return (
        "INSERT INTO ledger_totals (replica, metric, labels, value) VALUES (?, ?, ?, ?) "
        f"ON CONFLICT (replica, metric, labels) DO UPDATE SET value = {d.add('ledger_totals.value', 'excluded.value')}"
    )


def labels_key(labels: tuple[str | None, ...]) -> str:
    """The canonical text form of a label tuple in ``ledger_totals.labels`` (a JSON array)."""
    return json.dumps(list(labels), separators=(",", ":"))


def apply_totals(cur: Cursor, d: Dialect, delta: CounterDelta, replica: str) -> None:
    """Add ``delta`` to the persisted counter totals (sorted: the last lock phase)."""
    rows = sorted((replica, metric, labels_key(labels), d.enc(v)) for (metric, labels), v in delta.items() if v)
    d.many(cur, totals_upsert_sql(d), rows)


_NO_SUMS = (0,) * len(TASK_SUMS)
_SUM_IS_DEC = tuple(c in TASK_DEC for c in TASK_SUMS)
_outcome = fast_constructor(CallOutcome)  # hot path: ~4x cheaper than the frozen dataclass __init__


class _TaskDelta:
    """One task's share of a batch: sums in TASK_SUMS order (ints and exact Decimals)."""

    __slots__ = ("first", "last", "positive", "sums", "task_type", "team", "trace_id")

    def __init__(self) -> None:
        self.sums: Sequence[Any] = _NO_SUMS
        self.task_type: str | None = None
        self.team: str | None = None
        self.trace_id: str | None = None
        self.first: int | None = None
        self.last: int | None = None
        self.positive: list[int] = []  # batch indices counted into this task (late if it is final)

    def add(self, task: Sequence[Any], sign: int) -> None:
        """sums += sign * task; exact (the caller runs under the EXACT decimal context)."""
        if sign > 0:
            self.sums = [a + b for a, b in zip(self.sums, task, strict=True)]
        else:
            self.sums = [a - b for a, b in zip(self.sums, task, strict=True)]


def record_calls(
    cur: Cursor,
    d: Dialect,
    calls: Sequence[PricedCall],
    now_ns: int,
    horizon_ns: int | None,
    replica: str = "",
) -> list[CallOutcome]:
    """Insert, deduplicate and count ``calls``; returns one outcome per call, in order.

    Decimal arithmetic runs under ``EXACT`` (80 digits, Inexact traps): ``+``/``-`` on money here
    can never round, and cost a third of ``EXACT.add``.
    """
    with localcontext(EXACT):
        return _record_calls(cur, d, calls, now_ns, horizon_ns, replica)


def _record_calls(
    cur: Cursor,
    d: Dialect,
    calls: Sequence[PricedCall],
    now_ns: int,
    horizon_ns: int | None,
    replica: str,
) -> list[CallOutcome]:
    n = len(calls)
    status: list[str] = ["new"] * n
    values: list[dict[str, Any]] = [{}] * n
    replaced: list[dict[str, Any] | None] = [None] * n
    kept: list[tuple[str, str] | None] = [None] * n
    reasons: list[str | None] = [None] * n
    first_of: dict[tuple[str, str], int] = {}
    for i, pc in enumerate(calls):
        r = pc.record
        key = (r.trace_id, r.span_id)
        reasons[i] = check_call(pc)
        if reasons[i] is not None:
            status[i] = "rejected"
        elif horizon_ns is not None and r.start_ns < horizon_ns:
            status[i] = "expired"
        elif key in first_of:
            status[i] = "duplicate_span"
        else:
            first_of[key] = i
            values[i] = call_values(pc, now_ns)

    # Phase 1: call rows. A conflict means this span was recorded before: nothing more to do.
    order_keys = sorted(first_of)
    order = [first_of[k] for k in order_keys]
    inserted = d.insert_new(
        cur,
        _INSERT_CALL,
        order_keys,
        [encode_call(values[i], d) for i in order],
        CALL_PG_TYPES,
    )
    fresh = []
    for i, ok in zip(order, inserted, strict=True):
        if not ok:
            status[i] = "duplicate_span"
        else:
            fresh.append(i)

    # Phase 2: one counted record per (provider, response id): the best under model.better().
    def rank(i: int) -> tuple[int, str, str]:
        return (values[i]["richness"], values[i]["trace_id"], values[i]["span_id"])

    groups: dict[tuple[str, str], list[int]] = {}
    for i in fresh:
        if values[i]["response_id"] is not None:
            groups.setdefault((values[i]["provider"], values[i]["response_id"]), []).append(i)
    keys = sorted(groups)
    best = []
    for k in keys:
        b = groups[k][0]
        for j in groups[k][1:]:
            if better(rank(j), rank(b)):
                b = j
        best.append(b)
    claimed = d.claim_responses(
        cur,
        [
            (*k, values[b]["trace_id"], values[b]["span_id"], values[b]["richness"], values[b]["start_ns"])
            for k, b in zip(keys, best, strict=True)
        ],
    )
    claims = {(r["provider"], r["response_id"]): r for r in claimed}
    losers: list[tuple[str, str, str]] = []
    for k, b in zip(keys, best, strict=True):
        row = claims[k]
        holder = (row["trace_id"], row["span_id"])
        winner = (values[b]["trace_id"], values[b]["span_id"])
        if holder != winner:
            if better(rank(b), (int(row["richness"]), *holder)):
                replaced[b] = _supersede(cur, d, k, values[b], holder, winner)
                if replaced[b] is not None:
                    status[b] = "replaced"
            else:
                winner = holder
        for j in groups[k]:
            if (values[j]["trace_id"], values[j]["span_id"]) != winner:
                status[j], kept[j] = "duplicate_response", winner
                losers.append((f"{winner[0]}:{winner[1]}", values[j]["trace_id"], values[j]["span_id"]))
    d.many(cur, _UNCOUNT, sorted(losers, key=lambda x: (x[1], x[2])))

    # Phase 3: tasks. Phase 4: totals. Hot path (per counted call): the common case (new, no
    # replaced record) takes the call's counters as its delta as they are (they hold no zeros).
    deltas: list[CounterDelta] = [{} for _ in range(n)]
    tasks: dict[str, _TaskDelta] = {}
    total: CounterDelta = {}
    for i in fresh:
        if status[i] not in ("new", "replaced"):
            continue
        v = values[i]
        c = contributions(v)
        old = replaced[i]
        if old is None:
            delta = deltas[i] = c.counters
        else:
            delta = deltas[i]
            add_into(delta, c.counters)
            oc = contributions(old)
            add_into(delta, oc.counters, -1)
            if old["task_id"] is not None:
                tasks.setdefault(old["task_id"], _TaskDelta()).add(oc.task, -1)
        for mk, amount in delta.items():
            prev = total.get(mk)
            total[mk] = amount if not prev else prev + amount
        task_id = v["task_id"]
        if task_id is not None:
            t = tasks.get(task_id)
            if t is None:
                t = tasks[task_id] = _TaskDelta()
            t.add(c.task, 1)
            t.positive.append(i)
            t.task_type = t.task_type or v["task_type"]
            t.team = t.team or v["team"]
            t.trace_id = t.trace_id or v["trace_id"]
            start, end = v["start_ns"], v["end_ns"]
            t.first = start if t.first is None else min(t.first, start)
            t.last = end if t.last is None else max(t.last, end)
    late = _apply_tasks(cur, d, tasks, values, now_ns)
    apply_totals(cur, d, total, replica)

    out = []
    for i, pc in enumerate(calls):
        r = pc.record
        old = replaced[i]
        out.append(
            _outcome(
                r.trace_id,
                r.span_id,
                status[i],
                i in late,
                deltas[i],
                (old["trace_id"], old["span_id"]) if old is not None else None,
                kept[i],
                r.task_id,
                reasons[i],
            )
        )
    return out


def _supersede(
    cur: Cursor,
    d: Dialect,
    key: tuple[str, str],
    new: dict[str, Any],
    holder: tuple[str, str],
    winner: tuple[str, str],
) -> dict[str, Any] | None:
    """Count ``new`` for ``key`` instead of ``holder``; returns holder's row if it was counted."""
    cur.execute(d.sql(_MOVE_RESPONSE), (*winner, new["richness"], new["start_ns"], *key))
    cur.execute(d.sql(f"SELECT * FROM ledger_calls WHERE trace_id = ? AND span_id = ?{d.for_update}"), holder)
    row = cur.fetchone()
    cur.execute(d.sql(_UNCOUNT), (f"{winner[0]}:{winner[1]}", *holder))
    if row is None or not row["counted"]:
        return None  # the holder's row is gone (retention): nothing to take back
    return decode(row, d, CALL_DEC, CALL_BOOL)


def _apply_tasks(
    cur: Cursor, d: Dialect, tasks: dict[str, _TaskDelta], values: list[dict[str, Any]], now_ns: int
) -> set[int]:
    """Add the batch's task deltas; returns batch indices of calls whose task was already final."""
    ids = sorted(tasks)
    rows = []
    for tid in ids:
        t = tasks[tid]
        sums = [d.enc(x) if dec else x for x, dec in zip(t.sums, _SUM_IS_DEC, strict=True)]
        rows.append((tid, t.task_type, t.team, t.trace_id, *sums, t.first, t.last, now_ns))
    final = {r["task_id"] for r in d.upsert_rows(cur, *_task_upsert_sql(d), rows, _TASK_TYPES) if r["finalized"]}
    late: set[int] = set()
    late_counts = []
    for tid in ids:
        if tid in final and tasks[tid].positive:
            late.update(tasks[tid].positive)
            late_counts.append((len(tasks[tid].positive), tid))
    d.many(cur, "UPDATE ledger_tasks SET late_spans = late_spans + ? WHERE task_id = ?", late_counts)
    d.many(cur, _MARK_LATE, sorted((values[i]["trace_id"], values[i]["span_id"]) for i in late))
    return late
