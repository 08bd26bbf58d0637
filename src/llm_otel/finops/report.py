"""``llm-otel report``: showback from the ledger as one stable, documented structure.

``build_report`` returns plain data (the JSON output, schema ``llm-otel.report/1``,
documented in docs/finops.md); the table, CSV and HTML renderers only format it. Money is
carried as decimal strings so no float rounding sneaks into finance's numbers.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timezone
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from llm_otel.finops.commitments import analyze, result_json
from llm_otel.finops.forecast import daily_points, forecast_month, past_accuracy
from llm_otel.finops.showback import Group, group_calls
from llm_otel.pricing.book import PriceBook
from llm_otel.processor.ledger import CallRow, TaskRow, open_ledger

SCHEMA = "llm-otel.report/1"


@dataclass(frozen=True)
class BudgetLine:
    team: str
    task_type: str  # "*" for the whole team
    monthly_usd: Decimal


def money(value: Decimal) -> str:
    """Decimal USD as a string with 9 decimal places (nano-dollars): exact for any sum of priced calls."""
    return f"{value.quantize(Decimal('1e-9')):f}"


def redact_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.password:
        netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
        return urlunsplit(parts._replace(netloc=netloc))
    return url


def group_json(g: Group, by: Sequence[str]) -> dict[str, Any]:
    s = g.task_stats
    tasks = s.tasks
    return {
        "key": dict(zip(by, g.key, strict=True)),
        "spend_usd": money(g.spend),
        "list_spend_usd": money(g.list_spend),
        "tasks": tasks,
        "calls": g.calls,
        "error_calls": g.error_calls,
        "cost_per_task_usd": {
            "mean": money(s.mean),
            "p50": money(s.p50),
            "p95": money(s.p95),
            "max": money(s.max),
        },
        "cost_per_successful_task_usd": None
        if s.cost_per_successful_task is None
        else money(s.cost_per_successful_task),
        "calls_per_task": round(g.calls / tasks, 4) if tasks else None,
        "tokens_per_task": round((g.input_tokens + g.output_tokens) / tasks, 2) if tasks else None,
        "tokens": {
            "input": g.input_tokens,
            "cache_read": g.cache_read_tokens,
            "cache_write": g.cache_write_tokens,
            "output": g.output_tokens,
        },
        "cache_hit_rate": round(g.cache_hit_rate, 6),
        "cache_savings_usd": money(g.cache_savings),
        "unattributed_share": round(g.unattributed_share, 6),
        "unpriced_share": round(g.unpriced_share, 6),
        "context": {
            "turns_per_task": round(s.turns / tasks, 4) if tasks else None,
            "tokens_resent": s.tokens_resent,
            "resent_share": round(s.resent_share, 6),
            "tool_tokens": s.tool_tokens,
            "tool_share": round(s.tool_share, 6),
            "anomalies": s.anomalies,
        },
    }


def _day(ns: int) -> str:
    return datetime.fromtimestamp(ns / 1e9, timezone.utc).date().isoformat()


def series(calls: Sequence[CallRow], tasks: Sequence[TaskRow]) -> dict[str, Any]:
    """Time series and distributions for the HTML charts."""
    spend: dict[str, dict[str, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
    cache: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for c in calls:
        day = _day(c.start_ns)
        spend[day][c.team or "unattributed"] += c.cost_total
        cache[day][0] += c.tokens_cache_read or 0
        cache[day][1] += c.inclusive_input_tokens
    dist: dict[str, list[str]] = defaultdict(list)
    for t in tasks:
        dist[t.task_type or "unattributed"].append(money(t.cost))
    return {
        "spend_by_day_and_team": {d: {k: money(v) for k, v in teams.items()} for d, teams in sorted(spend.items())},
        "cache_hit_rate_by_day": {d: round(r / i, 6) if i else 0.0 for d, (r, i) in sorted(cache.items())},
        "task_costs_by_task_type": dict(sorted(dist.items())),
    }


def budgets_json(budgets: Sequence[BudgetLine], calls_this_month: Sequence[CallRow]) -> list[dict[str, Any]]:
    """Month-to-date spend against each monthly budget (task_type "*" covers the whole team)."""
    out = []
    for b in budgets:
        spent = sum(
            (c.cost_total for c in calls_this_month
             if (c.team or "unattributed") == b.team and (b.task_type == "*" or c.task_type == b.task_type)),
            Decimal(0),
        )
        out.append({
            "team": b.team,
            "task_type": b.task_type,
            "monthly_usd": money(b.monthly_usd),
            "month_to_date_usd": money(spent),
            "share_used": round(float(spent / b.monthly_usd), 6) if b.monthly_usd else None,
        })
    return out


def build_report(
    ledger_url: str,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    by: Sequence[str] = ("team", "task_type"),
    budgets: Sequence[BudgetLine] = (),
    now: datetime | None = None,
    pricebook: PriceBook | None = None,
) -> dict[str, Any]:
    """The report as plain data (see docs/finops.md for the schema).

    ``pricebook``: its committed capacity becomes the ``commitments`` section (empty without one).
    """
    now = now or datetime.now(timezone.utc)
    until = until or now
    since = since or until.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    with open_ledger(ledger_url) as ledger:
        calls = ledger.calls_in_range(since, until)
        tasks = ledger.tasks_in_range(since, until)
        month_start = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        history_start = datetime.fromtimestamp(month_start.timestamp() - 400 * 86400, timezone.utc)
        history_tasks = ledger.tasks_in_range(history_start, now)
        month_calls = ledger.calls_in_range(month_start, now)
    groups = group_calls(calls, tasks, list(by))
    totals = group_calls(calls, tasks, [])
    points = daily_points(history_tasks)
    as_of: date = now.date()
    fc = forecast_month(points, as_of)
    return {
        "schema": SCHEMA,
        "generated_at": now.isoformat(),
        "ledger": redact_url(ledger_url),
        "since": since.isoformat(),
        "until": until.isoformat(),
        "by": list(by),
        "currency": "USD",
        "totals": group_json(totals[0], []) if totals else None,
        "groups": [group_json(g, by) for g in groups],
        "month_to_date": {
            "month": fc.month,
            "actual_usd": money(fc.actual_to_date),
            "forecast_usd": money(fc.forecast_total),
            "forecast_low_usd": money(fc.low),
            "forecast_high_usd": money(fc.high),
            "forecast_by_task_type_remaining_usd": {k: money(v) for k, v in fc.by_task_type.items()},
            "seasonal": fc.seasonal,
            "history_days": fc.history_days,
            "past_accuracy": past_accuracy(points, as_of),
            "budgets": budgets_json(budgets, month_calls),
        },
        "series": series(calls, tasks),
        "commitments": [result_json(r) for r in analyze(pricebook.committed, calls, since, until)]
        if pricebook is not None
        else [],
    }
