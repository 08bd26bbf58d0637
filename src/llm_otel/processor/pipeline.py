"""From a decoded Export request to durable, counted rows: normalize -> queue -> price -> ledger -> rollup.

Receivers (gRPC and HTTP, on one event loop) call ``Pipeline.ingest``: spans are normalized
on the loop (a malformed span is rejected alone, the rest kept), then handed to one writer
thread that prices them and writes whatever has queued up from all requests in one ledger
transaction (group commit). The request's future resolves only after that transaction has
committed, so an Export is answered success only when its rows are durable; if the ledger
fails, the future fails and the sender is told to retry (its spans count once: the ledger
is idempotent on (trace id, span id)).

Backpressure: when more than ``max_queue_spans`` spans wait for the ledger, new requests
are refused with ``Overloaded`` (429 / RESOURCE_EXHAUSTED with a retry delay) instead of
growing memory; while the ledger fails or the process drains, with ``Unavailable``
(503 / UNAVAILABLE).

Hot path: ``ingest`` (per span: one dialect read) and ``_write`` (per call: one price,
then one batched ledger transaction). Guarded by benchmarks/processor_throughput.py.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

from llm_otel.pricing._construct import fast_constructor
from llm_otel.processor import dedupe
from llm_otel.processor.decode import Decoded
from llm_otel.processor.dialects import decode_attributes, normalize_decoded
from llm_otel.processor.errors import MalformedSpan
from llm_otel.processor.ledger import PricedCall
from llm_otel.processor.ledger.avoided import avoided_delta
from llm_otel.processor.metrics import ProcessorMetrics
from llm_otel.processor.record import AvoidedRecord, CallRecord, TaskSpanRecord
from llm_otel.processor.rollup import Rollup

log = logging.getLogger("llm_otel.processor.pipeline")

MAX_REASONS = 5  # distinct rejection reasons quoted back to the sender
_priced_call = fast_constructor(PricedCall)  # PricedCall(record, cost), without the frozen __init__
RETENTION_EVERY_S = 3600.0  # how often old call rows are deleted when retention is configured


class Overloaded(Exception):
    """Too much is queued for the ledger: the sender should retry after ``retry_after_s``."""


class Unavailable(Exception):
    """The ledger is failing or the processor is shutting down: the sender should retry."""


@dataclass(slots=True)
class IngestResult:
    accepted: int
    rejected: int
    message: str = ""


@dataclass(slots=True)
class _Batch:
    calls: list[CallRecord]
    task_spans: list[TaskSpanRecord]
    origins: list[Any] | None  # (resource, scope, span) per call, when forwarding
    size: int
    future: Future[list[str]] = field(default_factory=Future)  # reasons of calls the ledger refused
    avoided: list[AvoidedRecord] = field(default_factory=list)  # skip_unchanged spans (never priced)


def rejection_reason(exc: MalformedSpan) -> str:
    """A short, fixed label for the ``reason`` of ``spans_rejected`` (the message goes to the sender)."""
    text = exc.reason
    if " id " in text or text.startswith(("trace id", "span id", "parent span id")):
        return "invalid_id"
    if "start" in text or "ends before" in text:
        return "invalid_time"
    attr = exc.attribute or ""
    if "usage" in attr or "token" in attr:
        return "invalid_usage"
    return "malformed"


class Pipeline:
    """Owns the writer thread, the ledger handle, pricing, rollup and the business metrics' updates."""

    def __init__(
        self,
        ledger: Any,
        metrics: ProcessorMetrics,
        rollup: Rollup,
        *,
        price: Callable[[CallRecord], Any],
        max_queue_spans: int = 200_000,
        max_batch_calls: int = 5_000,
        tick_s: float = 1.0,
        forwarder: Any = None,
    ) -> None:
        self.ledger = ledger
        self.metrics = metrics
        self.rollup = rollup
        self.price = price
        self.max_queue_spans = max_queue_spans
        self.max_batch_calls = max_batch_calls
        self.tick_s = tick_s
        self.forwarder = forwarder
        self._queue: deque[_Batch] = deque()
        self._depth = 0
        self._cond = threading.Condition()
        self._closing = False
        self._healthy = True  # last ledger write succeeded
        self._thread = threading.Thread(target=self._run, name="llm-otel-ledger-writer", daemon=True)
        self._backend = getattr(ledger, "backend", "ledger")
        self._write_seconds = metrics.ledger_write_duration.labels(self._backend)

    # --- receiver side (event loop) ------------------------------------------------
    def start(self) -> None:
        self._thread.start()

    @property
    def ready(self) -> bool:
        return self._healthy and not self._closing and self._thread.is_alive()

    def normalize(
        self, decoded: Decoded, transport: str
    ) -> tuple[list[CallRecord], list[TaskSpanRecord], list[Any] | None, int, int, list[str], list[AvoidedRecord]]:
        """Every span of the request through its dialect reader; returns calls, task spans, origins,
        counts, and skipped runs (``skip_unchanged``)."""
        calls: list[CallRecord] = []
        tasks: list[TaskSpanRecord] = []
        avoided: list[AvoidedRecord] = []
        origins: list[Any] | None = [] if self.forwarder is not None else None
        received = decoded.rejected
        rejected = decoded.rejected
        reasons = list(decoded.reasons[:MAX_REASONS])
        if decoded.rejected:
            self.metrics.spans_rejected.labels(transport, "malformed").inc(decoded.rejected)
        for rs in decoded.request.resource_spans:
            resource = decode_attributes(rs.resource.attributes)
            for ss in rs.scope_spans:
                scope = ss.scope.name
                for span in ss.spans:
                    received += 1
                    try:
                        rec = normalize_decoded(span, decode_attributes(span.attributes), resource, scope)
                    except MalformedSpan as exc:
                        rejected += 1
                        self.metrics.spans_rejected.labels(transport, rejection_reason(exc)).inc()
                        if len(reasons) < MAX_REASONS and exc.reason not in reasons:
                            reasons.append(exc.reason)
                        continue
                    except Exception as exc:  # a reader bug on odd input: reject the span, keep the request
                        rejected += 1
                        self.metrics.spans_rejected.labels(transport, "malformed").inc()
                        log.warning("span could not be read", extra={"error": type(exc).__name__})
                        if len(reasons) < MAX_REASONS:
                            reasons.append(f"span could not be read ({type(exc).__name__})")
                        continue
                    if rec is None:
                        continue
                    if type(rec) is CallRecord:
                        calls.append(rec)
                        if origins is not None:
                            origins.append((rs.resource, ss.scope, span))
                    elif type(rec) is AvoidedRecord:
                        avoided.append(rec)
                    else:
                        tasks.append(rec)  # type: ignore[arg-type]
        self.metrics.spans_received.labels(transport).inc(received)
        return calls, tasks, origins, received, rejected, reasons, avoided

    async def ingest(self, decoded: Decoded, transport: str) -> IngestResult:
        """Normalize the request's spans and wait until their rows are durable."""
        calls, tasks, origins, received, rejected, reasons, avoided = self.normalize(decoded, transport)
        if calls or tasks or avoided:
            refused = await asyncio.wrap_future(self.submit(calls, tasks, origins, avoided=avoided))
            if refused:
                rejected += len(refused)
                self.metrics.spans_rejected.labels(transport, "invalid_record").inc(len(refused))
                reasons.extend(r for r in dict.fromkeys(refused) if r not in reasons)
                del reasons[MAX_REASONS:]
        message = ""
        if rejected:
            message = f"{rejected} of {received} spans rejected: " + "; ".join(reasons)
            log.info("spans rejected", extra={"transport": transport, "rejected": rejected, "received": received})
        return IngestResult(received - rejected, rejected, message)

    def submit(
        self,
        calls: list[CallRecord],
        tasks: list[TaskSpanRecord],
        origins: list[Any] | None = None,
        *,
        avoided: list[AvoidedRecord] | None = None,
    ) -> Future[list[str]]:
        """Queue records for the writer; the future resolves when they are durable (or fails).

        Its result: the reasons of the calls the ledger refused to store (rejected, not counted)."""
        avoided = avoided or []
        size = len(calls) + len(tasks) + len(avoided)
        batch = _Batch(calls, tasks, origins, size, avoided=avoided)
        with self._cond:
            if self._closing:
                raise Unavailable("the processor is shutting down")
            if not self._healthy:
                raise Unavailable("the ledger is failing")
            if self._depth > 0 and self._depth + size > self.max_queue_spans:
                raise Overloaded(f"{self._depth} spans are waiting for the ledger")
            self._queue.append(batch)
            self._depth += size
            self.metrics.queue_depth.set(self._depth)
            self._cond.notify()
        return batch.future

    # --- writer thread ------------------------------------------------------------
    def _take(self) -> list[_Batch]:
        with self._cond:
            if not self._queue and not self._closing:
                self._cond.wait(self.tick_s)
            out: list[_Batch] = []
            n = 0
            while self._queue and (not out or n + len(self._queue[0].calls) <= self.max_batch_calls):
                b = self._queue.popleft()
                out.append(b)
                n += len(b.calls)
            return out

    def _run(self) -> None:
        next_tick = time.monotonic() + self.tick_s
        next_retention = time.monotonic() + 60.0
        while True:
            batches = self._take()
            try:
                if batches:
                    self._write(batches)
                now = time.monotonic()
                if now >= next_tick:
                    next_tick = now + self.tick_s
                    self.rollup.tick()
                    if not self._healthy:
                        self._probe()
                if now >= next_retention:
                    next_retention = now + RETENTION_EVERY_S
                    self._apply_retention()
            except Exception:  # a bug must not stop the writer: requests would wait forever
                log.exception("ledger writer step failed")
            with self._cond:
                if self._closing and not self._queue:
                    return

    def _write(self, batches: list[_Batch]) -> None:
        calls = [c for b in batches for c in b.calls]
        size = sum(b.size for b in batches)
        try:
            # Hot path: no cyclic-GC passes while a batch is priced and written (they traversed the
            # whole heap every few batches: ~15% of a ledger write); one runs after, as usual.
            gc_paused = gc.isenabled()
            if gc_paused:
                gc.disable()
            try:
                price = self.price
                priced = [_priced_call(c, price(c)) for c in calls]
                t0 = time.perf_counter()
                outcomes = self.ledger.record_calls(priced) if priced else []
                self._write_seconds.observe(time.perf_counter() - t0)
            finally:
                if gc_paused:
                    gc.enable()
            self._count_calls(outcomes)  # committed: count now, even if the task spans below fail
            skipped = [a for b in batches for a in b.avoided]
            if skipped:
                self._count_avoided(skipped, self.ledger.record_avoided(skipped))
            span_outcomes = [self.ledger.upsert_task_span(ts) for b in batches for ts in b.task_spans]
        except Exception as exc:
            self._healthy = False
            log.error("ledger write failed; senders will retry", extra={"error": f"{type(exc).__name__}: {exc}"[:300]})
            for b in batches:
                b.future.set_exception(Unavailable(f"ledger write failed: {type(exc).__name__}"))
            self._dequeued(size)
            return
        self._healthy = True
        try:  # the rows are durable: whatever happens below, the senders get their answer
            for task_id in dedupe.task_spans_counted(span_outcomes, self.metrics):
                self.rollup.task_span_seen(task_id)
            self.metrics.open_tasks.set(len(self.rollup.open))
            if self.forwarder is not None:
                origins = [o for b in batches if b.origins is not None for o in b.origins]
                self.forwarder.enqueue(origins, priced)
        except Exception:
            log.exception("rollup or forwarding of a committed batch failed")
        i = 0
        for b in batches:
            n = len(b.calls)
            refused = [o.reason or "refused by the ledger" for o in outcomes[i : i + n] if o.status == "rejected"]
            i += n
            b.future.set_result(refused)
        self._dequeued(size)

    def _count_calls(self, outcomes: list[Any]) -> None:
        """Metrics and rollup for committed calls. Never raises: the ledger already has them."""
        try:
            t = dedupe.tally(outcomes)
            dedupe.apply(t, self.metrics)
            for task_id in t.tasks:
                self.rollup.call_seen(task_id)
        except Exception:
            log.exception("counting a committed batch failed; the ledger has it, metrics resume on restart")

    def _count_avoided(self, records: list[AvoidedRecord], stored: list[bool]) -> None:
        """Counters for committed skipped runs; a span seen before counts as a duplicate. Never raises."""
        try:
            self.metrics.business.apply_deltas([avoided_delta(records, stored)])
            duplicates = stored.count(False)
            if duplicates:
                self.metrics.spans_duplicate.labels("span").inc(duplicates)
        except Exception:
            log.exception("counting committed avoided runs failed; the ledger has them, metrics resume on restart")

    def _dequeued(self, size: int) -> None:
        with self._cond:
            self._depth -= size
            self.metrics.queue_depth.set(self._depth)

    def _apply_retention(self) -> None:
        """Delete call rows past the ledger's retention (a no-op without ``retention_days``)."""
        if getattr(self.ledger, "retention_days", None) is None:
            return
        try:
            deleted = self.ledger.apply_retention()
            if deleted:
                log.info("retention applied", extra={"deleted_calls": deleted})
        except Exception as exc:
            log.warning("retention failed; will retry", extra={"error": type(exc).__name__})

    def _probe(self) -> None:
        """While unhealthy, see whether the ledger answers again (so new requests are accepted)."""
        try:
            self.ledger.schema_version()
            self._healthy = True
            log.info("ledger reachable again")
        except Exception:
            pass

    def close(self, timeout: float = 30.0) -> None:
        """Stop accepting, write everything queued, and stop the writer thread."""
        with self._cond:
            self._closing = True
            self._cond.notify_all()
        if self._thread.is_alive():
            self._thread.join(timeout)
