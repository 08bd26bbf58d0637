"""End to end: the OTel SDK's own OTLP exporters -> a running ``llm-otel collector`` -> ledger, /metrics, Prometheus.

The workload is generated with known ground truth (tests/processor/workload.py); half of it
goes over OTLP/HTTP, half over OTLP/gRPC, and one batch is sent twice (an exporter retry).
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from collector_proc import Collector, sample_values
from grpc import Compression as GrpcCompression
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcExporter
from opentelemetry.exporter.otlp.proto.http import Compression as HttpCompression
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpExporter
from workload import Truth, export_all, generate

from llm_otel import semconv
from llm_otel.processor.ledger import open_ledger

N_TASKS, CALLS_PER_TASK, UNATTRIBUTED = 120, 3, 15


def ledger_sum(url: str, metric: str) -> Decimal:
    with open_ledger(url) as ledger:
        return sum(ledger.totals().get(metric, {}).values(), Decimal(0))


def wait_for(predicate: Any, timeout: float = 15.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Collector, Truth, str]]:
    tmp = tmp_path_factory.mktemp("e2e")
    url = f"sqlite:///{tmp}/ledger.db"
    c = Collector(url, "--grace-period-s", "0.2", log_path=tmp / "collector.log").start()
    spans, truth = generate(N_TASKS, CALLS_PER_TASK, seed=7, unattributed_calls=UNATTRIBUTED)
    half = len(spans) // 2
    # Both exporters compress with gzip, as a production exporter would.
    export_all(HttpExporter(endpoint=c.http_endpoint, timeout=30, compression=HttpCompression.Gzip), spans[:half], 128)
    grpc = GrpcExporter(endpoint=c.grpc_endpoint, insecure=True, timeout=30, compression=GrpcCompression.Gzip)
    export_all(grpc, spans[half:], batch=128)
    export_all(grpc, spans[half : half + 128], batch=128)  # a retried batch: must count once
    yield c, truth, url
    c.stop()


def test_ledger_cost_equals_ground_truth_exactly(run: tuple[Collector, Truth, str]) -> None:
    _, truth, url = run
    assert ledger_sum(url, semconv.METRIC_COST) == truth.cost
    assert ledger_sum(url, semconv.METRIC_CALLS) == truth.calls
    assert ledger_sum(url, semconv.METRIC_TOKENS) == truth.tokens


def test_metrics_series_equal_ledger_totals_exactly(run: tuple[Collector, Truth, str]) -> None:
    c, truth, url = run
    text = c.scrape_text()
    with open_ledger(url) as ledger:
        totals = ledger.totals()[semconv.METRIC_COST]
    exposed = {
        (s["provider"], s["model"], s["team"], s["task_type"], s["token_type"]): v
        for s, v in sample_values(text, "llm_cost_usd_total")
    }
    expected = {tuple(x if x is not None else semconv.UNATTRIBUTED for x in k): float(v) for k, v in totals.items()}
    assert exposed == expected
    calls = sum(v for _, v in sample_values(text, "llm_calls_total"))
    assert calls == truth.calls


def test_calls_outside_tasks_are_counted_as_unattributed(run: tuple[Collector, Truth, str]) -> None:
    c, _, _ = run
    unattributed = [
        v for s, v in sample_values(c.scrape_text(), "llm_calls_total") if s["task_type"] == semconv.UNATTRIBUTED
    ]
    assert sum(unattributed) == UNATTRIBUTED


def test_the_retried_batch_is_counted_as_duplicates_not_spend(run: tuple[Collector, Truth, str]) -> None:
    c, _, _ = run
    assert c.scrape()["llm_otel_processor_spans_duplicate_total"] == 128


def test_every_task_is_finalized_once_with_a_trace_id_exemplar(run: tuple[Collector, Truth, str]) -> None:
    c, truth, _ = run
    wait_for(lambda: c.scrape().get("llm_task_cost_usd_count") == len(truth.tasks), what="tasks finalized")
    text = c.scrape_text()
    assert '# {trace_id="' in text
    task_sum = sum(v for _, v in sample_values(text, "llm_task_cost_usd_sum"))
    assert task_sum == pytest.approx(float(truth.task_cost), rel=1e-9)  # calls outside tasks are in no task


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def prometheus(run: tuple[Collector, Truth, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    binary = shutil.which("prometheus")
    if binary is None:
        pytest.fail("the Debian package 'prometheus' is not installed (apt-get install prometheus; .ci/run does)")
    c, _, _ = run
    tmp = tmp_path_factory.mktemp("prom")
    cfg = tmp / "prometheus.yml"
    cfg.write_text(
        "global: {scrape_interval: 1s}\n"
        "scrape_configs:\n"
        f"  - job_name: llm-otel\n    static_configs: [{{targets: ['127.0.0.1:{c.ports['metrics']}']}}]\n"
    )
    port = _free_port()
    proc = subprocess.Popen(
        [binary, f"--config.file={cfg}", f"--storage.tsdb.path={tmp / 'data'}",
         f"--web.listen-address=127.0.0.1:{port}", "--enable-feature=exemplar-storage"],
        stdout=subprocess.DEVNULL, stderr=open(tmp / "prometheus.log", "w"),  # noqa: SIM115
    )  # fmt: skip
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(10)


def promql(base: str, query: str) -> list[Any]:
    url = f"{base}/api/v1/query?" + urllib.parse.urlencode({"query": query})
    try:
        with urllib.request.urlopen(url, timeout=2) as r:
            return list(json.loads(r.read())["data"]["result"])
    except OSError:
        return []


def test_prometheus_scrape_sum_of_cost_agrees_with_ground_truth(
    run: tuple[Collector, Truth, str], prometheus: str
) -> None:
    _, truth, _ = run
    wait_for(lambda: promql(prometheus, "sum(llm_cost_usd_total)"), timeout=30, what="a Prometheus scrape")
    value = float(promql(prometheus, "sum(llm_cost_usd_total)")[0]["value"][1])
    assert value == pytest.approx(float(truth.cost), rel=1e-12)
    calls = float(promql(prometheus, "sum(llm_calls_total)")[0]["value"][1])
    assert calls == truth.calls


def test_config_example_file_is_accepted(tmp_path: Path) -> None:
    from llm_otel.processor.config import load_config

    root = Path(__file__).resolve().parents[2]
    cfg = load_config(root / "collector" / "config.example.yaml")
    assert cfg.otlp_grpc == "127.0.0.1:4317"
