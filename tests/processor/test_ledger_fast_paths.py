"""The ledger's fast paths write exactly what the plain paths write.

SQLite applies a batch's task sums in multi-row upserts (PostgreSQL in one ``unnest``); the
row-by-row ``Dialect.upsert_rows`` is the reference. Same traffic, same batches: same outcomes,
deltas, task rows and totals. The existence checks must probe the primary keys, never scan them
(a scan per batch grows with the ledger).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import asdict
from decimal import Decimal
from functools import partial
from pathlib import Path

from ledger_support import T0, call, flat_totals, recomputed_totals, workload

from llm_otel.processor.ledger import PricedCall, open_ledger
from llm_otel.processor.ledger.dialect import Dialect
from llm_otel.processor.ledger.rows import dec_text

_VOLATILE = ("last_seen_ns", "finalized_ns")  # wall-clock instants of the run


def _traffic() -> list[PricedCall]:
    """Duplicated responses of different richness, plain calls, and a richer record arriving later."""
    calls = workload(seed=7, responses=60, plain=40, tasks=9)
    first = next(c.record for c in calls if c.record.response_id == "resp-5")
    model = first.response_model or "gpt-4o"
    later = [
        call(trace_id=f"{5:032x}", span_id=f"{9:016x}", response_id="resp-5", model=model, provider=first.provider,
             input_tokens=9000, output_tokens=900, cache_read=100, cache_write=10, task_id="task-late",
             start_ns=T0 + 5),
    ]  # fmt: skip
    return calls + later


def _run(url: str, calls: list[PricedCall], row_by_row: bool) -> tuple[list[tuple], dict, dict, dict]:
    """Deliver ``calls`` in batches of 37 (finalizing one task midway, so later calls are late)."""
    outcomes = []
    with open_ledger(url) as led:
        if row_by_row:
            led.dialect.upsert_rows = partial(Dialect.upsert_rows, led.dialect)  # type: ignore[method-assign]
        for k in range(0, len(calls), 37):
            if k == 74:
                led.finalize_task("task-3")
            for o in led.record_calls(calls[k : k + 37]):
                outcomes.append((o.trace_id, o.span_id, o.status, o.late, o.delta, o.replaced, o.kept, o.task_id))
        tasks = {t.task_id: {k: v for k, v in asdict(t).items() if k not in _VOLATILE} for t in led.tasks_in_range()}
        totals = flat_totals(led)
        assert totals == recomputed_totals(led)
        calls_rows = {(c.trace_id, c.span_id): asdict(c) for c in led.calls_in_range(0, 2**63 - 1, counted_only=False)}
        for row in calls_rows.values():
            row.pop("recorded_ns")
    return outcomes, tasks, totals, calls_rows


def test_sqlite_multi_row_task_upserts_write_the_same_ledger_as_row_by_row(tmp_path: Path) -> None:
    calls = _traffic()
    fast = _run(f"sqlite:///{tmp_path / 'fast.db'}", calls, row_by_row=False)
    slow = _run(f"sqlite:///{tmp_path / 'slow.db'}", calls, row_by_row=True)
    assert fast == slow
    assert any(o[3] for o in fast[0]), "the traffic must include late calls"
    assert any(o[2] == "replaced" for o in fast[0]), "the traffic must include a richer record arriving later"


def test_postgresql_unnest_writes_the_same_ledger_as_row_by_row_and_as_sqlite(
    tmp_path: Path, pg_schemas: Callable[[], str]
) -> None:
    calls = _traffic()
    fast = _run(pg_schemas(), calls, row_by_row=False)
    slow = _run(pg_schemas(), calls, row_by_row=True)
    assert fast == slow
    assert fast[:3] == _run(f"sqlite:///{tmp_path / 'sqlite.db'}", calls, row_by_row=False)[:3]


def test_sqlite_existence_checks_probe_the_primary_keys_instead_of_scanning_them(tmp_path: Path) -> None:
    """Every read of the write path (the largest rowid before the inserts, the rows they added, the
    held response keys) probes an index: none scans a table, whose cost would grow with the ledger."""
    url = f"sqlite:///{tmp_path / 'plan.db'}"
    statements: list[str] = []
    with open_ledger(url) as led:
        led.record_calls(workload(seed=1, responses=5, plain=2))
        led._conn.set_trace_callback(statements.append)
        held = call(response_id="resp-0", dialect="openinference")  # a new span of a response counted before
        again = workload(seed=1, responses=5, plain=2)  # spans seen before
        outs = led.record_calls(again + [call(response_id=f"new-{i}") for i in range(5)] + [held])
        led._conn.set_trace_callback(None)
    assert outs[-1].status == "duplicate_response"
    assert [o.status for o in outs[len(again) : -1]] == ["new"] * 5
    reads = [s for s in statements if s.startswith(("WITH k(a, b)", "SELECT"))]
    assert any(s.startswith("WITH k(a, b)") for s in reads), statements  # the held response keys
    assert sum("max(rowid)" in s for s in reads) == 2, statements  # calls, then responses
    assert sum("WHERE rowid >" in s for s in reads) == 2, statements  # some inserts did not happen: read back
    plans = []
    with sqlite3.connect(tmp_path / "plan.db") as conn:
        for s in reads:
            plans += [row[3] for row in conn.execute("EXPLAIN QUERY PLAN " + s)]
    assert not [p for p in plans if p.startswith("SCAN ledger_")], plans
    assert sum(p.startswith("SEARCH") for p in plans) >= len(reads), plans


def test_an_all_new_batch_reads_nothing_back(tmp_path: Path) -> None:
    """The common case: every call and response is new, so the inserts' row counts say it all."""
    statements: list[str] = []
    with open_ledger(f"sqlite:///{tmp_path / 'new.db'}") as led:
        led.record_calls(workload(seed=1, responses=5, plain=2))
        led._conn.set_trace_callback(statements.append)
        outs = led.record_calls([call(response_id=f"fresh-{i}") for i in range(20)] + [call(response_id=None)])
        led._conn.set_trace_callback(None)
    assert {o.status for o in outs} == {"new"}
    assert not [s for s in statements if "WHERE rowid >" in s or s.startswith("WITH k(a, b)")], statements


def test_dec_text_is_format_f_for_every_kind_of_amount() -> None:
    values = ["0", "-0", "0.000", "1", "10", "1E+3", "1.5E-7", "0.00000015", "123.4500", "-2.5E-12",
              "12345678901234567890.123456789", "1E-30", "0.000001", "0.0000001", "9.99E+5"]  # fmt: skip
    for text in values:
        d = Decimal(text)
        assert dec_text(d) == format(d, "f"), text
        assert Decimal(dec_text(d)) == d
