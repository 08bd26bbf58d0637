"""The Ledger object: one connection, one lock, every operation one short transaction.

Thread-safe: calls from several threads are serialized on the connection. Several
processes (replicas) each open their own Ledger on the same database; correctness between
them comes from the database (SQLite's write lock; PostgreSQL row locks, see ``writes``).
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from functools import partial
from typing import Any, TypeVar

from llm_otel.processor.ledger import avoided, queries, tasks, writes
from llm_otel.processor.ledger.dialect import Cursor, Dialect, LedgerError
from llm_otel.processor.ledger.model import (
    CallOutcome,
    CallRow,
    Labels,
    PricedCall,
    TaskEconomics,
    TaskRow,
    TaskSpanOutcome,
)
from llm_otel.processor.ledger.schema import CURRENT_VERSION, SchemaTooNew, migrate, schema_version
from llm_otel.processor.record import AvoidedRecord, TaskSpanRecord

log = logging.getLogger("llm_otel.processor.ledger")
T = TypeVar("T")
NS_PER_DAY = 86_400 * 1_000_000_000
MAX_ATTEMPTS = 8


def to_ns(t: datetime | int) -> int:
    """A time argument (aware datetime, or ns since the epoch) as ns since the epoch."""
    if isinstance(t, datetime):
        if t.tzinfo is None:
            raise ValueError(f"naive datetime {t.isoformat()}: give a timezone (e.g. datetime.now(timezone.utc))")
        return int(t.timestamp()) * 1_000_000_000 + t.microsecond * 1000
    return int(t)


class Ledger:
    """The durable record of priced calls and tasks; open it with ``open_ledger(url)``."""

    def __init__(self, dialect: Dialect, *, retention_days: int | None = None, replica: str = "") -> None:
        if retention_days is not None and retention_days <= 0:
            raise ValueError(f"retention_days must be a positive number of days, got {retention_days}")
        self.dialect = dialect
        self.backend = dialect.name
        self.retention_days = retention_days
        self.replica = replica
        self._lock = threading.Lock()
        self._conn: Any = dialect.connect()
        self.migrated_from = self._run(self._migrate)

    # --- plumbing ---------------------------------------------------------------
    def _migrate(self, cur: Cursor) -> int:
        self.dialect.migration_lock(cur)
        return migrate(cur, self.dialect)

    def _run(self, fn: Callable[[Cursor], T], *, readonly: bool = False) -> T:
        """Run ``fn`` in one transaction; retry it whole on deadlock/busy; errors become LedgerError."""
        with self._lock:
            for attempt in range(1, MAX_ATTEMPTS + 1):
                try:
                    if self._conn is None or self.dialect.broken(self._conn):
                        self._reconnect()
                    with self.dialect.transaction(self._conn, readonly=readonly) as cur:
                        return fn(cur)
                except (ValueError, KeyError, LedgerError, SchemaTooNew):
                    raise
                except Exception as exc:
                    if self.dialect.retryable(exc) and attempt < MAX_ATTEMPTS:
                        log.info(
                            "ledger transaction retried",
                            extra={"attempt": attempt, "error": type(exc).__name__},
                        )
                        time.sleep(random.uniform(0, 0.005 * 2**attempt))
                        continue
                    raise LedgerError(f"ledger ({self.backend}) write failed: {type(exc).__name__}: {exc}") from exc
            raise AssertionError("unreachable")

    def _reconnect(self) -> None:
        try:
            if self._conn is not None:
                self._conn.close()
        except Exception:
            log.debug("closing a broken ledger connection failed", exc_info=True)
        self._conn = None
        self._conn = self.dialect.connect()

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def horizon_ns(self, now_ns: int | None = None) -> int | None:
        """Calls that started before this instant are outside retention (None: keep forever)."""
        if self.retention_days is None:
            return None
        return (now_ns if now_ns is not None else time.time_ns()) - self.retention_days * NS_PER_DAY

    # --- writes -----------------------------------------------------------------
    def record_calls(self, calls: Sequence[PricedCall]) -> list[CallOutcome]:
        """Record a batch in one transaction, durable when this returns; one outcome per call, in order.

        Idempotent per (trace id, span id); one counted record per (provider, response id), the
        richest (``model.richness``). Raises LedgerError (nothing kept) if the database fails:
        the receiver must then answer the Export with a retryable error.
        """
        if not calls:
            return []
        now = time.time_ns()
        horizon = self.horizon_ns(now)
        return self._run(lambda cur: writes.record_calls(cur, self.dialect, calls, now, horizon, self.replica))

    def record_avoided(self, records: Sequence[AvoidedRecord]) -> list[bool]:
        """Record skipped runs (``skip_unchanged``) in one transaction, durable when this returns.

        One bool per record, in order: True when newly stored (its cost and calls were added to
        this replica's totals), False for a span already in the ledger (or repeated in the batch).
        Raises LedgerError (nothing kept) if the database fails.
        """
        if not records:
            return []
        for r in records:
            if (
                not (r.cost_usd.is_finite() and r.cost_usd >= 0)
                or min(r.calls, r.input_tokens, r.output_tokens, r.cache_read_tokens) < 0
            ):
                raise ValueError(f"avoided run {r.trace_id}:{r.span_id} has a negative or non-finite amount")
        now = time.time_ns()
        return self._run(lambda cur: avoided.record_avoided(cur, self.dialect, records, now, self.replica))

    def upsert_task_span(self, span: TaskSpanRecord) -> TaskSpanOutcome:
        """Apply the span ``llm_otel.task()`` emitted (type, team, status, start/end, budget)."""
        now = time.time_ns()
        return self._run(lambda cur: tasks.upsert_task_span(cur, self.dialect, span, now))

    def finalize_task(self, task_id: str, *, status: str | None = None, now_ns: int | None = None) -> TaskRow | None:
        """Mark a task final. Returns the row to exactly one caller across replicas (observe it once);
        None if it was already final or is unknown. ``status`` fills in a task that has no span."""
        at = now_ns if now_ns is not None else time.time_ns()
        return self._run(lambda cur: tasks.finalize_task(cur, self.dialect, task_id, at, status, self.replica))

    def set_task_analysis(
        self,
        task_id: str,
        *,
        anomalies: Collection[str] | None = None,
        detail: Mapping[str, object] | None = None,
        economics: TaskEconomics | None = None,
    ) -> tuple[str, ...]:
        """Store anomaly flags / context economics on a task; returns the kinds newly flagged."""
        return self._run(
            lambda cur: tasks.set_task_analysis(cur, self.dialect, task_id, anomalies, detail, economics, self.replica)
        )

    def save_baselines(self, baselines: Mapping[str, Sequence[float]]) -> None:
        """Persist anomaly baselines (key, e.g. task type -> rolling window of samples, oldest first)."""
        now = time.time_ns()
        self._run(lambda cur: tasks.save_baselines(cur, self.dialect, baselines, now))

    def load_baselines(self) -> dict[str, list[float]]:
        return self._run(lambda cur: tasks.load_baselines(cur, self.dialect), readonly=True)

    def apply_retention(self, now_ns: int | None = None) -> int:
        """Delete call rows older than ``retention_days``; returns how many. Tasks and totals are kept."""
        horizon = self.horizon_ns(now_ns)
        if horizon is None:
            return 0
        return self._run(lambda cur: queries.delete_calls_before(cur, self.dialect, horizon))

    # --- reads ------------------------------------------------------------------
    def totals(self, *, all_replicas: bool = False) -> dict[str, dict[Labels, Decimal]]:
        """Counter totals, exact: metric -> labels -> amount.

        By default this replica's own (what its counters resume from after a restart, so a
        restarted replica neither drops nor jumps); ``all_replicas=True``: the whole ledger.
        With one processor (replica ``""``) both are the same.
        """
        replica = None if all_replicas else self.replica
        return self._run(lambda cur: queries.totals(cur, self.dialect, replica), readonly=True)

    def task_cost_histogram(self, *, all_replicas: bool = False) -> dict[Labels, Decimal]:
        """The persisted ``llm_task_cost_usd`` histogram: (team, task_type, status, le) -> amount.

        ``le`` is a bucket's bound (a task count, not cumulative) or ``"sum"`` (exact cost sum).
        What ``BusinessMetrics.resume_task_costs`` rebuilds the histogram from after a restart.
        """
        replica = None if all_replicas else self.replica
        return self._run(lambda cur: queries.task_cost_histogram(cur, self.dialect, replica), readonly=True)

    def schema_version(self) -> int:
        return self._run(lambda cur: schema_version(cur, self.dialect), readonly=True)

    def get_task(self, task_id: str) -> TaskRow | None:
        return self._run(lambda cur: queries.get_task(cur, self.dialect, task_id), readonly=True)

    def calls_for_task(self, task_id: str, *, counted_only: bool = True) -> list[CallRow]:
        return self._run(lambda cur: queries.calls_for_task(cur, self.dialect, task_id, counted_only), readonly=True)

    def iter_calls(
        self, since: datetime | int, until: datetime | int, *, counted_only: bool = True, page: int = 5000
    ) -> Iterator[CallRow]:
        """Calls that started in ``[since, until)``, in start order, streamed page by page."""
        lo, hi = to_ns(since), to_ns(until)
        after: tuple[int, str, str] | None = None
        while True:
            rows = self._run(
                partial(
                    queries.calls_page,
                    d=self.dialect,
                    since_ns=lo,
                    until_ns=hi,
                    after=after,
                    limit=page,
                    counted_only=counted_only,
                ),
                readonly=True,
            )
            yield from rows
            if len(rows) < page:
                return
            after = (rows[-1].start_ns, rows[-1].trace_id, rows[-1].span_id)

    def calls_in_range(
        self, since: datetime | int, until: datetime | int, *, counted_only: bool = True
    ) -> list[CallRow]:
        """All calls that started in ``[since, until)`` (see iter_calls to stream)."""
        return list(self.iter_calls(since, until, counted_only=counted_only))

    def iter_tasks(
        self,
        since: datetime | int | None = None,
        until: datetime | int | None = None,
        *,
        finalized: bool | None = None,
        page: int = 5000,
    ) -> Iterator[TaskRow]:
        """Tasks that began in ``[since, until)`` (any time when omitted), by task id, page by page."""
        lo = None if since is None else to_ns(since)
        hi = None if until is None else to_ns(until)
        after: str | None = None
        while True:
            rows = self._run(
                partial(
                    queries.tasks_page,
                    d=self.dialect,
                    since_ns=lo,
                    until_ns=hi,
                    finalized=finalized,
                    after=after,
                    limit=page,
                ),
                readonly=True,
            )
            yield from rows
            if len(rows) < page:
                return
            after = rows[-1].task_id

    def tasks_in_range(
        self,
        since: datetime | int | None = None,
        until: datetime | int | None = None,
        *,
        finalized: bool | None = None,
    ) -> list[TaskRow]:
        return list(self.iter_tasks(since, until, finalized=finalized))

    def open_tasks(self) -> list[TaskRow]:
        """Tasks not finalized yet: what the rollup reloads after a restart."""
        return list(self.iter_tasks(finalized=False))


__all__ = ["CURRENT_VERSION", "Ledger", "to_ns"]
