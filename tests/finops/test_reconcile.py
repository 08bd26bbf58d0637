"""`llm-otel reconcile`: constructed OpenAI and Anthropic cost reports, served over real HTTP to the
official clients' admin resources, against three generated days of ledger data."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from collections import defaultdict
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import anthropic
import openai
import pytest

from finops.billing_server import BillingServer
from finops.month import write_month
from llm_otel.finops.bill_sources import anthropic_costs, openai_costs, read_cost_csv, windows
from llm_otel.finops.reconcile import ALL, UNMAPPED, reconcile, render_table, to_json
from llm_otel.processor.ledger import open_ledger

SINCE = datetime(2026, 10, 1, tzinfo=timezone.utc)
UNTIL = datetime(2026, 10, 4, tzinfo=timezone.utc)
DAYS = ("2026-10-01", "2026-10-02", "2026-10-03")
WORKSPACES = {"proj_secops": "secops", "wrkspc_support": "support"}
KEY = "sk-admin-test-0000"


def ts(day: str) -> int:
    return int(datetime.fromisoformat(day).replace(tzinfo=timezone.utc).timestamp())


def exact_json(doc: Any) -> str:
    """JSON with Decimal written as a plain number (as the providers write amounts), never via float."""
    return json.dumps(doc, default=lambda d: f"__D{d:f}D__").replace('"__D', "").replace('D__"', "")


TOKENS: dict[tuple[str, str], dict[str, int]] = defaultdict(lambda: defaultdict(int))


@pytest.fixture(scope="module")
def ledger(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, dict[tuple[str, str], Decimal]]:
    """The ledger URL and its cost per (day, team or 'unattributed'); token counts land in TOKENS."""
    url, _ = write_month(tmp_path_factory.mktemp("reconcile") / "ledger.db", days=3)
    cost: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    with open_ledger(url) as led:
        for c in led.iter_calls(SINCE, UNTIL):
            day = datetime.fromtimestamp(c.start_ns / 1e9, timezone.utc).date().isoformat()
            key = (day, c.team or "unattributed")
            cost[key] += c.cost_total
            TOKENS[key]["uncached"] += c.tokens_input or 0
            TOKENS[key]["cache_read"] += c.tokens_cache_read or 0
            TOKENS[key]["cache_write"] += c.tokens_cache_write or 0
            TOKENS[key]["output"] += c.tokens_output or 0
    return url, dict(cost)


def openai_usage_pages() -> list[str]:
    """Completions usage for every day (the cost report lags a day behind: day 3 has tokens but no cost)."""
    def result(project: str, key: tuple[str, str]) -> dict[str, Any]:
        t = TOKENS[key]
        return {"object": "organization.usage.completions.result", "project_id": project,
                "model": "gpt-4o-mini-2024-07-18", "num_model_requests": 1,
                "input_tokens": t["uncached"] + t["cache_read"] + t["cache_write"], "output_tokens": t["output"],
                "input_cached_tokens": t["cache_read"]}

    buckets = [{"object": "bucket", "start_time": ts(d), "end_time": ts(d) + 86400,
                "results": [result("proj_secops", (d, "secops")), result("proj_default", (d, "unattributed"))]}
               for d in DAYS]
    return [json.dumps({"object": "page", "data": buckets, "has_more": False, "next_page": None})]


def anthropic_usage_pages() -> list[str]:
    def item(day: str) -> dict[str, Any]:
        t = TOKENS[(day, "support")]
        return {"starting_at": f"{day}T00:00:00Z", "ending_at": f"{day}T23:59:59Z",
                "group": {"model": "claude-haiku-4-5", "workspace_id": "wrkspc_support"},
                "usage": {"uncached_input_tokens": t["uncached"], "cache_read_input_tokens": t["cache_read"],
                          "cache_creation": {"ephemeral_5m_input_tokens": t["cache_write"],
                                             "ephemeral_1h_input_tokens": 0},
                          "output_tokens": t["output"], "requests": None,
                          "server_tool_use": {"web_search_requests": 0},
                          "total_tokens": sum(t.values())}}

    return [json.dumps({"data": [item(d) for d in DAYS], "has_more": False, "next_page": None})]


def openai_pages(cost: dict[tuple[str, str], Decimal]) -> list[str]:
    """Day 1 billed exactly (split over two line items), day 2 secops billed 5% above the ledger, day 3 missing."""
    def bucket(day: str, results: list[dict[str, Any]]) -> dict[str, Any]:
        return {"object": "bucket", "start_time": ts(day), "end_time": ts(day) + 86400, "results": results}

    def result(project: str, line_item: str, value: Decimal) -> dict[str, Any]:
        return {"object": "organization.costs.result", "amount": {"value": value, "currency": "usd"},
                "line_item": line_item, "project_id": project}

    secops1 = cost[(DAYS[0], "secops")]
    half = (secops1 / 2).quantize(Decimal("1e-12"))
    day1 = bucket(DAYS[0], [result("proj_secops", "gpt-4o-mini-2024-07-18, input", half),
                            result("proj_secops", "gpt-4o-mini-2024-07-18, output", secops1 - half),
                            result("proj_default", "gpt-4o-mini-2024-07-18, input", cost[(DAYS[0], "unattributed")])])
    day2 = bucket(DAYS[1], [result("proj_secops", "gpt-4o-mini-2024-07-18, input",
                                   cost[(DAYS[1], "secops")] * Decimal("1.05")),
                            result("proj_default", "gpt-4o-mini-2024-07-18, input", cost[(DAYS[1], "unattributed")])])
    return [exact_json({"object": "page", "data": [day1], "has_more": True, "next_page": "page_1"}),
            exact_json({"object": "page", "data": [day2], "has_more": False, "next_page": None})]


def anthropic_pages(cost: dict[tuple[str, str], Decimal]) -> list[str]:
    """Every day billed exactly (in cents, as strings), plus a 50-cent non-model charge on day 2."""
    def item(day: str, model: str | None, cents: Decimal) -> dict[str, Any]:
        end = datetime.fromtimestamp(ts(day) + 86400, timezone.utc).date().isoformat()
        return {"starting_at": f"{day}T00:00:00Z", "ending_at": f"{end}T00:00:00Z",
                "group": {"model": model, "workspace_id": "wrkspc_support"},
                "cost": {"amount": f"{cents:f}", "currency": "USD", "list_amount": f"{cents:f}", "requests": None}}

    items = [item(d, "claude-haiku-4-5", cost[(d, "support")] * 100) for d in DAYS]
    items.append(item(DAYS[1], None, Decimal("50")))
    return [exact_json({"data": items[:2], "has_more": True, "next_page": "page_1"}),
            exact_json({"data": items[2:], "has_more": False, "next_page": None,
                        "data_refreshed_at": "2026-10-04T01:00:00Z"})]


@pytest.fixture(scope="module")
def server(ledger: tuple[str, dict[tuple[str, str], Decimal]]) -> Any:
    _, cost = ledger
    with BillingServer() as srv:
        srv.routes["/v1/organization/costs"] = openai_pages(cost)
        srv.routes["/v1/organizations/analytics/cost"] = anthropic_pages(cost)
        srv.routes["/v1/organization/usage/completions"] = openai_usage_pages()
        srv.routes["/v1/organizations/analytics/usage"] = anthropic_usage_pages()
        yield srv


def rows_by_key(doc: dict[str, Any], section: str = "rows") -> dict[tuple[str, str, str, str], dict[str, Any]]:
    return {(r["day"], r["provider"], r["model"], r["workspace"]): r for r in doc[section]}


def test_official_clients_read_every_page_with_exact_amounts(server: BillingServer, ledger: Any) -> None:
    _, cost = ledger
    oa = openai_costs(openai.OpenAI(api_key=KEY, admin_api_key=KEY, base_url=f"{server.url}/v1"), SINCE, UNTIL)
    an = anthropic_costs(anthropic.Anthropic(api_key=KEY, base_url=server.url), SINCE, UNTIL)
    assert len(oa) == 5 and {b.model for b in oa} == {"gpt-4o-mini-2024-07-18"}
    assert sum((b.cost_usd for b in oa if b.day.isoformat() == DAYS[0] and b.workspace == "proj_secops"),
               Decimal(0)) == cost[(DAYS[0], "secops")]
    assert len(an) == 4 and sum((b.cost_usd for b in an if b.model == "claude-haiku-4-5"), Decimal(0)) == sum(
        cost[(d, "support")] for d in DAYS)
    oa_requests = [r for r in server.requests if r[0] == "/v1/organization/costs"]
    assert len(oa_requests) == 2 and oa_requests[1][1]["page"] == ["page_1"]
    query = oa_requests[0][1]
    assert query["bucket_width"] == ["1d"] and query["start_time"] == [str(ts(DAYS[0]))]
    assert sorted(v for k, vs in query.items() if k.startswith("group_by") for v in vs) == ["line_item", "project_id"]
    assert oa_requests[0][2]["authorization"] == f"Bearer {KEY}"
    an_requests = [r for r in server.requests if r[0] == "/v1/organizations/analytics/cost"]
    assert len(an_requests) == 2
    assert "analytics-usage-cost-2026-08-24" in an_requests[0][2]["anthropic-beta"]
    assert an_requests[0][1]["time_bucket_width"] == ["1d"]


def test_cli_reports_drift_per_day_model_and_workspace_and_exits_1_beyond_tolerance(
    server: BillingServer, ledger: Any,
) -> None:
    url, cost = ledger
    workspace_args = [arg for w, t in WORKSPACES.items() for arg in ("--workspace", f"{w}={t}")]
    proc = subprocess.run(
        [sys.executable, "-m", "llm_otel.cli", "reconcile", "--ledger", url, "--since", "2026-10-01",
         "--until", "2026-10-04", "--openai", "--openai-base-url", f"{server.url}/v1", "--anthropic",
         "--anthropic-base-url", server.url, *workspace_args, "--format", "json"],
        capture_output=True, text=True, env={**os.environ, "OPENAI_ADMIN_KEY": KEY, "ANTHROPIC_ADMIN_KEY": KEY},
    )
    assert proc.returncode == 1, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["schema"] == "llm-otel.reconcile/1"
    rows = rows_by_key(doc)
    exact = rows[(DAYS[0], "openai", "gpt-4o-mini", "proj_secops")]
    assert exact["drift_usd"] == "0.000000000" and exact["over_tolerance"] is False
    over = rows[(DAYS[1], "openai", "gpt-4o-mini", "proj_secops")]
    assert over["drift_ratio"] == round(-0.05 / 1.05, 6) and over["over_tolerance"] is True
    missing = rows[(DAYS[2], "openai", "gpt-4o-mini", "proj_secops")]
    assert missing["bill_usd"] == "0.000000000" and missing["drift_ratio"] is None and missing["over_tolerance"]
    assert Decimal(rows[(DAYS[0], "openai", "gpt-4o-mini", UNMAPPED)]["ledger_usd"]) == cost[(DAYS[0], "unattributed")]
    assert Decimal(rows[(DAYS[0], "openai", "gpt-4o-mini", "proj_default")]["bill_usd"]) == cost[
        (DAYS[0], "unattributed")].quantize(Decimal("1e-9"))
    for d in DAYS:
        assert rows[(d, "anthropic", "claude-haiku-4-5", "wrkspc_support")]["drift_usd"] == "0.000000000"
    assert rows[(DAYS[1], "anthropic", "unknown", "wrkspc_support")]["bill_usd"] == "0.500000000"
    for d in DAYS:  # the usage reports match the ledger's tokens everywhere, even where the cost is missing
        for key in ((d, "openai", "gpt-4o-mini", "proj_secops"),
                    (d, "anthropic", "claude-haiku-4-5", "wrkspc_support")):
            assert rows[key]["bill_tokens"] == rows[key]["ledger_tokens"] > 0 and rows[key]["token_drift_ratio"] == 0
    assert missing["token_drift_ratio"] == 0  # day 3: tokens billed, cost not (yet): a lagging cost report
    by_model = rows_by_key(doc, "by_model")
    assert Decimal(by_model[(ALL, "anthropic", "claude-haiku-4-5", ALL)]["drift_usd"]) == 0


def test_without_a_workspace_map_the_bill_is_compared_per_day_and_model(server: BillingServer, ledger: Any) -> None:
    url, cost = ledger
    bill = openai_costs(openai.OpenAI(api_key=KEY, admin_api_key=KEY, base_url=f"{server.url}/v1"), SINCE, UNTIL)
    with open_ledger(url) as led:
        rec = reconcile(bill, led.iter_calls(SINCE, UNTIL), since=SINCE, until=UNTIL, sources=["openai"])
    rows = rows_by_key(to_json(rec))
    day1 = rows[(DAYS[0], "openai", "gpt-4o-mini", ALL)]
    assert day1["drift_usd"] == "0.000000000"
    assert Decimal(day1["ledger_usd"]) == (cost[(DAYS[0], "secops")] + cost[(DAYS[0], "unattributed")]).quantize(
        Decimal("1e-9"))
    assert not any(r.provider == "anthropic" for r in rec.rows)  # only billed providers are compared
    table = render_table(rec)
    day2 = next(line for line in table.splitlines() if line.startswith("2026-10-02") and "gpt-4o-mini" in line)
    assert f"{rows[(DAYS[1], 'openai', 'gpt-4o-mini', ALL)]['drift_ratio']:+.2%}" in day2 and day2.endswith("!")
    assert "-$0.0001" in day2


def test_csv_exports_reconcile_like_the_api(tmp_path: Path, ledger: Any) -> None:
    url, cost = ledger
    oa_csv, an_csv = tmp_path / "openai.csv", tmp_path / "anthropic.csv"
    with oa_csv.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["start_time", "project_id", "line_item", "amount_value", "currency"])
        for d in DAYS:
            w.writerow([ts(d), "proj_secops", "gpt-4o-mini-2024-07-18, input", f"{cost[(d, 'secops')]:f}", "usd"])
            w.writerow([ts(d), "proj_default", "gpt-4o-mini-2024-07-18, input", f"{cost[(d, 'unattributed')]:f}",
                        "usd"])
    with an_csv.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["usage_date", "workspace_id", "model", "amount"])
        for d in DAYS:
            w.writerow([d, "wrkspc_support", "claude-haiku-4-5-20251001", f"{cost[(d, 'support')] * 100:f}"])
    bill = read_cost_csv(str(oa_csv), "openai") + read_cost_csv(str(an_csv), "anthropic")
    with open_ledger(url) as led:
        rec = reconcile(bill, led.iter_calls(SINCE, UNTIL), since=SINCE, until=UNTIL, sources=["csv"],
                        workspace_map={**WORKSPACES, "proj_default": "unattributed-ledger"})
    assert {r.model for r in rec.rows} == {"gpt-4o-mini", "claude-haiku-4-5"}
    for r in rec.rows:
        if r.workspace in WORKSPACES:
            assert r.drift_usd == 0, r
    bad = tmp_path / "bad.csv"
    bad.write_text("when,what\n2026-10-01,1\n")
    with pytest.raises(ValueError, match="needs a day column"):
        read_cost_csv(str(bad), "openai")


def test_long_periods_are_cut_into_the_31_day_windows_anthropic_accepts() -> None:
    w = windows(datetime(2026, 1, 1, tzinfo=timezone.utc), datetime(2026, 3, 15, tzinfo=timezone.utc))
    assert [(a.date().isoformat(), b.date().isoformat()) for a, b in w] == [
        ("2026-01-01", "2026-02-01"), ("2026-02-01", "2026-03-04"), ("2026-03-04", "2026-03-15")]


def test_a_provider_api_error_exits_2_and_names_it(
    ledger: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    from llm_otel.cli import main

    monkeypatch.setenv("ANTHROPIC_ADMIN_KEY", KEY)
    with BillingServer() as empty:  # no routes: every request is a 404
        code = main(["reconcile", "--ledger", ledger[0], "--since", "2026-10-01", "--until", "2026-10-04",
                     "--anthropic", "--anthropic-base-url", empty.url])
    assert code == 2 and "NotFoundError" in capsys.readouterr().err
