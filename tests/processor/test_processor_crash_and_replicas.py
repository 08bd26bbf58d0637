"""Durability and scale-out: kill -9 mid-load loses and doubles nothing; three replicas equal one processor."""

from __future__ import annotations

import threading
import time
import zlib
from collections.abc import Callable, Sequence
from decimal import Decimal
from pathlib import Path

import pytest
from collector_proc import Collector
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpExporter
from opentelemetry.sdk.trace import ReadableSpan
from workload import export_all, generate

from llm_otel import semconv
from llm_otel.processor.ledger import open_ledger


def _totals(url: str) -> dict[str, dict[tuple[str | None, ...], Decimal]]:
    with open_ledger(url) as ledger:
        return ledger.totals(all_replicas=True)


def _sum(totals: dict[str, dict[tuple[str | None, ...], Decimal]], metric: str) -> Decimal:
    return sum(totals.get(metric, {}).values(), Decimal(0))


def test_kill_9_mid_load_then_restart_loses_nothing_and_counts_nothing_twice(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/ledger.db"
    log = tmp_path / "collector.log"
    c = Collector(url, log_path=log).start()
    try:
        spans, truth = generate(250, 3, seed=11, unattributed_calls=20)
        half = len(spans) // 2
        sent = [0]
        errors: list[BaseException] = []

        def send(exporter: object, part: Sequence[ReadableSpan]) -> None:
            try:
                for i in range(0, len(part), 20):
                    export_all(exporter, part[i : i + 20], batch=20)
                    sent[0] += 20
                    time.sleep(0.005)
            except BaseException as exc:  # surfaced by the assertion below
                errors.append(exc)

        threads = [
            threading.Thread(target=send, args=(HttpExporter(endpoint=c.http_endpoint, timeout=60), spans[:half])),
            threading.Thread(
                target=send, args=(GrpcExporter(endpoint=c.grpc_endpoint, insecure=True, timeout=60), spans[half:])
            ),
        ]
        for t in threads:
            t.start()
        while sent[0] < len(spans) // 3:
            time.sleep(0.01)
        c.kill9()
        killed_at = sent[0]
        time.sleep(0.3)
        c.start(ports=c.ports)
        for t in threads:
            t.join(90)
        assert not errors, errors
        assert killed_at < len(spans)  # the kill really happened mid-load
        totals = _totals(url)
        assert _sum(totals, semconv.METRIC_COST) == truth.cost
        assert _sum(totals, semconv.METRIC_CALLS) == truth.calls
        scraped = c.scrape()  # counters resumed from the ledger after the restart, plus what came after
        assert scraped["llm_calls_total"] == truth.calls
        assert scraped["llm_cost_usd_total"] == pytest.approx(float(truth.cost), rel=1e-12)
    finally:
        c.stop()


def _route(spans: Sequence[ReadableSpan], n: int) -> list[list[ReadableSpan]]:
    """What the gateway's load_balancing exporter does: one replica per llm_otel.task.id (trace id without one)."""
    out: list[list[ReadableSpan]] = [[] for _ in range(n)]
    for s in spans:
        task_id = (s.attributes or {}).get(semconv.TASK_ID)
        key = str(task_id) if task_id is not None else f"{s.context.trace_id:032x}"
        out[zlib.crc32(key.encode()) % n].append(s)
    return out


def test_three_replicas_behind_a_task_id_router_with_one_postgresql_ledger_equal_one_processor(
    pg_schemas: Callable[[], str], tmp_path: Path
) -> None:
    spans, truth = generate(90, 3, seed=5, unattributed_calls=15)
    shared, alone = pg_schemas(), pg_schemas()
    flags = ("--grace-period-s", "0.2")
    replicas = [
        Collector(shared, *flags, "--replica", f"r{i}", log_path=tmp_path / f"replica{i}.log") for i in range(3)
    ]
    single = Collector(alone, *flags, log_path=tmp_path / "single.log")
    try:
        for c in [*replicas, single]:
            c.start()
        for c, part in zip(replicas, _route(spans, 3), strict=True):
            assert part
            export_all(HttpExporter(endpoint=c.http_endpoint, timeout=30), part, batch=100)
        export_all(GrpcExporter(endpoint=single.grpc_endpoint, insecure=True, timeout=30), spans, batch=100)
        replicated, one = _totals(shared), _totals(alone)
        assert replicated == one
        assert _sum(one, semconv.METRIC_COST) == truth.cost
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            r = [c.scrape() for c in replicas]
            s = single.scrape()
            if sum(x.get("llm_task_cost_usd_count", 0) for x in r) == s.get("llm_task_cost_usd_count") == 90:
                break
            time.sleep(0.2)
        for name in ("llm_calls_total", "llm_tokens_total", "llm_task_cost_usd_count"):
            assert sum(x.get(name, 0) for x in r) == s[name], name
        assert sum(x["llm_cost_usd_total"] for x in r) == pytest.approx(s["llm_cost_usd_total"], rel=1e-12)
        # A restarted replica resumes its own totals, not the shared ledger's: the sum still matches.
        replicas[1].terminate()
        replicas[1].start(ports=replicas[1].ports)
        after = [c.scrape() for c in replicas]
        assert sum(x.get("llm_calls_total", 0) for x in after) == s["llm_calls_total"]
        assert after[1].get("llm_calls_total") == r[1].get("llm_calls_total")
    finally:
        for c in [*replicas, single]:
            c.stop()
