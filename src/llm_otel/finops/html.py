"""The report as one self-contained HTML page: inline CSS and SVG charts, nothing fetched at view time.

Charts are drawn as SVG here rather than with a charting library so the page opens
offline, in a mail attachment or an air-gapped finance laptop, and stays small.
"""

from __future__ import annotations

from decimal import Decimal
from html import escape
from typing import Any

from llm_otel.finops.render import COLUMNS

PALETTE = ("#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7", "#9c755f")
W, H, PAD = 720, 260, 48


def _svg(chart_id: str, title: str, body: str) -> str:
    return (
        f'<figure class="chart" id="{chart_id}"><figcaption>{escape(title)}</figcaption>'
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" role="img" '
        f'aria-label="{escape(title)}">{body}</svg></figure>'
    )


def _axis(max_value: float, fmt: str) -> str:
    out = [f'<line x1="{PAD}" y1="{H - PAD}" x2="{W - 10}" y2="{H - PAD}" stroke="#888"/>']
    for i in range(5):
        v = max_value * i / 4
        y = H - PAD - (H - 2 * PAD) * i / 4
        out.append(f'<text x="{PAD - 4}" y="{y + 4:.1f}" text-anchor="end" font-size="10">{fmt.format(v)}</text>')
        out.append(f'<line x1="{PAD}" y1="{y:.1f}" x2="{W - 10}" y2="{y:.1f}" stroke="#eee"/>')
    return "".join(out)


