"""Formats a report (``finops.report.build_report``) as an aligned table or CSV."""

from __future__ import annotations

import csv
import io
from decimal import Decimal
from typing import Any

from tabulate import tabulate


def usd(value: str | None) -> str:
    return "-" if value is None else f"${Decimal(value):,.4f}"


def pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


COLUMNS = (
    ("spend", lambda g: usd(g["spend_usd"])),
    ("tasks", lambda g: g["tasks"]),
    ("calls", lambda g: g["calls"]),
    ("mean/task", lambda g: usd(g["cost_per_task_usd"]["mean"])),
    ("p50/task", lambda g: usd(g["cost_per_task_usd"]["p50"])),
    ("p95/task", lambda g: usd(g["cost_per_task_usd"]["p95"])),
    ("max/task", lambda g: usd(g["cost_per_task_usd"]["max"])),
    ("per ok task", lambda g: usd(g["cost_per_successful_task_usd"])),
    ("calls/task", lambda g: "-" if g["calls_per_task"] is None else f"{g['calls_per_task']:.2f}"),
    ("tokens/task", lambda g: "-" if g["tokens_per_task"] is None else f"{g['tokens_per_task']:,.0f}"),
    ("cache hit", lambda g: pct(g["cache_hit_rate"])),
    ("cache saved", lambda g: usd(g["cache_savings_usd"])),
    ("unattributed", lambda g: pct(g["unattributed_share"])),
    ("unpriced", lambda g: pct(g["unpriced_share"])),
    ("re-sent", lambda g: pct(g["context"]["resent_share"])),
    ("tool share", lambda g: pct(g["context"]["tool_share"])),
    ("anomalies", lambda g: sum(g["context"]["anomalies"].values())),
)


def _rows(report: dict[str, Any]) -> tuple[list[str], list[list[Any]]]:
    keys = report["by"] or ["group"]
    headers = [*keys, *(name for name, _ in COLUMNS)]
    rows = [[*(g["key"].values() or ["all"]), *(fn(g) for _, fn in COLUMNS)] for g in report["groups"]]
    if report["totals"] and report["by"]:
        rows.append(["total", *([""] * (len(keys) - 1)), *(fn(report["totals"]) for _, fn in COLUMNS)])
    return headers, rows


def render_table(report: dict[str, Any]) -> str:
    headers, rows = _rows(report)
    colalign = ["left"] * len(report["by"] or ["group"]) + ["right"] * len(COLUMNS)
    out = [f"llm-otel showback {report['since'][:10]} .. {report['until'][:10]}", ""]
    out.append(tabulate(rows, headers=headers, tablefmt="simple", colalign=colalign, disable_numparse=True))
    mtd = report["month_to_date"]
    out += [
        "",
        f"Month {mtd['month']}: spent {usd(mtd['actual_usd'])}; forecast {usd(mtd['forecast_usd'])} "
        f"(90% interval {usd(mtd['forecast_low_usd'])} .. {usd(mtd['forecast_high_usd'])}; "
        f"{'day-of-week seasonal' if mtd['seasonal'] else 'flat rate'}, {mtd['history_days']} days of history)",
    ]
    for month, acc in mtd["past_accuracy"].items():
        out.append(f"  forecast accuracy {month}: {acc:.1%}")
    if mtd["budgets"]:
        budget_rows = [[b["team"], b["task_type"], usd(b["monthly_usd"]), usd(b["month_to_date_usd"]),
                        pct(b["share_used"])] for b in mtd["budgets"]]
        out += ["", tabulate(budget_rows, headers=["team", "task type", "budget", "month to date", "used"],
                             colalign=["left", "left", "right", "right", "right"], disable_numparse=True)]
    out += render_commitments(report.get("commitments") or [])
    return "\n".join(out) + "\n"


def render_commitments(commitments: list[dict[str, Any]]) -> list[str]:
    """The committed-capacity section: one line per commitment, then each team's share of its used fee."""
    if not commitments:
        return []
    rows = []
    for c in commitments:
        active = f"{c['active_hours']}/{c['hours_in_force']:g}"
        rows.append([c["name"], usd(c["fee_usd"]), pct(c["utilization"]), active, usd(c["idle_cost_usd"]),
                     usd(c["used_fee_usd"]),
                     usd(c["list_equivalent_usd"]), usd(c["net_savings_usd"]), "", "", ""])
        for t in c["teams"]:
            rows.append(["", "", "", "", "", "", usd(t["list_equivalent_usd"]), "", t["team"], pct(t["share"]),
                         usd(t["allocated_fee_usd"])])
    headers = ["commitment", "fee", "utilization", "active h", "idle cost", "used fee", "list equiv.", "net savings",
               "team", "share", "allocated"]
    return ["", "Committed capacity (utilization vs price-book capacity; idle = unused fee; used fee split by "
            "list-cost equivalent)",
            tabulate(rows, headers=headers, colalign=["left", *["right"] * 7, "left", "right", "right"],
                     disable_numparse=True)]


def render_csv(report: dict[str, Any]) -> str:
    """One row per group with raw (unformatted) decimal values, for spreadsheets."""
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow([*report["by"], "spend_usd", "list_spend_usd", "tasks", "calls", "error_calls",
                "cost_per_task_mean_usd", "cost_per_task_p50_usd", "cost_per_task_p95_usd", "cost_per_task_max_usd",
                "cost_per_successful_task_usd", "calls_per_task", "tokens_per_task", "input_tokens",
                "cache_read_tokens", "cache_write_tokens", "output_tokens", "cache_hit_rate", "cache_savings_usd",
                "unattributed_share", "unpriced_share"])
    for g in report["groups"]:
        c = g["cost_per_task_usd"]
        t = g["tokens"]
        w.writerow([*g["key"].values(), g["spend_usd"], g["list_spend_usd"], g["tasks"], g["calls"],
                    g["error_calls"], c["mean"], c["p50"], c["p95"], c["max"], g["cost_per_successful_task_usd"] or "",
                    g["calls_per_task"] if g["calls_per_task"] is not None else "",
                    g["tokens_per_task"] if g["tokens_per_task"] is not None else "",
                    t["input"], t["cache_read"], t["cache_write"], t["output"], g["cache_hit_rate"],
                    g["cache_savings_usd"], g["unattributed_share"], g["unpriced_share"]])
    return buf.getvalue()
