"""The showback summary the demo prints, read back from the processor's ledger and /metrics."""

from __future__ import annotations

import sys
import urllib.request
from decimal import Decimal
from typing import TextIO

from llm_otel.finops.showback import TaskCostStats, group_calls
from llm_otel.processor.ledger import open_ledger


def usd(value: Decimal | float) -> str:
    return f"${Decimal(value):,.4f}"


def metrics_total(metrics_url: str, name: str = "llm_cost_usd_total") -> Decimal:
    """Sum of one counter over all its series, parsed from the Prometheus text exposition."""
    from prometheus_client.parser import text_string_to_metric_families

    with urllib.request.urlopen(metrics_url, timeout=5) as r:
        text = r.read().decode()
    total = Decimal(0)
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name:
                total += Decimal(repr(sample.value))
    return total


def print_summary(ledger_url: str, *, out: TextIO = sys.stdout, metrics_url: str | None = None) -> Decimal:
    """Prints the showback and returns the ledger's total spend."""
    with open_ledger(ledger_url) as ledger:
        tasks = list(ledger.iter_tasks())
        calls = list(ledger.iter_calls(0, 2**62))
    by_type = group_calls(calls, tasks, ["task_type"])
    by_team = group_calls(calls, tasks, ["team"])
    (everything,) = group_calls(calls, tasks, []) or [None]  # type: ignore[list-item]
    w = out.write
    w("\nCost per task, by task type\n")
    w(f"  {'task type':<16}{'tasks':>6}{'mean':>12}{'p50':>12}{'p95':>12}{'max':>12}\n")
    for g in by_type:
        s: TaskCostStats = g.task_stats
        w(f"  {g.key[0]:<16}{s.tasks:>6}{usd(s.mean):>12}{usd(s.p50):>12}{usd(s.p95):>12}{usd(s.max):>12}\n")
    w("\nSpend by team\n")
    for g in by_team:
        w(f"  {g.key[0]:<16}{usd(g.spend):>12}  cache hit {g.cache_hit_rate:6.1%}  saved {usd(g.cache_savings)}\n")
    total = everything.spend if everything else Decimal(0)
    if everything:
        w(f"\nTotal spend {usd(total)} over {everything.calls} calls; cache-hit rate "
          f"{everything.cache_hit_rate:.1%}, caching saved {usd(everything.cache_savings)}; "
          f"unattributed share {everything.unattributed_share:.1%}; unpriced calls {everything.unpriced_calls}\n")
    w("\nCost per task by prompt template and version (doc-qa: the same task with and without caching)\n")
    per_prompt: dict[tuple[str, str], tuple[Decimal, set[str]]] = {}
    for c in calls:
        if c.prompt_template and c.task_id:
            spent, ids = per_prompt.get((c.prompt_template, c.prompt_version or "-"), (Decimal(0), set()))
            ids.add(c.task_id)
            per_prompt[(c.prompt_template, c.prompt_version or "-")] = (spent + c.cost_total, ids)
    for (template, version), (spent, ids) in sorted(per_prompt.items()):
        w(f"  {template:<16}{version:<10}{len(ids):>4} tasks  {usd(spent / len(ids)):>10} per task\n")
    flagged = [t for t in tasks if t.anomaly_runaway or t.anomaly_retry_loop or t.anomaly_context_blowup]
    w(f"\nAnomalies found: {len(flagged)}\n")
    for t in sorted(flagged, key=lambda t: t.cost, reverse=True):
        kinds = [k for k, v in (("runaway", t.anomaly_runaway), ("retry_loop", t.anomaly_retry_loop),
                                ("context_blowup", t.anomaly_context_blowup)) if v]
        w(f"  {t.task_type:<16}{t.task_id:<34}{usd(t.cost):>12}  {', '.join(kinds)}\n")
    if metrics_url:
        scraped = metrics_total(metrics_url)
        ok = "equal" if abs(scraped - total) < Decimal("1e-9") else "DIFFER"
        w(f"\nLedger total {usd(total)} and /metrics sum(llm_cost_usd_total) {usd(scraped)}: {ok}\n")
    return total
