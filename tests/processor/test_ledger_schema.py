"""Ledger schema: forward-only migrations from v1 to current, and retention of call rows."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from ledger_support import call, pg_schema_url, sqlite_url

from llm_otel.processor.ledger import CURRENT_VERSION, SchemaTooNew, TaskEconomics, dialect_for, open_ledger
from llm_otel.processor.ledger.schema import MIGRATIONS, migrate
from llm_otel.processor.ledger.writes import record_calls

DAY = 86_400 * 10**9
TABLES = ("ledger_calls", "ledger_responses", "ledger_tasks", "ledger_totals", "ledger_baselines")


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield sqlite_url(tmp_path)
    else:
        yield from pg_schema_url()


def create_at(url: str, version: int) -> None:
    """A ledger database left at an old schema version, holding some v1 data."""
    d = dialect_for(url)
    conn = d.connect()
    try:
        with d.transaction(conn) as cur:
            migrate(cur, d, target=version)
            record_calls(cur, d, [call(task_id="old-task"), call(response_id="r2", task_id="old-task")], 1, None)
    finally:
        conn.close()


def columns(url: str) -> dict[str, list[str]]:
    d = dialect_for(url)
    conn = d.connect()
    try:
        with d.transaction(conn) as cur:
            out = {}
            for t in TABLES:
                cur.execute(f"SELECT * FROM {t} LIMIT 0")
                out[t] = sorted(c[0] for c in cur.description)
            return out
    finally:
        conn.close()


def test_migrations_are_numbered_one_to_current_without_gaps() -> None:
    assert [m.version for m in MIGRATIONS] == list(range(1, CURRENT_VERSION + 1))


def test_a_v1_ledger_is_migrated_on_open_and_keeps_its_data(url: str) -> None:
    create_at(url, 1)
    with open_ledger(url) as led:
        assert led.migrated_from == 1 and led.schema_version() == CURRENT_VERSION
        task = led.get_task("old-task")
        assert task is not None and task.calls == 2 and task.anomaly_runaway is None
        assert led.set_task_analysis("old-task", anomalies={"retry_loop"}, economics=TaskEconomics(turns=2)) == (
            "retry_loop",
        )
        led.save_baselines({"review": [1.0]})
        assert sum(led.totals()["llm_calls"].values()) == 2


def test_every_intermediate_version_migrates_to_current(url: str) -> None:
    create_at(url, 1)
    d = dialect_for(url)
    for version in range(1, CURRENT_VERSION):
        conn = d.connect()
        with d.transaction(conn) as cur:
            assert migrate(cur, d, target=version + 1) == version
        conn.close()
    with open_ledger(url) as led:
        assert led.migrated_from == CURRENT_VERSION


def test_a_migrated_ledger_has_the_same_columns_as_a_fresh_one(url: str, tmp_path: Path) -> None:
    create_at(url, 1)
    open_ledger(url).close()
    fresh = f"sqlite:///{tmp_path / 'fresh.db'}"
    open_ledger(fresh).close()
    assert columns(url) == columns(fresh)


def test_opening_twice_migrates_once(url: str) -> None:
    open_ledger(url).close()
    with open_ledger(url) as led:
        assert led.migrated_from == CURRENT_VERSION


def test_a_ledger_from_a_newer_llm_otel_is_refused(url: str) -> None:
    open_ledger(url).close()
    d = dialect_for(url)
    conn = d.connect()
    with d.transaction(conn) as cur:
        cur.execute(d.sql("INSERT INTO ledger_schema_version VALUES (?, ?, ?)"), (CURRENT_VERSION + 1, "future", 0))
    conn.close()
    with pytest.raises(SchemaTooNew, match="upgrade llm-otel"):
        open_ledger(url)


def test_retention_deletes_old_call_rows_but_keeps_tasks_and_totals(url: str) -> None:
    now = time.time_ns()
    with open_ledger(url) as led:
        led.record_calls([call(start_ns=now - 40 * DAY, task_id="old"), call(response_id="new", start_ns=now - DAY)])
        totals = led.totals()
    with open_ledger(url, retention_days=30) as led:
        assert led.apply_retention() == 1
        assert [r.response_id for r in led.calls_in_range(0, now, counted_only=False)] == ["new"]
        assert led.get_task("old") is not None
        assert led.totals() == totals


def test_a_call_older_than_retention_is_expired_and_not_counted_again(url: str) -> None:
    now = time.time_ns()
    old = call(start_ns=now - 40 * DAY)
    with open_ledger(url) as led:
        led.record_calls([old])
    with open_ledger(url, retention_days=30) as led:
        led.apply_retention()
        totals = led.totals()
        (out,) = led.record_calls([old])
        assert out.status == "expired" and not out.delta
        assert led.totals() == totals


def test_retention_days_must_be_positive(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="positive"):
        open_ledger(sqlite_url(tmp_path), retention_days=0)


def test_an_unknown_url_scheme_says_what_is_expected() -> None:
    with pytest.raises(ValueError, match="sqlite:///PATH or postgresql://"):
        open_ledger("mysql://x")


def test_call_values_are_built_in_column_order() -> None:
    from llm_otel.processor.ledger.rows import CALL_COLUMNS, call_values

    assert tuple(call_values(call(), 0)) == CALL_COLUMNS


def test_the_postgresql_bulk_types_match_the_schema() -> None:
    from llm_otel.processor.ledger.rows import CALL_COLUMNS, CALL_PG_TYPES

    gen = pg_schema_url()
    url = next(gen)
    try:
        open_ledger(url).close()
        d = dialect_for(url)
        conn = d.connect()
        with d.transaction(conn) as cur:
            cur.execute(
                "SELECT column_name, data_type FROM information_schema.columns "
                "WHERE table_name = 'ledger_calls' AND table_schema = current_schema()"
            )
            actual = {r["column_name"]: r["data_type"] for r in cur.fetchall()}
        conn.close()
    finally:
        gen.close()
    assert actual == dict(zip(CALL_COLUMNS, CALL_PG_TYPES, strict=True))


def test_cost_buckets_are_valid_json_with_exact_decimal_strings() -> None:
    import json
    from decimal import Decimal

    from llm_otel.pricing.cost import BucketCost, Cost
    from llm_otel.processor.ledger import PricedCall
    from llm_otel.processor.ledger.rows import call_values

    tiny = Decimal("1.23456789123456789E-10")
    b = BucketCost("cache_write_1h", 7, Decimal("6E+0"), tiny, Decimal("6"), tiny, 'odd"model', ">200k")
    pc = PricedCall(call().record, Cost(tiny, tiny, "list", (b,)))
    (obj,) = json.loads(call_values(pc, 0)["cost_buckets"])
    assert obj == {
        "bucket": "cache_write_1h",
        "quantity": 7,
        "unit_price_per_mtok": "6",
        "amount": "0.000000000123456789123456789",
        "list_unit_price_per_mtok": "6",
        "list_amount": "0.000000000123456789123456789",
        "model": 'odd"model',
        "context_tier": ">200k",
    }


def test_sqlite_urls_choose_durability_and_reject_unknown_settings(tmp_path: Path) -> None:
    from llm_otel.processor.ledger.sqlite import SQLiteDialect

    assert SQLiteDialect(f"sqlite:///{tmp_path}/a.db").synchronous == "FULL"
    assert SQLiteDialect(f"sqlite:///{tmp_path}/a.db?synchronous=normal").synchronous == "NORMAL"
    with pytest.raises(ValueError, match="synchronous must be"):
        SQLiteDialect(f"sqlite:///{tmp_path}/a.db?synchronous=off")
    with pytest.raises(ValueError, match="expected sqlite:///PATH"):
        SQLiteDialect("sqlite://")
    led = open_ledger(f"sqlite:///{tmp_path}/b.db")
    with led.dialect.transaction(led._conn, readonly=True) as cur:
        cur.execute("PRAGMA journal_mode")
        assert cur.fetchone()["journal_mode"] == "wal"
    led.close()


def test_a_postgresql_schema_parameter_is_validated_and_stripped_from_the_conninfo() -> None:
    from llm_otel.processor.ledger.postgres import PostgresDialect

    d = PostgresDialect("postgresql://u@h:5432/db?schema=ledger_a&connect_timeout=3")
    assert d.schema == "ledger_a" and d.conninfo == "postgresql://u@h:5432/db?connect_timeout=3"
    with pytest.raises(ValueError, match="plain SQL identifier"):
        PostgresDialect('postgresql://u@h/db?schema=x";drop')
