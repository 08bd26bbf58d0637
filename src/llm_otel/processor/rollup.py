"""Per-task rollup: decides when a task is final and observes its cost once.

The ledger keeps each task's sums (every counted call adds to its task row in the same
transaction); this module only keeps, per open task, *when* to finalize it:

- a task whose task span has arrived is final ``grace_period_s`` later (call spans exported
  by other processes or batches may still be on their way);
- a task with no task span is final after ``idle_timeout_s`` without a new call. Replicas
  share the ledger, so before finalizing an idle task the row's ``last_seen_ns`` is read: a
  task another replica saw recently is not idle.

``Ledger.finalize_task`` returns the row to exactly one caller across replicas, and that
caller observes ``llm_task_cost_usd`` (exemplar: the task's trace id). Spans that arrive
for a final task still update the ledger and are counted as late there.

Memory: one ``_Open`` (two slots) per open task plus its id string; guarded by
benchmarks/processor_throughput.py (bytes per open task).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from typing import Any

from llm_otel.processor.analysis.anomalies import AnomalyConfig, Baselines, detect, retry_count
from llm_otel.processor.analysis.economics import task_economics
from llm_otel.processor.metrics import ProcessorMetrics

log = logging.getLogger("llm_otel.processor.rollup")

INCOMPLETE = "incomplete"  # status of a task finalized by idle timeout without a task span
SAVE_BASELINES_EVERY = 25  # finalized tasks between two saves of the anomaly baselines to the ledger


class _Open:
    __slots__ = ("deadline", "has_span")

    def __init__(self, deadline: float, has_span: bool) -> None:
        self.deadline = deadline
        self.has_span = has_span


class Rollup:
    """Open tasks awaiting finalization. Not thread-safe: the pipeline's writer thread owns it."""

    def __init__(
        self,
        ledger: Any,
        metrics: ProcessorMetrics,
        *,
        grace_period_s: float,
        idle_timeout_s: float,
        clock: Callable[[], float] = time.monotonic,
        anomalies: AnomalyConfig | None = None,
    ) -> None:
        self.ledger = ledger
        self.metrics = metrics
        self.grace = grace_period_s
        self.idle = idle_timeout_s
        self.clock = clock
        self.open: dict[str, _Open] = {}
        config = anomalies or AnomalyConfig()
        try:
            saved = ledger.load_baselines()
        except Exception as exc:
            log.warning("anomaly baselines could not be loaded; starting empty", extra={"error": type(exc).__name__})
            saved = {}
        self.baselines = Baselines.from_saved(saved, config)
        self._unsaved = 0

    def call_seen(self, task_id: str) -> None:
        """A counted, not-late call of ``task_id`` was ledgered."""
        t = self.open.get(task_id)
        if t is None:
            self.open[task_id] = _Open(self.clock() + self.idle, False)
        elif not t.has_span:
            t.deadline = self.clock() + self.idle

    def task_span_seen(self, task_id: str) -> None:
        """The task's own span was ledgered (not late, not a duplicate): final after the grace period."""
        t = self.open.get(task_id)
        deadline = self.clock() + self.grace
        if t is None:
            self.open[task_id] = _Open(deadline, True)
        else:
            t.deadline, t.has_span = deadline, True

    def reload(self, rows: Iterable[Any]) -> int:
        """After a restart: every task the ledger says is open (``Ledger.open_tasks``) is tracked again."""
        n = 0
        for row in rows:
            if row.has_span:
                self.task_span_seen(row.task_id)
            else:
                self.call_seen(row.task_id)
            n += 1
        self.metrics.open_tasks.set(len(self.open))
        return n

    def tick(self) -> int:
        """Finalize every task whose time has come; returns how many this replica finalized."""
        now = self.clock()
        due = [tid for tid, t in self.open.items() if t.deadline <= now]
        done = 0
        for tid in due:
            t = self.open[tid]
            try:
                done += self._finalize(tid, t, now)
            except Exception as exc:  # the ledger is down: try again next tick
                log.warning("task finalization failed; will retry", extra={"error": type(exc).__name__})
                break
        self.metrics.open_tasks.set(len(self.open))
        return done

    def _finalize(self, task_id: str, t: _Open, now: float) -> int:
        status = None
        if not t.has_span:
            row = self.ledger.get_task(task_id)
            if row is None or row.finalized:
                del self.open[task_id]
                return 0
            if not row.has_span:
                idle_for = (time.time_ns() - row.last_seen_ns) / 1e9
                if idle_for < self.idle:  # another replica saw a call of it recently
                    t.deadline = now + (self.idle - idle_for)
                    return 0
                status = INCOMPLETE
        final = self.ledger.finalize_task(task_id, status=status)
        del self.open[task_id]
        if final is None:
            return 0  # another replica finalized it
        trace_id = final.trace_id or final.span_trace_id
        self.metrics.business.observe_task(final.team, final.task_type, final.status, float(final.cost), trace_id)
        self.analyze(final, trace_id)
        return 1

    def analyze(self, task: Any, trace_id: str | None) -> None:
        """Context economics and anomalies of a task this replica finalized (so: exactly once).

        Stored on the task row; each newly stored anomaly is counted with the trace id as
        exemplar and logged once. A failure here never blocks finalization.
        """
        try:
            calls = self.ledger.calls_for_task(task.task_id)
            economics = task_economics(calls)
            retries = retry_count(calls)
            found = detect(task.task_type or "unattributed", float(task.cost), calls, self.baselines)
            new = self.ledger.set_task_analysis(
                task.task_id, anomalies=list(found), detail=found or None, economics=economics
            )
            self.metrics.observe_task_context(task.team, task.task_type, calls, economics.tokens_resent or 0, retries)
            for kind in new:
                self.metrics.business.count_anomaly(task.team, task.task_type, kind, trace_id)
                log.warning(
                    "task anomaly",
                    extra={"kind": kind, "task_id": task.task_id, "task_type": task.task_type, "team": task.team,
                           "cost_usd": str(task.cost), "trace_id": trace_id, "detail": found.get(kind)},
                )
            self._unsaved += 1
            if self._unsaved >= SAVE_BASELINES_EVERY:
                self.save_baselines()
        except Exception as exc:
            log.warning("task analysis failed", extra={"task_id": task.task_id, "error": type(exc).__name__})

    def save_baselines(self) -> None:
        """Persist the rolling baselines so a restart does not forget them."""
        try:
            self.ledger.save_baselines(self.baselines.snapshot())
            self._unsaved = 0
        except Exception as exc:
            log.warning("anomaly baselines could not be saved", extra={"error": type(exc).__name__})

    def finalize_all(self) -> int:
        """Finalize every open task now (tests, and ``llm-otel collector --finalize-on-exit``)."""
        for t in self.open.values():
            t.deadline = 0.0
        done = self.tick()
        self.save_baselines()
        return done
