from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path

import pytest

from finops.month import MONTH_START, Truth, write_month
from llm_otel.finops.report import build_report

UNTIL = datetime(2026, 11, 1, tzinfo=timezone.utc)
NOW = datetime(2026, 10, 31, 23, 0, tzinfo=timezone.utc)


@pytest.fixture(scope="module")
def month(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Truth, Path]:
    path = tmp_path_factory.mktemp("finops") / "ledger.db"
    url, truth = write_month(path)
    return url, truth, path


def test_spend_tasks_and_calls_per_team_equal_the_generated_truth(month: tuple[str, Truth, Path]) -> None:
    url, truth, _ = month
    report = build_report(url, since=MONTH_START, until=UNTIL, by=["team", "task_type"], now=NOW)
    got = {(g["key"]["team"], g["key"]["task_type"]): g for g in report["groups"]}
    for key, spend in truth.spend.items():
        assert Decimal(got[key]["spend_usd"]) == spend.quantize(Decimal("1e-9"))
        assert got[key]["tasks"] == truth.tasks[key]
        assert got[key]["calls"] == truth.calls[key]
        costs = sorted(truth.task_costs[key])
        assert Decimal(got[key]["cost_per_task_usd"]["max"]) == costs[-1].quantize(Decimal("1e-9"))
    unattributed = got[("unattributed", "unattributed")]
    assert Decimal(unattributed["spend_usd"]) == truth.unattributed.quantize(Decimal("1e-9"))


def test_report_totals_equal_sums_computed_directly_from_the_ledger(month: tuple[str, Truth, Path]) -> None:
    url, truth, path = month
    report = build_report(url, since=MONTH_START, until=UNTIL, by=["team"], now=NOW)
    with sqlite3.connect(path) as db:
        rows = db.execute("SELECT cost_total FROM ledger_calls WHERE counted = 1").fetchall()
    direct = sum((Decimal(str(r[0])) for r in rows), Decimal(0))
    assert Decimal(report["totals"]["spend_usd"]) == direct.quantize(Decimal("1e-9"))
    assert report["totals"]["cache_hit_rate"] == round(truth.cache_read / truth.inclusive_input, 6)
    expected_share = truth.unattributed / (sum(truth.spend.values()) + truth.unattributed)
    assert report["totals"]["unattributed_share"] == round(float(expected_share), 6)


def test_month_to_date_equals_the_months_task_spend_and_the_forecast_brackets_it(
    month: tuple[str, Truth, Path],
) -> None:
    url, truth, _ = month
    mtd = build_report(url, since=MONTH_START, until=UNTIL, now=NOW)["month_to_date"]
    assert Decimal(mtd["actual_usd"]) == sum(truth.spend.values()).quantize(Decimal("1e-9"))
    assert Decimal(mtd["forecast_low_usd"]) <= Decimal(mtd["forecast_usd"]) <= Decimal(mtd["forecast_high_usd"])
    assert mtd["seasonal"] is True  # 30 days of history support day-of-week factors


def test_cli_json_output_is_the_documented_schema(month: tuple[str, Truth, Path]) -> None:
    url, _, _ = month
    out = subprocess.run(
        [sys.executable, "-m", "llm_otel.cli", "report", "--ledger", url, "--since", "2026-10-01",
         "--until", "2026-11-01", "--by", "team", "--format", "json"],
        check=True, capture_output=True, text=True,
    ).stdout
    report = json.loads(out)
    assert report["schema"] == "llm-otel.report/1"
    assert {g["key"]["team"] for g in report["groups"]} == {"secops", "support", "unattributed"}


def test_cli_table_aligns_currency_and_rejects_unknown_dimensions(month: tuple[str, Truth, Path]) -> None:
    url, _, _ = month
    table = subprocess.run(
        [sys.executable, "-m", "llm_otel.cli", "report", "--ledger", url, "--since", "2026-10-01",
         "--until", "2026-11-01", "--by", "team"], check=True, capture_output=True, text=True,
    ).stdout
    assert "secops" in table and "$" in table
    bad = subprocess.run(
        [sys.executable, "-m", "llm_otel.cli", "report", "--ledger", url, "--by", "colour"],
        capture_output=True, text=True,
    )
    assert bad.returncode == 2 and "cannot group by 'colour'" in bad.stderr
