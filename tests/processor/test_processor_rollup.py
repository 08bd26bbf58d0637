"""Task rollup: when a task is final, late spans, unattributed calls, restart reload."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.proto.trace.v1.trace_pb2 import Span
from spans_pb import call_span

from llm_otel.processor.dialects import normalize
from llm_otel.processor.ledger import open_ledger
from llm_otel.processor.metrics import ProcessorMetrics
from llm_otel.processor.pipeline import Pipeline
from llm_otel.processor.record import TaskSpanRecord
from llm_otel.processor.rollup import INCOMPLETE, Rollup
from llm_otel.processor.server import make_pricer


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def setup(tmp_path: Path) -> Iterator[tuple[Pipeline, Rollup, Clock, ProcessorMetrics, Any]]:
    ledger = open_ledger(f"sqlite:///{tmp_path}/l.db")
    metrics = ProcessorMetrics()
    clock = Clock()
    rollup = Rollup(ledger, metrics, grace_period_s=5, idle_timeout_s=60, clock=clock)
    pipe = Pipeline(ledger, metrics, rollup, price=make_pricer(None), tick_s=3600)
    pipe.start()
    yield pipe, rollup, clock, metrics, ledger
    pipe.close()
    ledger.close()


def record(span: Span) -> Any:
    return normalize(span, {}, "llm_otel")


def task_span(task_id: str, status: str = "ok") -> TaskSpanRecord:
    return TaskSpanRecord(trace_id="ab" * 16, span_id="cd" * 8, task_id=task_id, task_type="fuzz", team="secops",
                          status=status, start_ns=1, end_ns=2)  # fmt: skip


def write(pipe: Pipeline, calls: list[Any], tasks: list[TaskSpanRecord] = ()) -> None:  # type: ignore[assignment]
    pipe.submit(calls, list(tasks)).result(10)


def task_count(metrics: ProcessorMetrics) -> float:
    return sum(s.value for m in metrics.business.collect() for s in m.samples if s.name == "llm_task_cost_usd_count")


def test_a_task_is_final_only_after_its_span_and_the_grace_period(setup: Any) -> None:
    pipe, rollup, clock, metrics, _ = setup
    write(pipe, [record(call_span(task_id="t1"))], [task_span("t1")])
    assert rollup.tick() == 0
    clock.now += 5.1
    assert rollup.tick() == 1
    assert task_count(metrics) == 1


def test_a_task_without_a_span_is_final_after_the_idle_timeout_as_incomplete(setup: Any) -> None:
    pipe, rollup, clock, _, ledger = setup
    write(pipe, [record(call_span(task_id="t2"))])
    clock.now += 30
    assert rollup.tick() == 0
    # The ledger's last_seen is wall-clock: make the row old enough to be idle.
    ledger._run(lambda cur: cur.execute("UPDATE ledger_tasks SET last_seen_ns = 0 WHERE task_id = 't2'"))
    clock.now += 31
    assert rollup.tick() == 1
    assert ledger.get_task("t2").status == INCOMPLETE


def test_a_call_arriving_after_its_task_is_final_updates_the_ledger_and_counts_as_late(setup: Any) -> None:
    pipe, rollup, clock, metrics, ledger = setup
    write(pipe, [record(call_span(task_id="t3"))], [task_span("t3")])
    clock.now += 6
    rollup.tick()
    write(pipe, [record(call_span(task_id="t3"))])
    row = ledger.get_task("t3")
    assert row.calls == 2 and row.late_spans == 1
    assert metrics.spans_late._value.get() == 1
    assert "t3" not in rollup.open  # a late call does not reopen the task


def test_calls_without_a_task_are_priced_and_counted_but_open_no_task(setup: Any) -> None:
    pipe, rollup, _, metrics, _ = setup
    write(pipe, [record(call_span(task_id=None, team=None))])
    assert metrics.business.value("llm_calls", team="unattributed", task_type="unattributed") == 1
    assert metrics.business.value("llm_cost_usd", team="unattributed") > 0
    assert rollup.open == {}


def test_after_a_restart_open_tasks_are_reloaded_from_the_ledger(setup: Any) -> None:
    pipe, _, clock, _, ledger = setup
    write(pipe, [record(call_span(task_id="t4"))], [task_span("t4")])
    fresh = Rollup(ledger, ProcessorMetrics(), grace_period_s=5, idle_timeout_s=60, clock=clock)
    assert fresh.reload(ledger.open_tasks()) == 1
    clock.now += 6
    assert fresh.tick() == 1


def test_counters_resume_from_the_ledger_totals(setup: Any) -> None:
    pipe, _, _, metrics, ledger = setup
    write(pipe, [record(call_span(task_id="t5")) for _ in range(3)])
    again = ProcessorMetrics()
    again.business.resume(ledger.totals())
    assert again.business.value("llm_calls") == metrics.business.value("llm_calls") == 3
    assert again.business.value("llm_cost_usd") == metrics.business.value("llm_cost_usd")


def test_memory_per_open_task_is_under_one_kilobyte(setup: Any) -> None:
    import tracemalloc

    _, rollup, _, _, _ = setup
    ids = [f"task-{i:012d}-{'x' * 24}" for i in range(20_000)]  # ids exist before: they come with the span
    tracemalloc.start()
    before = tracemalloc.take_snapshot()
    for tid in ids:
        rollup.call_seen(tid)
    after = tracemalloc.take_snapshot()
    tracemalloc.stop()
    grown = sum(s.size_diff for s in after.compare_to(before, "filename"))
    assert grown / len(ids) < 1024


def test_a_record_the_ledger_refuses_is_reported_back_and_not_counted(setup: Any) -> None:
    import dataclasses

    from llm_otel.pricing.usage import Usage

    pipe, _, _, metrics, _ = setup
    good = record(call_span())
    bad = dataclasses.replace(record(call_span()), usage=Usage(input_tokens=-3, output_tokens=1))
    refused = pipe.submit([good, bad], []).result(10)
    assert len(refused) == 1 and refused[0]
    assert metrics.business.value("llm_calls") == 1


def test_a_negative_delta_never_makes_an_exposed_counter_go_down() -> None:
    from decimal import Decimal

    m = ProcessorMetrics()
    labels = ("openai", "gpt-4o", "secops", "triage", "input")

    def exposed() -> float:
        return sum(s.value for f in m.business.collect() for s in f.samples if s.name == "llm_tokens_total")

    m.business.apply_deltas([{("llm_tokens", labels): Decimal(100)}])
    m.business.apply_deltas([{("llm_tokens", labels): Decimal(-40)}])  # a richer duplicate moved 40 tokens
    assert exposed() == 100
    assert m.business.value("llm_tokens") == 60
    m.business.apply_deltas([{("llm_tokens", labels): Decimal(50)}])
    assert exposed() == 110


def _task_histogram(metrics: ProcessorMetrics) -> dict[tuple[str, ...], float]:
    """Every llm_task_cost_usd sample (buckets, count, sum) keyed by name and labels."""
    return {
        (s.name, *sorted(s.labels.items())): s.value  # type: ignore[arg-type]
        for m in metrics.business.collect()
        if m.name == "llm_task_cost_usd"
        for s in m.samples
    }


def test_the_task_cost_histogram_resumes_from_the_ledger(setup: Any) -> None:
    """A restarted processor exposes the same llm_task_cost_usd buckets, count and sum (no drop)."""
    pipe, rollup, clock, metrics, ledger = setup
    sizes = {"h1": 1, "h2": 40, "h3": 3}  # calls per task: different costs, different buckets
    for task_id, n in sizes.items():
        calls = [record(call_span(task_id=task_id, input_tokens=20_000 * (i + 1))) for i in range(n)]
        write(pipe, calls, [task_span(task_id, status="ok" if task_id != "h3" else "error")])
    clock.now += 6
    assert rollup.tick() == 3
    before = _task_histogram(metrics)
    assert sum(v for k, v in before.items() if k[0] == "llm_task_cost_usd_count") == 3
    assert len({v for k, v in before.items() if k[0] == "llm_task_cost_usd_bucket"}) > 2  # not all in one bucket

    again = ProcessorMetrics()
    again.business.resume(ledger.totals())
    again.business.resume_task_costs(ledger.task_cost_histogram())
    after = _task_histogram(again)
    assert after.keys() == before.keys()
    for key, value in before.items():
        assert after[key] == pytest.approx(value, rel=1e-12), key
    # The histogram is not a counter: it stays out of the counter totals.
    assert "llm_task_cost_usd" not in ledger.totals()


def test_a_task_finalized_twice_is_in_the_persisted_histogram_once(setup: Any) -> None:
    pipe, _, _, _, ledger = setup
    write(pipe, [record(call_span(task_id="once"))], [task_span("once")])
    assert ledger.finalize_task("once") is not None
    assert ledger.finalize_task("once") is None
    hist = ledger.task_cost_histogram()
    counts = [v for k, v in hist.items() if k[3] != "sum"]
    assert counts == [1]
    (total,) = [v for k, v in hist.items() if k[3] == "sum"]
    assert total == ledger.get_task("once").cost
