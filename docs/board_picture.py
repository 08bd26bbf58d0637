"""Renders docs/board.png: the demo's data drawn like the Spend overview and Cost per task boards.

    pip install matplotlib
    llm-otel demo --duration 20 --keep-ledger /tmp/demo-ledger.db
    python docs/board_picture.py /tmp/demo-ledger.db docs/board.png

A picture for the README (what you get), not a test: the boards themselves are in
grafana/dashboards/ and their queries are tested against a real Prometheus.
"""

from __future__ import annotations

import sys
from collections import defaultdict
from decimal import Decimal

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from llm_otel.finops.showback import group_calls, percentile  # noqa: E402
from llm_otel.processor.ledger import open_ledger  # noqa: E402

BG, PANEL, TEXT, GRID = "#111217", "#181b1f", "#ccccdc", "#2c3235"
COLORS = ("#73bf69", "#f2cc0c", "#5794f2", "#ff780a", "#b877d9", "#f2495c")


def style(ax: plt.Axes, title: str) -> None:
    ax.set_facecolor(PANEL)
    ax.set_title(title, color=TEXT, loc="left", fontsize=10, fontweight="bold")
    ax.tick_params(colors=TEXT, labelsize=8)
    for spine in ax.spines.values():
        spine.set_color(GRID)
    ax.grid(color=GRID, linewidth=0.6)


def main(ledger_path: str, out: str) -> None:
    with open_ledger(f"sqlite:///{ledger_path}") as ledger:
        calls = list(ledger.iter_calls(0, 2**62))
        tasks = list(ledger.iter_tasks(finalized=True))
    fig = plt.figure(figsize=(14, 8), facecolor=BG)
    fig.suptitle("llm-otel - Spend overview / Cost per task (demo data)", color=TEXT, x=0.01, ha="left")
    grid = fig.add_gridspec(2, 3, hspace=0.35, wspace=0.25)

    # Spend by team over time (cumulative), as the spend-rate panel integrates.
    ax = fig.add_subplot(grid[0, :2])
    t0 = min(c.start_ns for c in calls)
    series: dict[str, list[tuple[float, float]]] = defaultdict(list)
    running: dict[str, Decimal] = defaultdict(Decimal)
    for c in sorted(calls, key=lambda c: c.start_ns):
        team = c.team or "unattributed"
        running[team] += c.cost_total
        series[team].append(((c.start_ns - t0) / 1e9, float(running[team])))
    for i, (team, pts) in enumerate(sorted(series.items())):
        ax.step([p[0] for p in pts], [p[1] for p in pts], where="post", color=COLORS[i % len(COLORS)], label=team)
    style(ax, "Spend by team (USD, cumulative)")
    ax.set_xlabel("seconds", color=TEXT, fontsize=8)
    ax.legend(facecolor=PANEL, labelcolor=TEXT, fontsize=8, frameon=False)

    # Stat panels.
    ax = fig.add_subplot(grid[0, 2])
    ax.axis("off")
    ax.set_facecolor(PANEL)
    (total,) = group_calls(calls, tasks, [])
    stats = [
        ("Spend", f"${total.spend:,.4f}"),
        ("Cache-hit rate", f"{total.cache_hit_rate:.1%}"),
        ("Cache savings", f"${total.cache_savings:,.4f}"),
        ("Unattributed", f"{total.unattributed_share:.1%}"),
        ("Unpriced calls", f"{total.unpriced_calls}"),
        ("Anomalies", f"{sum(1 for t in tasks if t.anomaly_runaway or t.anomaly_retry_loop)}"),
    ]
    for i, (label, value) in enumerate(stats):
        y = 0.92 - i * 0.16
        ax.text(0.02, y, label, color=TEXT, fontsize=9, transform=ax.transAxes)
        ax.text(0.98, y, value, color=COLORS[i % len(COLORS)], fontsize=14, ha="right", fontweight="bold",
                transform=ax.transAxes)

    # Cost per task p50 / p95 / max by task type.
    ax = fig.add_subplot(grid[1, :2])
    by_type: dict[str, list[Decimal]] = defaultdict(list)
    for t in tasks:
        by_type[t.task_type or "unattributed"].append(t.cost)
    names = sorted(by_type)
    width = 0.27
    for j, (label, q) in enumerate((("p50", 0.5), ("p95", 0.95), ("max", 1.0))):
        values = [float(percentile(sorted(by_type[n]), q)) for n in names]
        ax.bar([i + (j - 1) * width for i in range(len(names))], values, width, label=label, color=COLORS[j])
    ax.set_xticks(range(len(names)), names)
    ax.set_yscale("log")
    style(ax, "Cost per task by task type (USD, log scale): the runaway sql-agent task is the max")
    ax.legend(facecolor=PANEL, labelcolor=TEXT, fontsize=8, frameon=False)

    # Cache-hit rate by team.
    ax = fig.add_subplot(grid[1, 2])
    teams = group_calls(calls, tasks, ["team"])
    ax.barh([g.key[0] for g in teams], [g.cache_hit_rate for g in teams], color=COLORS[2])
    ax.set_xlim(0, 1)
    style(ax, "Cache-hit rate by team")
    fig.savefig(out, dpi=110, facecolor=BG)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
