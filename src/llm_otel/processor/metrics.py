"""The seam between the rollup and the outside world: one ``CollectorRegistry`` with every metric.

Business counters (DESIGN.md names and labels) are kept as exact ``Decimal`` totals keyed by
label tuples and exposed through a custom collector, so that they can resume from the ledger's
totals on restart and take the ledger's signed deltas as they are (a richer duplicate can move
tokens from ``input`` to ``cache_read``). Self-metrics (docs/metrics.md) are ordinary
prometheus-client metrics in the same registry.

Label values pass the cardinality guard: sanitized, then capped per label name; values past
the cap become ``other`` and are counted in ``llm_otel_processor_label_overflow_total``.

Hot path: ``apply_deltas`` runs once per ledger batch, a few dict operations per counter
moved; guarded by benchmarks/processor_throughput.py.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from decimal import Decimal
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, ProcessCollector
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.exposition import generate_latest as text_latest
from prometheus_client.openmetrics.exposition import CONTENT_TYPE_LATEST as OPENMETRICS_CONTENT_TYPE
from prometheus_client.openmetrics.exposition import generate_latest as openmetrics_latest
from prometheus_client.registry import Collector
from prometheus_client.samples import Exemplar

from llm_otel import semconv
from llm_otel.processor.config import Budget
from llm_otel.processor.ledger.model import TASK_COST_BUCKETS, TASK_COST_SUM

OTHER = "other"
UNKNOWN = "unknown"
MAX_LABEL_LENGTH = 100
TEXT_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
MAX_CACHED_KEYS = 100_000  # raw label tuples remembered with their guarded form (hot path)
_ZERO = Decimal(0)

# Label names and help of the business counters (must match ledger.COUNTER_LABELS orders).
COUNTERS: dict[str, tuple[tuple[str, ...], str]] = {
    semconv.METRIC_COST: (
        ("provider", "model", "team", "task_type", "token_type"),
        "Effective LLM spend in USD by token type (input is the uncached part).",
    ),
    semconv.METRIC_TOKENS: (
        ("provider", "model", "team", "task_type", "token_type"),
        "LLM tokens billed, by token type (disjoint: they add up to billed tokens).",
    ),
    semconv.METRIC_CALLS: (("provider", "model", "team", "task_type", "outcome"), "LLM calls, priced or not."),
    semconv.METRIC_CACHE_SAVINGS: (
        ("provider", "model", "team", "task_type"),
        "USD the prompt cache saved against uncached input prices.",
    ),
    semconv.METRIC_UNPRICED_CALLS: (("provider", "model", "reason"), "LLM calls that could not be priced."),
    semconv.METRIC_PROMPT_COST: (("template", "version", "provider", "model"), "LLM spend in USD by prompt template."),
    semconv.METRIC_TASK_ANOMALIES: (("team", "task_type", "kind"), "Tasks flagged as cost anomalies."),
    semconv.METRIC_AVOIDED_COST: (
        ("team", "task_type"),
        "USD not spent: LLM runs skip_unchanged skipped because their input had not changed.",
    ),
    semconv.METRIC_AVOIDED_CALLS: (("team", "task_type"), "LLM calls skip_unchanged did not make."),
}
_ATTRIBUTION_LABELS = frozenset(("team", "task_type"))

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

_TRANSLATE = {c: "_" for c in range(32)} | {127: "_"}


def sanitize(value: str) -> str:
    """A label value safe to expose: no control characters, at most MAX_LABEL_LENGTH characters."""
    if len(value) > MAX_LABEL_LENGTH:
        value = value[:MAX_LABEL_LENGTH]
    if not value.isprintable():
        value = value.translate(_TRANSLATE)
    return value.strip() or UNKNOWN


class LabelGuard:
    """Caps the distinct values of each label name; the rest become ``other`` (and are counted)."""

    def __init__(self, cap: int, overflow: Counter) -> None:
        self.cap = cap
        self._overflow = overflow
        self._accepted: dict[str, dict[str, str]] = {}  # label name -> raw value -> exposed value
        self._overflow_children: dict[str, Any] = {}

    def value(self, label: str, raw: str | None) -> str:
        if raw is None:
            return semconv.UNATTRIBUTED if label in _ATTRIBUTION_LABELS else UNKNOWN
        seen = self._accepted.get(label)
        if seen is None:
            seen = self._accepted[label] = {}
        out = seen.get(raw)
        if out is not None:
            return out
        if len(seen) >= self.cap:
            child = self._overflow_children.get(label)
            if child is None:
                child = self._overflow_children[label] = self._overflow.labels(label)
            child.inc()
            return OTHER
        out = seen[raw] = sanitize(raw)
        return out


class _TaskHistogram:
    __slots__ = ("counts", "exemplars", "sum")

    def __init__(self, n: int) -> None:
        self.counts = [0] * (n + 1)  # last: +Inf
        self.exemplars: list[Exemplar | None] = [None] * (n + 1)
        self.sum = 0.0


class BusinessMetrics(Collector):
    """The DESIGN.md metrics: exact counter totals, the task cost histogram, budgets."""

    def __init__(self, guard: LabelGuard, budgets: Iterable[Budget] = ()) -> None:
        self._guard = guard
        self._lock = threading.Lock()
        self._counters: dict[str, dict[tuple[str, ...], Decimal]] = {m: {} for m in COUNTERS}
        self._tasks: dict[tuple[str, str, str], _TaskHistogram] = {}
        self._budgets = {(b.team, b.task_type): b.usd for b in budgets}
        self._keys: dict[tuple[str, tuple[str | None, ...]], tuple[str, ...]] = {}  # raw -> guarded labels
        # Prometheus counters never go down: after a negative delta a series is exposed at its
        # previous value until later increments bring the exact total back above it.
        self._floors: dict[str, dict[tuple[str, ...], Decimal]] = {m: {} for m in COUNTERS}
        self._anomaly_exemplars: dict[tuple[str, ...], Exemplar] = {}

    def apply_deltas(self, deltas: Iterable[Mapping[tuple[str, tuple[str | None, ...]], Decimal]]) -> None:
        """Add the ledger's signed counter deltas (``CallOutcome.delta``, or ``Ledger.totals`` on resume)."""
        guard = self._guard.value
        cache = self._keys
        counters = self._counters
        with self._lock:
            for delta in deltas:
                for mk, amount in delta.items():
                    key = cache.get(mk)
                    if key is None:
                        metric, labels = mk
                        if metric not in counters:
                            continue
                        names = COUNTERS[metric][0]
                        key = tuple(guard(n, v) for n, v in zip(names, labels, strict=False))
                        # Keys with "other" are not cached, so every overflowing value is counted.
                        if OTHER not in key:
                            if len(cache) >= MAX_CACHED_KEYS:
                                cache.clear()
                            cache[mk] = key
                    series = counters[mk[0]]
                    before = series.get(key, _ZERO)
                    series[key] = before + amount
                    if amount < 0:  # a richer duplicate moved spend away: hold the exposed value
                        floors = self._floors[mk[0]]
                        floors[key] = max(before, floors.get(key, before))

    def resume(self, totals: Mapping[str, Mapping[tuple[str | None, ...], Decimal]]) -> None:
        """Start from the ledger's totals so a restart shows Prometheus no drop."""
        self.apply_deltas({(metric, labels): v for labels, v in series.items()} for metric, series in totals.items())

    def resume_task_costs(self, persisted: Mapping[tuple[str | None, ...], Decimal]) -> None:
        """Rebuild ``llm_task_cost_usd`` from the ledger's persisted histogram (``Ledger.task_cost_histogram``).

        Bucket counts and the sum come back exactly as observed before the restart (exemplars do
        not: they point at traces of the previous run). A bound no longer in TASK_COST_BUCKETS
        counts in the first current bucket at or above it.
        """
        index = {repr(b): i for i, b in enumerate(TASK_COST_BUCKETS)} | {"+Inf": len(TASK_COST_BUCKETS)}
        with self._lock:
            for labels, amount in persisted.items():
                if len(labels) != 4:
                    continue
                team, task_type, status, le = labels
                key = (
                    self._guard.value("team", team),
                    self._guard.value("task_type", task_type),
                    self._guard.value("status", status or UNKNOWN),
                )
                h = self._tasks.get(key)
                if h is None:
                    h = self._tasks[key] = _TaskHistogram(len(TASK_COST_BUCKETS))
                if le == TASK_COST_SUM:
                    h.sum += float(amount)
                    continue
                i = index.get(str(le))
                if i is None:
                    try:
                        bound = float(str(le))
                    except ValueError:
                        continue
                    i = next((j for j, b in enumerate(TASK_COST_BUCKETS) if b >= bound), len(TASK_COST_BUCKETS))
                h.counts[i] += int(amount)

    def observe_task(
        self, team: str | None, task_type: str | None, status: str | None, cost: float, trace_id: str | None
    ) -> None:
        """One finalized task's cost, with its trace id as exemplar."""
        key = (
            self._guard.value("team", team),
            self._guard.value("task_type", task_type),
            self._guard.value("status", status or UNKNOWN),
        )
        i = 0  # the bucket task_cost_bucket() persists it in
        while i < len(TASK_COST_BUCKETS) and cost > TASK_COST_BUCKETS[i]:
            i += 1
        with self._lock:
            h = self._tasks.get(key)
            if h is None:
                h = self._tasks[key] = _TaskHistogram(len(TASK_COST_BUCKETS))
            h.counts[i] += 1
            h.sum += cost
            if trace_id:
                h.exemplars[i] = Exemplar({"trace_id": trace_id}, cost, time.time())

    def count_anomaly(self, team: str | None, task_type: str | None, kind: str, trace_id: str | None) -> None:
        """One anomaly newly stored on a task row (the ledger's totals count it too, for resume)."""
        self.apply_deltas([{(semconv.METRIC_TASK_ANOMALIES, (team, task_type, kind)): Decimal(1)}])
        if trace_id:
            key = (self._guard.value("team", team), self._guard.value("task_type", task_type),
                   self._guard.value("kind", kind))
            with self._lock:
                self._anomaly_exemplars[key] = Exemplar({"trace_id": trace_id}, 1.0, time.time())

    def value(self, metric: str, **labels: str) -> Decimal:
        """Exact sum of a counter over the series matching ``labels`` (the ledger's view, before any floor)."""
        names = COUNTERS[metric][0]
        with self._lock:
            return sum(
                (
                    v
                    for k, v in self._counters[metric].items()
                    if all(k[names.index(n)] == x for n, x in labels.items())
                ),
                Decimal(0),
            )

    def collect(self) -> Iterator[Metric]:
        with self._lock:
            counters = {m: dict(s) for m, s in self._counters.items()}
            for m, floors in self._floors.items():
                for key, floor in list(floors.items()):
                    if counters[m].get(key, _ZERO) >= floor:
                        del floors[key]
                    else:
                        counters[m][key] = floor
            tasks = {k: (list(h.counts), list(h.exemplars), h.sum) for k, h in self._tasks.items()}
            anomaly_exemplars = dict(self._anomaly_exemplars)
        for metric, series in counters.items():
            names, doc = COUNTERS[metric]
            fam = CounterMetricFamily(metric, doc, labels=names)
            by_key = anomaly_exemplars if metric == semconv.METRIC_TASK_ANOMALIES else {}
            for key, amount in sorted(series.items()):
                fam.add_metric(key, float(amount), exemplar=by_key.get(key))
            yield fam
        hist = HistogramMetricFamily(
            semconv.METRIC_TASK_COST, "Cost in USD of finalized tasks.", labels=("team", "task_type", "status")
        )
        bounds = [*(repr(b) for b in TASK_COST_BUCKETS), "+Inf"]
        for key, (counts, exemplars, total) in sorted(tasks.items()):
            cumulative = 0
            buckets: list[Any] = []
            for bound, n, ex in zip(bounds, counts, exemplars, strict=True):
                cumulative += n
                buckets.append((bound, cumulative, ex) if ex is not None else (bound, cumulative))
            hist.add_metric(key, buckets, total)
        yield hist
        budget = GaugeMetricFamily(
            semconv.METRIC_BUDGET, "Monthly budget in USD from the processor's config.", labels=("team", "task_type")
        )
        for (team, task_type), usd in sorted(self._budgets.items()):
            budget.add_metric((team, task_type), usd)
        yield budget


