"""Durability and scale-out: kill -9 mid-load loses and doubles nothing; three replicas equal one processor."""

from __future__ import annotations

import http.server
import threading
import time
import urllib.error
import urllib.request
import zlib
from collections.abc import Callable, Sequence
from decimal import Decimal
from pathlib import Path

import pytest
from collector_proc import Collector
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpExporter
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.trace import ReadableSpan
from workload import export_all, generate

from llm_otel import semconv
from llm_otel.processor.ledger import open_ledger


def _totals(url: str) -> dict[str, dict[tuple[str | None, ...], Decimal]]:
    with open_ledger(url) as ledger:
        return ledger.totals(all_replicas=True)


def _spend_totals(url: str) -> dict[str, dict[tuple[str | None, ...], Decimal]]:
    """The ledger's totals of spend (cost, tokens, calls, savings, unpriced, prompt cost).

    Anomaly counts are left out: a runaway verdict compares a task with the baseline of the
    tasks its replica finalized before it, so it depends on finalization order, which differs
    between one processor and three; retry loops and blow-ups are per task and tested apart.
    """
    totals = _totals(url)
    totals.pop(semconv.METRIC_TASK_ANOMALIES, None)
    return totals


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
        deadline = time.monotonic() + 60
        while sent[0] < len(spans) // 3 and not errors and time.monotonic() < deadline:
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


class TaskIdRouter:
    """An OTLP/HTTP router in front of the replicas, doing what the gateway's ``load_balancing``
    exporter does with ``routing_key: attributes`` on ``llm_otel.task.id``: every span of a task goes
    to one replica (spans without a task id share one key). It answers 200 only when every replica
    did, so the sending exporter retries otherwise."""

    def __init__(self, targets: Sequence[str]) -> None:
        router = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                status = router.route(ExportTraceServiceRequest.FromString(body))
                self.send_response(status)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.targets = list(targets)
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.endpoint = f"http://127.0.0.1:{self.server.server_address[1]}/v1/traces"

    def route(self, req: ExportTraceServiceRequest) -> int:
        parts = [ExportTraceServiceRequest() for _ in self.targets]
        for rs in req.resource_spans:
            for ss in rs.scope_spans:
                for span in ss.spans:
                    task_id = next((kv.value.string_value for kv in span.attributes if kv.key == semconv.TASK_ID), "")
                    out = parts[zlib.crc32(f"{semconv.TASK_ID}={task_id}|".encode()) % len(self.targets)]
                    ors = out.resource_spans.add()
                    ors.resource.CopyFrom(rs.resource)
                    oss = ors.scope_spans.add()
                    oss.scope.CopyFrom(ss.scope)
                    oss.spans.append(span)
        status = 200
        for target, part in zip(self.targets, parts, strict=True):
            if part.resource_spans:
                r = urllib.request.Request(target, part.SerializeToString(), {"Content-Type": "application/x-protobuf"})
                try:
                    with urllib.request.urlopen(r, timeout=30) as resp:
                        status = max(status, resp.status)
                except urllib.error.HTTPError as exc:
                    status = max(status, exc.code)
        return status

    def close(self) -> None:
        self.server.shutdown()


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
        router = TaskIdRouter([c.http_endpoint for c in replicas])
        export_all(HttpExporter(endpoint=router.endpoint, timeout=30), spans, batch=100)
        router.close()
        export_all(GrpcExporter(endpoint=single.grpc_endpoint, insecure=True, timeout=30), spans, batch=100)
        replicated, one = _spend_totals(shared), _spend_totals(alone)
        assert replicated == one
        assert _sum(one, semconv.METRIC_COST) == truth.cost
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            r = [c.scrape() for c in replicas]
            s = single.scrape()
            if sum(x.get("llm_task_cost_usd_count", 0) for x in r) == s.get("llm_task_cost_usd_count") == 90:
                break
            time.sleep(0.2)
        assert all(x.get("llm_calls_total", 0) > 0 for x in r)  # the router spread the tasks over all three
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
