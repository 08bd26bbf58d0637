"""Committed capacity: fee, utilization, idle cost and team shares against a week known by hand."""

from __future__ import annotations

import json
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from finops.committed import BOOK, SINCE, UNTIL, book, write_week
from llm_otel.finops.commitments import CommitmentCollector, CommitmentResult, analyze, gauge_samples
from llm_otel.pricing.book import PriceBookError, parse_pricebook
from llm_otel.processor.ledger import open_ledger


@pytest.fixture(scope="module")
def week(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    path = tmp_path_factory.mktemp("committed") / "ledger.db"
    url, _ = write_week(path)
    return url, path


@pytest.fixture(scope="module")
def results(week: tuple[str, Path]) -> dict[str, CommitmentResult]:
    with open_ledger(week[0]) as ledger:
        return {r.name: r for r in analyze(book().committed, ledger.iter_calls(SINCE, UNTIL), SINCE, UNTIL)}


def test_fee_is_the_hourly_fee_times_the_hours_in_force_within_the_period(
    results: dict[str, CommitmentResult],
) -> None:
    assert results["pt-haiku"].hours_in_force == 48 and results["pt-haiku"].fee == Decimal("120")
    assert results["reserved-mini"].hours_in_force == 168 and results["reserved-mini"].fee == Decimal("168")


def test_utilization_caps_each_hour_at_the_stated_capacity(results: dict[str, CommitmentResult]) -> None:
    r = results["pt-haiku"]
    assert r.use.tokens == 6000 + 1500 + 9000 and r.use.calls == 4
    assert r.capacity_tokens == 48 * 6000
    assert r.utilization == 13500 / 288000


def test_idle_cost_is_the_fee_of_the_unused_capacity_hour_by_hour(results: dict[str, CommitmentResult]) -> None:
    r = results["pt-haiku"]
    assert r.idle_basis == "capacity"
    assert r.idle_hours == Decimal("45.75") and r.idle_cost == Decimal("114.375")
    assert r.used_fee == Decimal("5.625") and r.active_hours == 3


def test_without_a_stated_capacity_an_hour_without_calls_is_idle(results: dict[str, CommitmentResult]) -> None:
    r = results["reserved-mini"]
    assert r.idle_basis == "hours_without_calls" and r.utilization is None
    assert r.active_hours == 2 and r.idle_cost == Decimal("166") and r.used_fee == Decimal("2")


def test_the_used_fee_is_split_among_teams_by_list_cost_equivalent_and_sums_exactly(
    results: dict[str, CommitmentResult],
) -> None:
    haiku = {t.team: t.allocated_fee for t in results["pt-haiku"].teams}
    assert haiku == {"secops": Decimal("5.0"), "support": Decimal("0.625")}
    mini = {t.team: t.allocated_fee for t in results["reserved-mini"].teams}
    assert mini == {"secops": Decimal("0.5"), "support": Decimal("1.5")}
    for r in results.values():
        assert sum((t.allocated_fee for t in r.teams), Decimal(0)) + r.idle_cost == r.fee
        assert sum(t.share for t in r.teams) == pytest.approx(1.0)


def test_net_savings_compare_list_price_with_fee_plus_marginal_cost(results: dict[str, CommitmentResult]) -> None:
    r = results["reserved-mini"]
    assert r.use.marginal * 2 == r.use.list_cost  # marginal_multiplier 0.5
    assert r.net_savings == r.use.list_cost - r.use.marginal - Decimal(168)


def test_report_json_carries_a_commitments_section_and_the_table_renders_it(
    week: tuple[str, Path], tmp_path: Path,
) -> None:
    url, _ = week
    pb = tmp_path / "book.yaml"
    pb.write_text(BOOK)
    base = [sys.executable, "-m", "llm_otel.cli", "report", "--ledger", url, "--since", "2026-10-01",
            "--until", "2026-10-08", "--pricebook", str(pb)]
    report = json.loads(subprocess.run([*base, "--format", "json"], check=True, capture_output=True,
                                       text=True).stdout)
    c = {x["name"]: x for x in report["commitments"]}
    assert c["pt-haiku"]["fee_usd"] == "120.000000000" and c["pt-haiku"]["idle_cost_usd"] == "114.375000000"
    assert c["pt-haiku"]["utilization"] == 0.046875 and c["pt-haiku"]["idle_basis"] == "capacity"
    assert {t["team"]: t["allocated_fee_usd"] for t in c["reserved-mini"]["teams"]} == {
        "support": "1.500000000", "secops": "0.500000000"}
    table = subprocess.run(base, check=True, capture_output=True, text=True).stdout
    assert "Committed capacity" in table and "pt-haiku" in table and "$114.3750" in table and "4.7%" in table


def test_a_report_without_a_price_book_has_an_empty_commitments_section(week: tuple[str, Path]) -> None:
    from llm_otel.finops.report import build_report

    assert build_report(week[0], since=SINCE, until=UNTIL, now=UNTIL)["commitments"] == []


def test_the_html_report_has_a_commitments_table_only_when_there_are_commitments(week: tuple[str, Path]) -> None:
    from llm_otel.finops.html import render_html
    from llm_otel.finops.report import build_report

    with_book = render_html(build_report(week[0], since=SINCE, until=UNTIL, now=UNTIL, pricebook=book()))
    assert 'id="commitments"' in with_book and "$114.3750" in with_book and "secops $5.0000 (88.9%)" in with_book
    assert 'id="commitments"' not in render_html(build_report(week[0], since=SINCE, until=UNTIL, now=UNTIL))


def test_gauges_name_commitment_and_team_and_a_real_registry_exposes_them(
    results: dict[str, CommitmentResult], week: tuple[str, Path],
) -> None:
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value for s in gauge_samples(results.values())}
    assert samples[("llm_commitment_idle_cost_usd", (("commitment", "pt-haiku"),))] == 114.375
    assert samples[("llm_commitment_utilization_ratio", (("commitment", "pt-haiku"),))] == 0.046875
    assert ("llm_commitment_utilization_ratio", (("commitment", "reserved-mini"),)) not in samples
    assert samples[("llm_commitment_allocated_cost_usd", (("commitment", "reserved-mini"), ("team", "support")))] == 1.5
    registry = CollectorRegistry(auto_describe=True)  # as the processor builds its registry
    with open_ledger(week[0]) as ledger:
        registry.register(CommitmentCollector(ledger, book(), clock=lambda: UNTIL))
        text = generate_latest(registry).decode()
    assert 'llm_commitment_idle_cost_usd{commitment="pt-haiku"} 114.375' in text
    assert 'llm_commitment_allocated_cost_usd{commitment="pt-haiku",team="secops"} 5.0' in text
    assert 'llm_commitment_fee_usd{commitment="reserved-mini"} 168.0' in text


def test_price_book_capacity_must_be_a_positive_number() -> None:
    bad = BOOK.replace("capacity_tokens_per_minute: 100", "capacity_tokens_per_minute: 0")
    with pytest.raises(PriceBookError, match=r"committed\[0\].capacity_tokens_per_minute: must be greater than 0"):
        parse_pricebook(bad, "b.yaml")