class ProcessorMetrics:
    """Everything the processor exports, in one registry."""

    def __init__(self, *, max_label_values: int = 1000, budgets: Iterable[Budget] = ()) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.label_overflow = Counter(
            "llm_otel_processor_label_overflow",
            "Label values mapped to 'other' by the cardinality guard.",
            ["label"],
            registry=r,
        )
        self.guard = LabelGuard(max_label_values, self.label_overflow)
        self.business = BusinessMetrics(self.guard, budgets)
        r.register(self.business)
        self.spans_received = Counter(
            "llm_otel_processor_spans_received", "Spans decoded from Export requests.", ["transport"], registry=r
        )
        self.spans_rejected = Counter(
            "llm_otel_processor_spans_rejected",
            "Spans rejected as invalid (reported in partial_success).",
            ["transport", "reason"],
            registry=r,
        )
        self.spans_duplicate = Counter(
            "llm_otel_processor_spans_duplicate",
            "Spans not counted again: same (trace id, span id) or same (provider, response id).",
            ["key"],
            registry=r,
        )
        self.spans_late = Counter(
            "llm_otel_processor_spans_late", "Spans that arrived after their task was final.", registry=r
        )
        self.request_duration = Histogram(
            "llm_otel_processor_request_duration_seconds",
            "Export request handling time, receive to answer (after the ledger write is durable).",
            ["transport", "outcome"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.ledger_write_duration = Histogram(
            "llm_otel_processor_ledger_write_duration_seconds",
            "One ledger transaction (a batch of calls).",
            ["backend"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.queue_depth = Gauge("llm_otel_processor_queue_depth", "Spans received and not yet ledgered.", registry=r)
        self.open_tasks = Gauge(
            "llm_otel_processor_open_tasks", "Tasks held in memory awaiting finalization.", registry=r
        )
        self.forward_dropped = Counter(
            "llm_otel_processor_forward_dropped_spans",
            "Priced spans not forwarded (forward queue full or endpoint failing).",
            registry=r,
        )
        # Context economics (docs/metrics.md), observed from the calls of each task as it finalizes.
        call_labels = ["provider", "model", "team", "task_type"]
        self.call_input_tokens = Histogram(
            "llm_call_input_tokens", "Input tokens of one call of a task, inclusive of cache reads and writes.",
            call_labels, buckets=tuple(float(2**n) for n in range(8, 21)), registry=r,
        )
        self.call_cached_input_ratio = Histogram(
            "llm_call_cached_input_ratio", "Cache-read share of one call's input tokens (0..1).", call_labels,
            buckets=(0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 1.0), registry=r,
        )
        self.call_tool_schema_bytes = Histogram(
            "llm_call_tool_schema_bytes", "Serialized size of the tool definitions sent with one call.", call_labels,
            buckets=(0.0, *(float(2**n) for n in range(9, 18))), registry=r,
        )
        self.task_retries = Histogram(
            "llm_task_retries", "Calls of a finalized task that repeated an earlier call after an error.",
            ["team", "task_type"], buckets=(0.0, 1.0, 2.0, 3.0, 5.0, 10.0, 20.0, 50.0), registry=r,
        )
        self.task_resent_input_tokens = Counter(
            "llm_task_resent_input_tokens", "Input tokens re-sent as context (input minus the new input added).",
            ["team", "task_type"], registry=r,
        )
        self.prompt_calls = Counter(
            "llm_prompt_calls", "Calls of finalized tasks built from a prompt template.",
            ["template", "version", "provider", "model"], registry=r,
        )
        ProcessCollector(registry=r)
        # Children that exist from the start, so rate() sees 0 before the first event, not "no data".
        for key in ("span", "response"):
            self.spans_duplicate.labels(key)
        for transport in ("grpc", "http"):
            self.spans_received.labels(transport)

    def observe_task_context(self, team: str | None, task_type: str | None, calls: Iterable[Any],
                             resent_tokens: int, retries: int) -> None:
        """Context economics of one finalized task and its calls (``CallRow``s)."""
        g = self.guard.value
        t, k = g("team", team), g("task_type", task_type)
        for c in calls:
            labels = (g("provider", c.provider), g("model", c.model), t, k)
            inp = c.inclusive_input_tokens
            self.call_input_tokens.labels(*labels).observe(inp)
            self.call_cached_input_ratio.labels(*labels).observe((c.tokens_cache_read or 0) / inp if inp else 0.0)
            self.call_tool_schema_bytes.labels(*labels).observe(c.tools_bytes or 0)
            if c.prompt_template:
                self.prompt_calls.labels(g("template", c.prompt_template), g("version", c.prompt_version or UNKNOWN),
                                         labels[0], labels[1]).inc()
        self.task_retries.labels(t, k).observe(retries)
        if resent_tokens:
            self.task_resent_input_tokens.labels(t, k).inc(resent_tokens)

    def exposition(self, accept: str) -> tuple[bytes, str]:
        """The /metrics body: OpenMetrics (with exemplars) when the scraper accepts it, else text 0.0.4."""
        if "application/openmetrics-text" in accept:
            return openmetrics_latest(self.registry), OPENMETRICS_CONTENT_TYPE
        return text_latest(self.registry), TEXT_CONTENT_TYPE
