"""skip_unchanged through a real collector: the SDK's skip span, exported twice, counts its avoided cost once.

Real pieces: the OTel SDK tracer provider with llm-otel's attribution processor, the OTLP gRPC
and HTTP exporters, ``llm-otel collector`` as a subprocess on a SQLite ledger, /metrics.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from collector_proc import Collector, sample_values
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpExporter
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import llm_otel
from llm_otel.pricing.usage import Usage
from llm_otel.sdk import attribution, call, unchanged

METRIC = "llm_avoided_cost_usd_total"
CALLS = "llm_avoided_calls_total"


def review(store: unchanged.SQLiteStore, document: str) -> dict[str, str]:
    """One policy review: a fake LLM call measured through ``note_call`` (what ``sdk.context`` does)."""

    def compute() -> dict[str, str]:
        unchanged.note_call("openai", "gpt-4o-mini", Usage(input_tokens=12_000, output_tokens=800))
        unchanged.note_call("openai", "gpt-4o-mini", Usage(input_tokens=3_000, output_tokens=200))
        return {"verdict": "ok"}

    return unchanged.call_unless_unchanged("policy-17", document, compute, version="review-v3", store=store)


@pytest.fixture
def skip_spans(tmp_path: Path) -> tuple[list[ReadableSpan], float]:
    """The spans of a week-1 run and a week-2 run of an unchanged policy, inside a task; and the stored cost."""
    memory = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    attribution.add_to(provider)
    store = unchanged.SQLiteStore(tmp_path / "unchanged.db")
    call.set_tracer_provider(provider)
    try:
        with llm_otel.task("policy_review", team="secops"):
            assert review(store, "allow s3:GetObject") == {"verdict": "ok"}  # week 1: runs
            assert review(store, "allow s3:GetObject") == {"verdict": "ok"}  # week 2: skipped
    finally:
        call.set_tracer_provider(None)
    spans = list(memory.get_finished_spans())
    assert [s.name for s in spans].count(unchanged.SPAN_NAME) == 1
    stored = store.get("policy-17")
    assert stored is not None and stored.cost_usd > 0 and stored.calls == 2
    return spans, stored.cost_usd


def grpc(c: Collector) -> GrpcExporter:
    return GrpcExporter(endpoint=c.grpc_endpoint, insecure=True, timeout=30)


def avoided(c: Collector) -> tuple[dict[tuple[str, str], float], dict[tuple[str, str], float]]:
    text = c.scrape_text()
    cost = {(lb["team"], lb["task_type"]): v for lb, v in sample_values(text, METRIC)}
    calls = {(lb["team"], lb["task_type"]): v for lb, v in sample_values(text, CALLS)}
    return cost, calls


def test_an_avoided_run_exported_twice_is_counted_once_and_survives_a_restart(
    skip_spans: tuple[list[ReadableSpan], float], tmp_path: Path
) -> None:
    spans, cost = skip_spans
    ledger = f"sqlite:///{tmp_path}/ledger.db"
    c = Collector(ledger, log_path=tmp_path / "collector.log").start()
    try:
        assert grpc(c).export(spans) is SpanExportResult.SUCCESS
        # The same batch again (a retry after a lost answer), over the other transport.
        assert HttpExporter(endpoint=c.http_endpoint, timeout=30).export(spans) is SpanExportResult.SUCCESS
        got_cost, got_calls = avoided(c)  # answered only after the ledger write: no waiting needed
        assert got_cost == {("secops", "policy_review"): pytest.approx(cost, rel=1e-12)}
        assert got_calls == {("secops", "policy_review"): 2.0}
        assert c.terminate() == 0
        c = Collector(ledger, log_path=tmp_path / "collector.log").start(ports=c.ports)
        assert avoided(c) == (got_cost, got_calls)
        # And a third delivery after the restart still counts nothing more.
        assert grpc(c).export(spans) is SpanExportResult.SUCCESS
        assert avoided(c) == (got_cost, got_calls)
    finally:
        c.stop()
