"""Runs skip_unchanged avoided: read from the SDK's span, stored once, counted once, resumed after restart."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from ledger_support import call, flat_totals, pg_schema_url, sqlite_url
from opentelemetry.proto.trace.v1.trace_pb2 import Span
from spans_pb import kv

from llm_otel import semconv
from llm_otel.processor.dialects import normalize
from llm_otel.processor.dialects.own import AVOIDED_SPAN_NAME
from llm_otel.processor.errors import MalformedSpan
from llm_otel.processor.ledger import LedgerError, dialect_for, open_ledger
from llm_otel.processor.ledger.schema import migrate
from llm_otel.processor.ledger.writes import record_calls
from llm_otel.processor.metrics import ProcessorMetrics
from llm_otel.processor.pipeline import Pipeline, Unavailable
from llm_otel.processor.record import AvoidedRecord
from llm_otel.processor.rollup import Rollup
from llm_otel.processor.server import make_pricer
from llm_otel.sdk import unchanged

COST, CALLS = semconv.METRIC_AVOIDED_COST, semconv.METRIC_AVOIDED_CALLS
A = semconv.AVOIDED_PREFIX


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield sqlite_url(tmp_path)
    else:
        yield from pg_schema_url()


def skip_span(**attrs: object) -> Span:
    now = time.time_ns()
    base: dict[str, object] = {
        A + "calls": 2,
        A + "input_tokens": 1200,
        A + "output_tokens": 300,
        A + "cache_read.input_tokens": 100,
        A + "cost_usd": 0.0123,
        semconv.TASK_ID: "t-1",
        semconv.TASK_TYPE: "policy_review",
        semconv.TEAM: "secops",
    }
    base.update(attrs)
    return Span(
        trace_id=os.urandom(16),
        span_id=os.urandom(8),
        name=AVOIDED_SPAN_NAME,
        kind=Span.SPAN_KIND_INTERNAL,
        start_time_unix_nano=now - 1000,
        end_time_unix_nano=now,
        attributes=[kv(k, v) for k, v in base.items() if v is not None],
    )


def avoided(span_id: str = "00000000000000a1", *, cost: str = "0.0123", calls: int = 2,
            team: str | None = "secops", task_type: str | None = "policy_review") -> AvoidedRecord:  # fmt: skip
    return AvoidedRecord("ab" * 16, span_id, 1, "t-1", task_type, team, calls, 1200, 300, 100, Decimal(cost))


# --- dialect ---------------------------------------------------------------------------------


def test_the_processor_reads_the_span_name_the_sdk_writes() -> None:
    assert AVOIDED_SPAN_NAME == unchanged.SPAN_NAME


def test_a_skip_span_becomes_an_avoided_record_with_the_exact_decimal_of_the_float() -> None:
    rec = normalize(skip_span(), {}, semconv.INSTRUMENTATION_SCOPE)
    assert isinstance(rec, AvoidedRecord)
    assert (rec.calls, rec.input_tokens, rec.output_tokens, rec.cache_read_tokens) == (2, 1200, 300, 100)
    assert rec.cost_usd == Decimal("0.0123")
    assert (rec.task_id, rec.task_type, rec.team) == ("t-1", "policy_review", "secops")


def test_a_skip_span_without_a_task_is_unattributed_and_missing_amounts_are_zero() -> None:
    span = skip_span(**{semconv.TASK_ID: None, semconv.TASK_TYPE: None, semconv.TEAM: None, A + "cost_usd": None})
    rec = normalize(span, {}, semconv.INSTRUMENTATION_SCOPE)
    assert isinstance(rec, AvoidedRecord)
    assert (rec.task_type, rec.team, rec.cost_usd) == (None, None, Decimal(0))


@pytest.mark.parametrize(
    "attr, value",
    [("cost_usd", -0.5), ("cost_usd", float("inf")), ("cost_usd", float("nan")), ("cost_usd", "1.0"),
     ("calls", -1), ("input_tokens", 1.5), ("output_tokens", True)],
)  # fmt: skip
def test_a_skip_span_with_an_impossible_amount_is_malformed(attr: str, value: object) -> None:
    with pytest.raises(MalformedSpan):
        normalize(skip_span(**{A + attr: value}), {}, semconv.INSTRUMENTATION_SCOPE)


# --- ledger ----------------------------------------------------------------------------------


def test_an_avoided_run_is_stored_once_and_its_totals_resume(url: str) -> None:
    with open_ledger(url) as led:
        assert led.record_avoided([avoided(), avoided("00000000000000a2", cost="0.5", calls=1)]) == [True, True]
        assert led.record_avoided([avoided(), avoided("00000000000000a3", team=None)]) == [False, True]
        assert led.record_avoided([avoided("00000000000000a4"), avoided("00000000000000a4")]) == [True, False]
    with open_ledger(url) as led:  # a restart: counters resume from these
        t = flat_totals(led)
    assert t[(COST, ("secops", "policy_review"))] == Decimal("0.5246")
    assert t[(CALLS, ("secops", "policy_review"))] == Decimal(5)
    assert t[(COST, (None, "policy_review"))] == Decimal("0.0123")


def test_avoided_runs_do_not_touch_call_totals(url: str) -> None:
    with open_ledger(url) as led:
        led.record_calls([call()])
        before = flat_totals(led)
        led.record_avoided([avoided()])
        after = flat_totals(led)
    assert {k: v for k, v in after.items() if k[0] not in (COST, CALLS)} == before


def test_negative_amounts_are_refused_before_anything_is_written(url: str) -> None:
    with open_ledger(url) as led:
        with pytest.raises(ValueError):
            led.record_avoided([avoided(), avoided("00000000000000a2", cost="-1")])
        assert led.record_avoided([avoided()]) == [True]


def test_replicas_racing_on_the_same_spans_count_each_once(url: str) -> None:
    with open_ledger(url):
        pass  # migrate once before the race
    records = [avoided(f"{i:016x}", cost="0.01") for i in range(1, 201)]
    results: dict[str, list[bool]] = {}

    def replica(name: str, order: list[AvoidedRecord]) -> None:
        out: list[bool] = []
        with open_ledger(url, replica=name) as led:
            for k in range(0, len(order), 20):
                out += led.record_avoided(order[k : k + 20])
        results[name] = out

    threads = [
        threading.Thread(target=replica, args=("r1", records)),
        threading.Thread(target=replica, args=("r2", records[::-1])),
        threading.Thread(target=replica, args=("r3", records[100:] + records[:100])),
    ]
    for th in threads:
        th.start()
    for th in threads:
        th.join(60)
    assert sum(sum(v) for v in results.values()) == 200
    with open_ledger(url) as led:
        assert flat_totals(led, all_replicas=True)[(COST, ("secops", "policy_review"))] == Decimal("2.00")
    own = []
    for name in results:
        with open_ledger(url, replica=name) as led:
            own.append(flat_totals(led).get((CALLS, ("secops", "policy_review")), 0))
    assert sum(own) == 400  # 2 calls per run, each run counted by exactly one replica


def test_a_v3_ledger_is_migrated_to_hold_avoided_runs_and_keeps_its_calls(url: str) -> None:
    d = dialect_for(url)
    conn = d.connect()
    try:
        with d.transaction(conn) as cur:
            migrate(cur, d, target=3)
            record_calls(cur, d, [call(task_id="old-task")], 1, None)
    finally:
        conn.close()
    with open_ledger(url) as led:
        assert led.migrated_from == 3
        assert led.schema_version() == 4
        assert led.get_task("old-task") is not None
        assert led.record_avoided([avoided()]) == [True]
        assert flat_totals(led)[(COST, ("secops", "policy_review"))] == Decimal("0.0123")


# --- pipeline --------------------------------------------------------------------------------


class FlakyLedger:
    """A real ledger whose next ``record_avoided`` fails like a dropped database connection."""

    def __init__(self, ledger: Any) -> None:
        self._ledger = ledger
        self.fail_next = False

    def __getattr__(self, name: str) -> Any:
        return getattr(self._ledger, name)

    def record_avoided(self, records: Any) -> list[bool]:
        if self.fail_next:
            self.fail_next = False
            raise LedgerError("ledger (sqlite) write failed: OperationalError: disk I/O error")
        return list(self._ledger.record_avoided(records))


@pytest.fixture
def pipeline(tmp_path: Path) -> Iterator[tuple[Pipeline, ProcessorMetrics, FlakyLedger]]:
    ledger = FlakyLedger(open_ledger(f"sqlite:///{tmp_path}/l.db"))
    metrics = ProcessorMetrics()
    rollup = Rollup(ledger, metrics, grace_period_s=5, idle_timeout_s=60)
    pipe = Pipeline(ledger, metrics, rollup, price=make_pricer(None), tick_s=3600)
    pipe.start()
    yield pipe, metrics, ledger
    pipe.close()
    ledger.close()


def test_the_pipeline_counts_a_redelivered_avoided_run_once_and_as_a_duplicate(
    pipeline: tuple[Pipeline, ProcessorMetrics, FlakyLedger],
) -> None:
    pipe, metrics, ledger = pipeline
    rec = normalize(skip_span(), {}, semconv.INSTRUMENTATION_SCOPE)
    assert isinstance(rec, AvoidedRecord)
    for _ in range(2):
        assert pipe.submit([], [], avoided=[rec]).result(10) == []
    assert metrics.business.value(COST, team="secops", task_type="policy_review") == Decimal("0.0123")
    assert metrics.business.value(CALLS) == 2
    assert metrics.spans_duplicate.labels("span")._value.get() == 1
    assert flat_totals(ledger)[(COST, ("secops", "policy_review"))] == Decimal("0.0123")


def test_when_the_ledger_fails_the_sender_is_told_to_retry_and_the_retry_counts_once(
    pipeline: tuple[Pipeline, ProcessorMetrics, FlakyLedger],
) -> None:
    pipe, metrics, ledger = pipeline
    rec = normalize(skip_span(), {}, semconv.INSTRUMENTATION_SCOPE)
    ledger.fail_next = True
    with pytest.raises(Unavailable):
        pipe.submit([], [], avoided=[rec]).result(10)
    assert metrics.business.value(COST) == 0
    pipe._probe()  # what the writer does on its next tick: the ledger answers again
    assert pipe.submit([], [], avoided=[rec]).result(10) == []
    assert pipe.submit([], [], avoided=[rec]).result(10) == []
    assert metrics.business.value(COST) == Decimal("0.0123")
