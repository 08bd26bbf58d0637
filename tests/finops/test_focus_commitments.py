"""FOCUS commitment rows: the fee as recurring Purchase rows, amortized into the usage it served, idle as Unused."""

from __future__ import annotations

import csv
import subprocess
import sys
from collections import defaultdict
from decimal import Decimal
from pathlib import Path

import pytest

from finops.committed import BOOK, write_week

FEES = {"pt-haiku": Decimal("120"), "reserved-mini": Decimal("168")}
IDLE = {"pt-haiku": Decimal("114.375"), "reserved-mini": Decimal("166")}


@pytest.fixture(scope="module", params=["day", "hour"])
def export(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> tuple[list[dict[str, str]],
                                                                                                Decimal]:
    tmp = tmp_path_factory.mktemp("focus-committed")
    url, ledger_total = write_week(tmp / "ledger.db")
    (tmp / "book.yaml").write_text(BOOK)
    out = tmp / "focus.csv"
    subprocess.run([sys.executable, "-m", "llm_otel.cli", "export", "focus", "--ledger", url, "--since", "2026-10-01",
                    "--until", "2026-10-08", "--granularity", request.param, "--pricebook", str(tmp / "book.yaml"),
                    "--out", str(out)], check=True, capture_output=True, text=True)
    with out.open(newline="") as fh:
        return list(csv.DictReader(fh)), ledger_total


def by_commitment(rows: list[dict[str, str]], category: str, status: str = "") -> dict[str, list[dict[str, str]]]:
    out = defaultdict(list)
    for r in rows:
        if r["ChargeCategory"] == category and r["CommitmentDiscountStatus"] == status and r["CommitmentDiscountName"]:
            out[r["CommitmentDiscountName"]].append(r)
    return out


def total(rows: list[dict[str, str]], col: str) -> Decimal:
    return sum((Decimal(r[col]) for r in rows), Decimal(0))


def test_the_fee_appears_as_recurring_purchase_rows_billed_but_not_effective(
    export: tuple[list[dict[str, str]], Decimal],
) -> None:
    purchases = by_commitment(export[0], "Purchase")
    assert set(purchases) == set(FEES)
    for name, rows in purchases.items():
        assert total(rows, "BilledCost") == FEES[name] and total(rows, "EffectiveCost") == 0
        for r in rows:
            assert r["ChargeFrequency"] == "Recurring" and r["PricingUnit"] == "Hours"
            assert r["PricingCategory"] == "Standard" and r["CommitmentDiscountCategory"] == "Usage"
            assert r["CommitmentDiscountId"].endswith(f":commitment/{name}") and r["ConsumedQuantity"] == ""


def test_usage_under_a_commitment_references_it_as_used_and_carries_the_amortized_fee(
    export: tuple[list[dict[str, str]], Decimal],
) -> None:
    used = by_commitment(export[0], "Usage", "Used")
    assert set(used) == set(FEES)
    assert total(used["pt-haiku"], "EffectiveCost") - total(used["pt-haiku"], "ContractedCost") == Decimal("5.625")
    assert total(used["reserved-mini"], "EffectiveCost") - total(used["reserved-mini"], "ContractedCost") == 2
    for r in used["pt-haiku"] + used["reserved-mini"]:
        assert r["PricingCategory"] == "Committed" and r["ConsumedUnit"] == "Tokens"
    assert {r["CommitmentDiscountUnit"] for r in used["pt-haiku"]} == {"Tokens"}
    assert total(used["pt-haiku"], "CommitmentDiscountQuantity") == 16500
    assert {r["CommitmentDiscountUnit"] for r in used["reserved-mini"]} == {"Hours"}
    assert total(used["reserved-mini"], "CommitmentDiscountQuantity") == 2  # active hours


def test_idle_capacity_is_an_unused_row_with_zero_billed_cost(export: tuple[list[dict[str, str]], Decimal]) -> None:
    unused = by_commitment(export[0], "Usage", "Unused")
    for name, rows in unused.items():
        assert total(rows, "EffectiveCost") == IDLE[name] and total(rows, "BilledCost") == 0
        assert all(r["ConsumedQuantity"] == "" and r["PricingCategory"] == "Committed" for r in rows)
    assert total(unused["pt-haiku"], "CommitmentDiscountQuantity") == 48 * 6000 - 13500


def test_billed_and_effective_cost_both_total_the_ledger_plus_the_fees(
    export: tuple[list[dict[str, str]], Decimal],
) -> None:
    rows, ledger_total = export
    assert total(rows, "BilledCost") == ledger_total + sum(FEES.values())
    assert total(rows, "EffectiveCost") == ledger_total + sum(FEES.values())


def test_list_cost_identity_and_commitment_column_rules_hold_on_every_row(
    export: tuple[list[dict[str, str]], Decimal],
) -> None:
    units: dict[str, set[str]] = defaultdict(set)
    for r in export[0]:
        assert Decimal(r["ListCost"]) == Decimal(r["ListUnitPrice"]) * Decimal(r["PricingQuantity"])
        assert Decimal(r["ContractedCost"]) == Decimal(r["ContractedUnitPrice"]) * Decimal(r["PricingQuantity"])
        has_id = r["CommitmentDiscountId"] != ""
        for col in ("CommitmentDiscountCategory", "CommitmentDiscountType", "CommitmentDiscountUnit",
                    "CommitmentDiscountName", "CommitmentDiscountQuantity"):
            assert (r[col] != "") == has_id, col
        assert (r["CommitmentDiscountStatus"] != "") == (has_id and r["ChargeCategory"] == "Usage")
        if has_id:
            units[r["CommitmentDiscountId"]].add(r["CommitmentDiscountUnit"])
            assert Decimal(r["CommitmentDiscountQuantity"]) > 0
        if r["ChargeCategory"] == "Usage" and r["CommitmentDiscountStatus"] != "Unused":
            assert Decimal(r["ConsumedQuantity"]) > 0
    assert all(len(u) == 1 for u in units.values()) and len(units) == 2


def test_parquet_carries_the_commitment_rows_as_exact_decimals(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from finops.committed import SINCE, UNTIL, book
    from llm_otel.finops.focus import build_rows, write_parquet
    from llm_otel.processor.ledger import open_ledger

    url, ledger_total = write_week(tmp_path / "ledger.db")
    with open_ledger(url) as ledger:
        rows = build_rows(ledger.iter_calls(SINCE, UNTIL), committed=book().committed, since=SINCE, until=UNTIL).rows
    out = str(tmp_path / "focus.parquet")
    write_parquet(rows, out)
    table = pq.read_table(out)
    assert table.schema.field("CommitmentDiscountQuantity").type == pa.decimal128(38, 18)
    data = table.to_pylist()
    assert sum(r["EffectiveCost"] for r in data) == ledger_total + sum(FEES.values())
    assert all(r["ListCost"] == r["ListUnitPrice"] * r["PricingQuantity"] for r in data)
    assert {r["CommitmentDiscountStatus"] for r in data} == {None, "Used", "Unused"}
