from __future__ import annotations

import csv
import json
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest

from finops.month import Truth, write_month
from llm_otel.finops.focus import COLUMNS, build_rows
from llm_otel.processor.ledger import open_ledger

MANDATORY = ("BilledCost", "BillingAccountId", "BillingAccountName", "BillingCurrency", "BillingPeriodEnd",
             "BillingPeriodStart", "ChargeCategory", "ChargeDescription", "ChargeFrequency", "ChargePeriodEnd",
             "ChargePeriodStart", "ConsumedQuantity", "ConsumedUnit", "ContractedCost", "ContractedUnitPrice",
             "EffectiveCost", "InvoiceIssuerName", "ListCost", "ListUnitPrice", "PricingCategory", "PricingQuantity",
             "PricingUnit", "ServiceCategory", "ServiceName", "ServiceProviderName", "HostProviderName", "SkuId",
             "SkuPriceId", "SkuMeter", "SkuPriceDetails", "Tags")


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Truth, str]:
    tmp = tmp_path_factory.mktemp("focus")
    url, truth = write_month(tmp / "ledger.db", days=6)
    out = tmp / "focus.csv"
    subprocess.run([sys.executable, "-m", "llm_otel.cli", "export", "focus", "--ledger", url, "--since",
                    "2026-10-01", "--until", "2026-11-01", "--granularity", "day", "--out", str(out)],
                   check=True, capture_output=True, text=True)
    return out, truth, url


def rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as fh:
        return list(csv.DictReader(fh))


def test_every_row_has_the_mandatory_columns_with_values(exported: tuple[Path, Truth, str]) -> None:
    out, _, _ = exported
    data = rows(out)
    assert data and list(data[0]) == list(COLUMNS)
    for row in data:
        for col in MANDATORY:
            assert row[col] != "", col
        assert row["ServiceCategory"] == "AI and Machine Learning"
        assert row["PricingUnit"] == "1000000 Tokens" and row["ConsumedUnit"] == "Tokens"
        assert row["ChargeCategory"] == "Usage" and row["BillingCurrency"] == "USD"
        details = json.loads(row["SkuPriceDetails"])
        assert {"ModelId", "ModelFamily", "ModelDeveloper", "TokenDirection", "TokenCacheAction"} <= set(details)
        assert set(json.loads(row["Tags"])) <= {"team", "task_type", "agent"}


def test_list_cost_equals_list_unit_price_times_pricing_quantity_exactly_on_every_row(
    exported: tuple[Path, Truth, str],
) -> None:
    out, _, _ = exported
    for row in rows(out):
        assert Decimal(row["ListCost"]) == Decimal(row["ListUnitPrice"]) * Decimal(row["PricingQuantity"])
        assert Decimal(row["ContractedCost"]) == Decimal(row["ContractedUnitPrice"]) * Decimal(row["PricingQuantity"])
        assert Decimal(row["PricingQuantity"]) * 1_000_000 == Decimal(row["ConsumedQuantity"])


def test_rows_aggregate_calls_and_billed_cost_sums_to_the_ledger_total(exported: tuple[Path, Truth, str]) -> None:
    out, truth, url = exported
    data = rows(out)
    with open_ledger(url) as ledger:
        calls = ledger.calls_in_range(0, 2**62)
    assert len(data) < len(calls)  # never one row per call
    billed = sum(Decimal(r["BilledCost"]) for r in data)
    assert billed == sum((c.cost_total for c in calls), Decimal(0))
    assert billed == sum(truth.spend.values()) + truth.unattributed


def test_hourly_granularity_gives_hour_long_charge_periods(exported: tuple[Path, Truth, str]) -> None:
    _, _, url = exported
    with open_ledger(url) as ledger:
        export = build_rows(ledger.iter_calls(0, 2**62), granularity="hour")
    for row in export.rows:
        assert row["ChargePeriodEnd"][11:13] != row["ChargePeriodStart"][11:13]
        assert row["ChargePeriodStart"].endswith(":00:00Z")
