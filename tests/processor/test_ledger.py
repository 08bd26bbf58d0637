"""The ledger records each priced call exactly once, on SQLite and on a real PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from ledger_support import T0, call, pg_schema_url, price, sqlite_url

from llm_otel import semconv
from llm_otel.pricing.cost import Cost
from llm_otel.pricing.usage import Usage
from llm_otel.processor.ledger import (
    CounterDelta,
    Ledger,
    LedgerError,
    PricedCall,
    TaskEconomics,
    open_ledger,
)
from llm_otel.processor.record import TaskSpanRecord

COST, TOKENS, CALLS = semconv.METRIC_COST, semconv.METRIC_TOKENS, semconv.METRIC_CALLS
LABELS = ("anthropic", "claude-sonnet-4-5", "secops", "review")


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield sqlite_url(tmp_path)
    else:
        yield from pg_schema_url()


@pytest.fixture
def ledger(url: str) -> Iterator[Ledger]:
    with open_ledger(url) as led:
        yield led


def summed(outcomes: list) -> CounterDelta:
    out: CounterDelta = {}
    for o in outcomes:
        for k, v in o.delta.items():
            out[k] = out.get(k, Decimal(0)) + v
    return {k: v for k, v in out.items() if v}


def flat(totals: dict) -> CounterDelta:
    return {(m, labels): v for m, series in totals.items() for labels, v in series.items()}


def test_a_new_call_is_counted_and_its_delta_is_its_exact_cost_and_tokens(ledger: Ledger) -> None:
    (out,) = ledger.record_calls([call(input_tokens=1000, cache_read=600, output_tokens=100)])
    assert out.status == "new" and out.counted
    assert out.delta[(COST, (*LABELS, "input"))] == Decimal("0.0012")
    assert out.delta[(COST, (*LABELS, "cache_read"))] == Decimal("0.00018")
    assert out.delta[(COST, (*LABELS, "output"))] == Decimal("0.0015")
    assert out.delta[(TOKENS, (*LABELS, "input"))] == 400
    assert out.delta[(TOKENS, (*LABELS, "cache_read"))] == 600
    assert out.delta[(CALLS, (*LABELS, "ok"))] == 1
    assert out.delta[(semconv.METRIC_CACHE_SAVINGS, LABELS)] == Decimal("0.00162")
    assert flat(ledger.totals()) == out.delta


def test_the_same_span_delivered_again_is_a_duplicate_and_changes_nothing(ledger: Ledger) -> None:
    c = call()
    ledger.record_calls([c])
    before = ledger.totals()
    again = ledger.record_calls([c, c])
    assert [o.status for o in again] == ["duplicate_span", "duplicate_span"]
    assert all(not o.delta for o in again)
    assert ledger.totals() == before


def test_the_same_span_twice_in_one_batch_counts_once(ledger: Ledger) -> None:
    c = call()
    outs = ledger.record_calls([c, c])
    assert [o.status for o in outs] == ["new", "duplicate_span"]
    assert flat(ledger.totals())[(CALLS, (*LABELS, "ok"))] == 1


def test_a_batch_mixing_seen_spans_held_responses_and_new_calls_gets_each_verdict(ledger: Ledger) -> None:
    """Old spans, responses held by earlier spans, richer and new records, all in one batch: each call
    gets its own verdict (the write path's shortcut for all-new batches must not apply here)."""
    seen = call(response_id="m-a")
    held = call(response_id="m-b", input_tokens=1000, cache_read=800, cache_write=0)
    first = ledger.record_calls([seen, held])
    assert [o.status for o in first] == ["new", "new"]
    poorer = call(response_id="m-b", dialect="openinference", cache_read=None)  # held stays counted
    fresh = call(response_id="m-c")
    poor = call(response_id="m-d", dialect="openinference")
    richer = call(response_id="m-d", input_tokens=1000, cache_read=700, cache_write=0)
    batch = [fresh, seen, poorer, poor, richer, call(response_id=None)]
    outs = ledger.record_calls(batch)
    assert [o.status for o in outs] == ["new", "duplicate_span", "duplicate_response", "duplicate_response",
                                        "new", "new"]  # fmt: skip
    assert outs[2].kept == (held.record.trace_id, held.record.span_id)
    assert outs[3].kept == (richer.record.trace_id, richer.record.span_id)
    assert flat(ledger.totals()) == summed(first + outs)
    assert flat(ledger.totals())[(CALLS, (*LABELS, "ok"))] == 5
    # Delivered again (an exporter retry), the whole batch changes nothing.
    before = ledger.totals()
    assert {o.status for o in ledger.record_calls(batch)} == {"duplicate_span"}
    assert ledger.totals() == before


def test_a_second_instrumentation_of_the_same_response_is_stored_but_not_counted(ledger: Ledger) -> None:
    own = call(response_id="msg_1")
    other = call(response_id="msg_1", dialect="openllmetry", task_id=None, task_type=None, team=None)
    first, second = ledger.record_calls([own]) + ledger.record_calls([other])
    assert second.status == "duplicate_response" and not second.delta
    assert second.kept == (own.record.trace_id, own.record.span_id)
    assert flat(ledger.totals()) == first.delta
    rows = ledger.calls_in_range(T0, T0 + 1, counted_only=False)
    assert sorted(r.counted for r in rows) == [False, True]


def test_a_richer_record_replaces_the_poorer_and_the_delta_is_exactly_new_minus_old(ledger: Ledger) -> None:
    poor = call(response_id="msg_2", input_tokens=1000, cache_read=None, dialect="openinference")
    rich = call(response_id="msg_2", input_tokens=1000, cache_read=800, cache_write=0)
    (a,) = ledger.record_calls([poor])
    (b,) = ledger.record_calls([rich])
    assert b.status == "replaced" and b.replaced == (poor.record.trace_id, poor.record.span_id)
    # tokens moved from uncached input to cache reads: a negative delta on input, exactly
    assert b.delta[(TOKENS, (*LABELS, "input"))] == -800
    assert b.delta[(TOKENS, (*LABELS, "cache_read"))] == 800
    assert b.delta[(COST, (*LABELS, "input"))] == Decimal("-0.0024")
    assert (CALLS, (*LABELS, "ok")) not in b.delta  # still one call
    assert flat(ledger.totals()) == summed([a, b])
    assert summed([a, b])[(COST, (*LABELS, "cache_read"))] == Decimal("0.00024")


def test_the_counted_record_does_not_depend_on_arrival_order(url: str) -> None:
    poor = call(response_id="msg_3", cache_read=None, dialect="openlit")
    rich = call(response_id="msg_3", cache_read=300)
    tie_a = call(response_id="msg_4", trace_id="a" * 32)
    tie_b = call(response_id="msg_4", trace_id="b" * 32)
    with open_ledger(url) as led:
        led.record_calls([poor, tie_b])
        led.record_calls([rich, tie_a])
        forward = flat(led.totals())
        counted = {(r.trace_id, r.span_id) for r in led.calls_in_range(T0, T0 + 1)}
    assert counted == {(rich.record.trace_id, rich.record.span_id), ("a" * 32, tie_a.record.span_id)}
    assert forward[(TOKENS, (*LABELS, "cache_read"))] == 300


def test_the_richest_of_several_records_in_one_batch_is_the_one_counted(ledger: Ledger) -> None:
    poor = call(response_id="msg_5", cache_read=None, dialect="openlit", team=None)
    rich = call(response_id="msg_5", cache_read=300)
    outs = ledger.record_calls([poor, rich])
    assert [o.status for o in outs] == ["duplicate_response", "new"]
    assert flat(ledger.totals()) == outs[1].delta


def test_calls_without_a_response_id_are_deduplicated_by_span_only(ledger: Ledger) -> None:
    outs = ledger.record_calls([call(response_id=None), call(response_id=None)])
    assert [o.status for o in outs] == ["new", "new"]


def test_an_unpriced_call_counts_tokens_and_calls_and_its_reason_but_no_cost(ledger: Ledger) -> None:
    (out,) = ledger.record_calls([call(model="mystery-1")])
    labels = ("anthropic", "mystery-1", "secops", "review")
    assert out.delta[(semconv.METRIC_UNPRICED_CALLS, ("anthropic", "mystery-1", "unknown_model"))] == 1
    assert out.delta[(TOKENS, (*labels, "input"))] == 1000
    assert not any(k[0] == COST for k in out.delta)
    (row,) = ledger.calls_in_range(T0, T0 + 1)
    assert row.cost_source == "unpriced" and row.unpriced_reason == "unknown_model"


def test_unattributed_calls_carry_none_labels_and_no_task(ledger: Ledger) -> None:
    (out,) = ledger.record_calls([call(task_id=None, task_type=None, team=None)])
    assert (CALLS, ("anthropic", "claude-sonnet-4-5", None, None, "ok")) in out.delta
    assert ledger.tasks_in_range() == []


def test_prompt_cost_is_counted_per_template(ledger: Ledger) -> None:
    (out,) = ledger.record_calls([call(prompt_template="triage")])
    assert out.delta[(semconv.METRIC_PROMPT_COST, ("triage", None, "anthropic", "claude-sonnet-4-5"))] == Decimal(
        "0.0045"
    )


def test_money_stays_exact_beyond_float_precision(ledger: Ledger) -> None:
    tiny = Decimal("0.000000000123456789123456789")
    cost = Cost(tiny, tiny * 2, "contract", data_version="x")
    calls = [call(response_id=None, cost=cost) for _ in range(7)]
    ledger.record_calls(calls)
    (task,) = ledger.tasks_in_range()
    assert task.cost == tiny * 7 and task.list_cost == tiny * 14
    rows = ledger.calls_in_range(T0, T0 + 1)
    assert {r.cost_total for r in rows} == {tiny}


def test_a_batch_that_fails_in_the_database_keeps_nothing(ledger: Ledger, monkeypatch: pytest.MonkeyPatch) -> None:
    from llm_otel.processor.ledger import writes

    def disk_full(*args: object) -> None:  # fault injection: fails after the call and task rows are written
        raise OSError("disk full")

    good = call()
    monkeypatch.setattr(writes, "apply_totals", disk_full)
    with pytest.raises(LedgerError, match="disk full"):
        ledger.record_calls([good])
    monkeypatch.undo()
    assert ledger.totals() == {}
    assert ledger.calls_in_range(T0, T0 + 1, counted_only=False) == []
    assert ledger.tasks_in_range() == []
    assert ledger.record_calls([good])[0].status == "new"


@pytest.mark.parametrize(
    ("field", "value", "reason"),
    [
        ("input_tokens", -5, "input_tokens=-5 is outside"),
        ("output_tokens", 10**19, "output_tokens=10000000000000000000 is outside"),
        ("provider", "", "provider is missing"),
        ("cost", Cost(Decimal("NaN"), Decimal(0), "list"), "cost.total=Decimal('NaN')"),
    ],
)
def test_an_invalid_call_is_rejected_alone_and_the_rest_of_the_batch_is_kept(
    ledger: Ledger, field: str, value: object, reason: str
) -> None:
    if field == "cost":
        bad = call(cost=value)  # type: ignore[arg-type]
    elif field == "provider":
        bad = call(provider=value)  # type: ignore[arg-type]
    else:
        bad = call(**{field: value})  # type: ignore[arg-type]
    outs = ledger.record_calls([bad, call(response_id="fine")])
    assert outs[0].status == "rejected" and outs[0].reason is not None and reason in outs[0].reason
    assert outs[1].status == "new"
    assert flat(ledger.totals()) == outs[1].delta


def test_task_row_sums_its_calls_and_follows_a_replacement_to_another_task(ledger: Ledger) -> None:
    ledger.record_calls([call(response_id="m1", cache_read=None, task_id="t-a", dialect="openlit")])
    ledger.record_calls([call(response_id="m2", task_id="t-a"), call(response_id="m3", task_id="t-a")])
    ledger.record_calls([call(response_id="m1", cache_read=500, task_id="t-b")])
    a, b = ledger.get_task("t-a"), ledger.get_task("t-b")
    assert a is not None and b is not None
    assert (a.calls, a.tokens_input, a.tokens_output) == (2, 2000, 200)
    assert (b.calls, b.tokens_input, b.tokens_cache_read) == (1, 500, 500)
    assert a.cost == Decimal("0.009") and b.cost == Decimal("0.0015") + Decimal("0.00015") + Decimal("0.0015")


def test_a_task_span_sets_type_status_and_times_and_is_idempotent(ledger: Ledger) -> None:
    ledger.record_calls([call(task_id="t-1", task_type=None, team=None)])
    span = TaskSpanRecord("c" * 32, "d" * 16, "t-1", "review", "secops", "ok", T0 - 5, T0 + 10**9, 2.5)
    assert not ledger.upsert_task_span(span).duplicate
    assert ledger.upsert_task_span(span).duplicate
    task = ledger.get_task("t-1")
    assert task is not None
    assert (task.task_type, task.team, task.status, task.has_span) == ("review", "secops", "ok", True)
    assert (task.start_ns, task.end_ns, task.trace_id, task.budget_usd) == (
        T0 - 5,
        T0 + 10**9,
        "c" * 32,
        Decimal("2.5"),
    )
    assert task.calls == 1 and task.began_ns == T0 - 5


def test_a_task_is_finalized_once_and_later_calls_are_counted_as_late(ledger: Ledger) -> None:
    ledger.record_calls([call(task_id="t-2", response_id="r1")])
    first = ledger.finalize_task("t-2", status="ok")
    assert first is not None and first.finalized and first.calls == 1
    assert ledger.finalize_task("t-2") is None
    (late,) = ledger.record_calls([call(task_id="t-2", response_id="r2")])
    assert late.late and late.status == "new"
    task = ledger.get_task("t-2")
    assert task is not None and (task.calls, task.late_spans) == (2, 1)
    assert sum(r.late for r in ledger.calls_for_task("t-2")) == 1
    assert ledger.open_tasks() == []


def test_an_anomaly_is_stored_and_counted_once(ledger: Ledger) -> None:
    ledger.record_calls([call(task_id="t-3")])
    econ = TaskEconomics(turns=3, tokens_resent=1200, cache_share=0.5, tool_share=0.25, tool_tokens=300)
    assert ledger.set_task_analysis("t-3", anomalies={"runaway"}, detail={"k": 10}, economics=econ) == ("runaway",)
    assert ledger.set_task_analysis("t-3", anomalies={"runaway"}) == ()
    task = ledger.get_task("t-3")
    assert task is not None
    assert task.anomalies == ("runaway",) and task.anomaly_retry_loop is False
    assert (task.turns, task.tokens_resent, task.cache_share, task.tool_share) == (3, 1200, 0.5, 0.25)
    key = ("secops", "review", "runaway")
    assert ledger.totals()[semconv.METRIC_TASK_ANOMALIES] == {key: 1}
    with pytest.raises(ValueError, match="unknown anomaly"):
        ledger.set_task_analysis("t-3", anomalies={"weird"})


def test_totals_tasks_and_baselines_survive_a_restart(url: str) -> None:
    with open_ledger(url) as led:
        outs = led.record_calls([call(), call(response_id="other", error_type="timeout")])
        led.save_baselines({"review": [0.1, 0.2, 0.3]})
        expected = summed(outs)
    with open_ledger(url) as led:
        assert flat(led.totals()) == expected
        assert led.load_baselines() == {"review": [0.1, 0.2, 0.3]}
        task = led.get_task("task-1")
        assert task is not None and (task.calls, task.error_calls) == (2, 1)


def test_calls_and_tasks_are_queried_by_time_range_across_pages(ledger: Ledger) -> None:
    hour = 3600 * 10**9
    batch = [call(response_id=None, start_ns=T0 + i * hour, task_id=f"t{i:02d}") for i in range(30)]
    ledger.record_calls(batch)
    got = list(ledger.iter_calls(T0 + 5 * hour, T0 + 25 * hour, page=7))
    assert [r.start_ns for r in got] == [T0 + i * hour for i in range(5, 25)]
    tasks = list(ledger.iter_tasks(T0, T0 + 10 * hour, page=4))
    assert sorted(t.task_id for t in tasks) == [f"t{i:02d}" for i in range(10)]


def test_call_rows_carry_attribution_tokens_and_cost_detail(ledger: Ledger) -> None:
    pc = call(cache_read=200, cache_write=100)
    rec = pc.record
    full = PricedCall(
        type(rec)(**{**{f: getattr(rec, f) for f in rec.__slots__}, "agent_name": "a", "tools_bytes": 512}),
        price(
            "claude-sonnet-4-5",
            Usage(
                input_tokens=1000,
                output_tokens=100,
                cache_read_tokens=200,
                cache_write_tokens=100,
                cache_write_5m_tokens=100,
            ),
        ),
    )
    ledger.record_calls([full])
    (row,) = ledger.calls_in_range(T0, T0 + 1)
    assert (row.tokens_input, row.tokens_cache_read, row.tokens_cache_write) == (700, 200, 100)
    assert row.agent_name == "a" and row.tools_bytes == 512 and row.tools_count is None
    assert row.cost_cache_write == Decimal("0.000375") and row.data_version == "test-1"
    assert '"bucket":"cache_write_5m"' in row.cost_buckets


def test_a_call_priced_by_the_real_engine_splits_exactly_by_token_type(ledger: Ledger) -> None:
    from llm_otel.pricing import IterationUsage
    from llm_otel.pricing import price as real_price

    usage = Usage(
        input_tokens=10_000,
        output_tokens=500,
        cache_read_tokens=6000,
        cache_write_tokens=2000,
        cache_write_1h_tokens=2000,
        reasoning_tokens=100,
        iterations=(IterationUsage("compaction", None, 3000, 200, 0, 0),),
    )
    cost = real_price(usage, provider="anthropic", model="claude-sonnet-4-5", at=T0)
    base = call(response_id=None)
    rec = type(base.record)(**{**{f: getattr(base.record, f) for f in base.record.__slots__}, "usage": usage})
    (out,) = ledger.record_calls([PricedCall(rec, cost)])
    (row,) = ledger.calls_in_range(T0, T0 + 1)
    by_type = (row.cost_input, row.cost_cache_read, row.cost_cache_write, row.cost_output)
    assert sum(by_type) == row.cost_total == cost.total
    assert (row.tokens_input, row.tokens_iterations_input, row.tokens_cache_write_1h) == (2000, 3000, 2000)
    assert out.delta[(TOKENS, (*LABELS, "input"))] == 5000
    assert out.delta[(TOKENS, (*LABELS, "output"))] == 700
    assert sum(v for (m, _), v in out.delta.items() if m == COST) == cost.total
    assert row.cache_write_premium == cost.cache_write_premium


def test_a_lost_postgresql_connection_fails_one_batch_and_the_next_reconnects(tmp_path: Path) -> None:
    import psycopg

    gen = pg_schema_url()
    url = next(gen)
    try:
        with open_ledger(url) as led:
            pid = led._conn.info.backend_pid
            with psycopg.connect(url.split("?")[0], autocommit=True) as admin:
                admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
            with pytest.raises(LedgerError):
                led.record_calls([call()])
            assert led.record_calls([call()])[0].status == "new"
    finally:
        gen.close()


def test_each_replica_resumes_its_own_totals_and_all_replicas_sum_to_the_ledger(url: str) -> None:
    with open_ledger(url, replica="a") as a, open_ledger(url, replica="b") as b:
        (x,) = a.record_calls([call(response_id="ra")])
        (y,) = b.record_calls([call(response_id="rb"), call(response_id="rb2")])[:1]
        assert flat(a.totals()) == x.delta
        assert flat(b.totals())[(CALLS, (*LABELS, "ok"))] == 2
        assert flat(a.totals(all_replicas=True))[(CALLS, (*LABELS, "ok"))] == 3
        assert y.status == "new"


def test_a_task_span_arriving_after_an_idle_finalization_is_applied_and_counted_late(ledger: Ledger) -> None:
    ledger.record_calls([call(task_id="t-4", response_id=None)])
    assert [t.task_id for t in ledger.open_tasks()] == ["t-4"]
    assert ledger.finalize_task("t-4", status="unknown") is not None
    span = TaskSpanRecord("e" * 32, "f" * 16, "t-4", "review", "secops", "error", T0, T0 + 5)
    out = ledger.upsert_task_span(span)
    assert out.late and not out.duplicate
    task = ledger.get_task("t-4")
    assert task is not None and (task.status, task.late_spans, task.finalized) == ("error", 1, True)
    assert ledger.finalize_task("nobody") is None