def spend_by_team_chart(data: dict[str, dict[str, str]]) -> str:
    days = list(data)
    teams = sorted({t for d in data.values() for t in d})
    totals = [sum(float(v) for v in data[d].values()) for d in days]
    top = max(totals, default=0.0) or 1.0
    bw = (W - PAD - 20) / max(len(days), 1)
    parts = [_axis(top, "${:,.2f}")]
    for i, day in enumerate(days):
        y: float = H - PAD
        for j, team in enumerate(teams):
            v = float(data[day].get(team, 0))
            h = (H - 2 * PAD) * v / top
            y -= h
            parts.append(f'<rect class="bar" x="{PAD + i * bw + 2:.1f}" y="{y:.1f}" width="{max(bw - 4, 1):.1f}" '
                         f'height="{h:.1f}" fill="{PALETTE[j % len(PALETTE)]}"><title>{escape(day)} '
                         f'{escape(team)}: ${v:,.4f}</title></rect>')
        if len(days) <= 16 or i % max(1, len(days) // 8) == 0:
            parts.append(f'<text x="{PAD + i * bw + bw / 2:.1f}" y="{H - PAD + 14}" text-anchor="middle" '
                         f'font-size="10">{escape(day[5:])}</text>')
    for j, team in enumerate(teams):
        parts.append(f'<rect x="{PAD + j * 110}" y="6" width="10" height="10" fill="{PALETTE[j % len(PALETTE)]}"/>'
                     f'<text x="{PAD + j * 110 + 14}" y="15" font-size="11">{escape(team)}</text>')
    return _svg("chart-spend-by-team", "Spend over time by team", "".join(parts))


def task_cost_distribution_chart(data: dict[str, list[str]]) -> str:
    types = list(data)
    values = {k: sorted(float(Decimal(v)) for v in vs) for k, vs in data.items()}
    top = max((v[-1] for v in values.values() if v), default=0.0) or 1.0
    bw = (W - PAD - 20) / max(len(types), 1)
    parts = [_axis(top, "${:,.3f}")]
    for i, k in enumerate(types):
        vs = values[k]
        cx = PAD + i * bw + bw / 2
        for n, v in enumerate(vs):
            jitter = ((n * 37) % 21 - 10) * bw / 60
            y = H - PAD - (H - 2 * PAD) * v / top
            parts.append(f'<circle class="dot" cx="{cx + jitter:.1f}" cy="{y:.1f}" r="3" '
                         f'fill="{PALETTE[i % len(PALETTE)]}" fill-opacity="0.6"><title>{escape(k)}: '
                         f'${v:,.4f}</title></circle>')
        if vs:
            med = vs[len(vs) // 2]
            y = H - PAD - (H - 2 * PAD) * med / top
            parts.append(f'<line x1="{cx - bw / 3:.1f}" x2="{cx + bw / 3:.1f}" y1="{y:.1f}" y2="{y:.1f}" '
                         f'stroke="#000" stroke-width="2"><title>median ${med:,.4f}</title></line>')
        parts.append(f'<text x="{cx:.1f}" y="{H - PAD + 14}" text-anchor="middle" font-size="11">{escape(k)}</text>')
    return _svg("chart-task-cost-distribution", "Cost per task by task type (each dot a task; bar = median)",
                "".join(parts))


def cache_hit_rate_chart(data: dict[str, float]) -> str:
    days = list(data)
    step = (W - PAD - 20) / max(len(days) - 1, 1)
    pts = [(PAD + i * step, H - PAD - (H - 2 * PAD) * data[d]) for i, d in enumerate(days)]
    parts = [_axis(1.0, "{:.0%}")]
    if pts:
        parts.append('<polyline class="line" fill="none" stroke="#4e79a7" stroke-width="2" points="'
                     + " ".join(f"{x:.1f},{y:.1f}" for x, y in pts) + '"/>')
        for (x, y), d in zip(pts, days, strict=True):
            parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="#4e79a7"><title>{escape(d)}: '
                         f'{data[d]:.1%}</title></circle>')
    return _svg("chart-cache-hit-rate", "Cache-hit rate over time (cache-read / inclusive input tokens)",
                "".join(parts))


def commitments_table(commitments: list[dict[str, Any]]) -> str:
    """Committed capacity: fee, utilization, idle cost, and each team's allocated share (empty without any)."""
    if not commitments:
        return ""
    rows = []
    for c in commitments:
        util = "-" if c["utilization"] is None else f"{c['utilization']:.1%}"
        teams = ", ".join(f"{t['team']} ${Decimal(t['allocated_fee_usd']):,.4f} ({t['share']:.1%})" for t in c["teams"])
        rows.append(
            f'<tr><td class="k">{escape(c["name"])}</td><td>${Decimal(c["fee_usd"]):,.4f}</td><td>{util}</td>'
            f'<td>${Decimal(c["idle_cost_usd"]):,.4f}</td><td>${Decimal(c["used_fee_usd"]):,.4f}</td>'
            f'<td>${Decimal(c["net_savings_usd"]):,.4f}</td><td class="k">{escape(teams)}</td></tr>'
        )
    return ('<h2>Committed capacity</h2><table id="commitments"><thead><tr><th class="k">commitment</th>'
            "<th>fee</th><th>utilization</th><th>idle cost</th><th>used fee</th><th>net savings</th>"
            f'<th class="k">teams (allocated used fee)</th></tr></thead><tbody>{"".join(rows)}</tbody></table>')


def render_html(report: dict[str, Any]) -> str:
    keys = report["by"] or ["group"]
    head = "".join(f'<th class="k">{escape(k)}</th>' for k in keys)
    head += "".join(f"<th>{escape(n)}</th>" for n, _ in COLUMNS)
    rows = []
    for g in report["groups"]:
        cells = "".join(f'<td class="k">{escape(str(v))}</td>' for v in (g["key"].values() or ["all"]))
        cells += "".join(f"<td>{escape(str(fn(g)))}</td>" for _, fn in COLUMNS)
        rows.append(f"<tr>{cells}</tr>")
    mtd = report["month_to_date"]
    s = report["series"]
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>llm-otel showback</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 24px; color: #222; }}
table {{ border-collapse: collapse; font-size: 13px; }}
th, td {{ padding: 4px 8px; border-bottom: 1px solid #ddd; text-align: right; }}
th.k, td.k {{ text-align: left; }}
figure.chart {{ margin: 24px 0; }} figcaption {{ font-weight: 600; margin-bottom: 6px; }}
</style></head><body>
<h1>llm-otel showback</h1>
<p>{escape(report["since"][:10])} to {escape(report["until"][:10])}, grouped by {escape(", ".join(keys))}.
Month {escape(mtd["month"])}: spent ${Decimal(mtd["actual_usd"]):,.4f}, forecast ${Decimal(mtd["forecast_usd"]):,.4f}
(90% interval ${Decimal(mtd["forecast_low_usd"]):,.4f} to ${Decimal(mtd["forecast_high_usd"]):,.4f}).</p>
<table id="showback"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>
{commitments_table(report.get("commitments") or [])}
{spend_by_team_chart(s["spend_by_day_and_team"])}
{task_cost_distribution_chart(s["task_costs_by_task_type"])}
{cache_hit_rate_chart(s["cache_hit_rate_by_day"])}
</body></html>
"""
