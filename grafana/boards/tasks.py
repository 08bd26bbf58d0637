"""Cost per task: the unit metric, its distribution with exemplars, and the dearest tasks from the ledger."""

from __future__ import annotations

from grafana_foundation_sdk.builders import common, dashboard, table
from grafana_foundation_sdk.models import dashboard as dashboard_models

from .kit import (
    LEDGER,
    RI,
    SQL,
    TASK,
    TEMPO_UID,
    USD,
    bars,
    board,
    prom,
    ts,
)

MOST_EXPENSIVE_TASKS_SQL = """
SELECT
  t.task_id,
  coalesce(t.team, 'unattributed') AS team,
  coalesce(t.task_type, 'unattributed') AS task_type,
  t.status,
  to_timestamp(coalesce(t.start_ns, t.first_call_ns) / 1e9) AS started,
  t.calls,
  coalesce(t.tokens_input, 0) + coalesce(t.tokens_cache_read, 0) + coalesce(t.tokens_cache_write, 0)
    + coalesce(t.tokens_output, 0) AS tokens,
  t.cost::float8 AS cost_usd,
  t.cache_savings::float8 AS cache_savings_usd,
  concat_ws(', ',
    CASE WHEN t.anomaly_runaway THEN 'runaway' END,
    CASE WHEN t.anomaly_retry_loop THEN 'retry_loop' END,
    CASE WHEN t.anomaly_context_blowup THEN 'context_blowup' END) AS anomalies,
  t.trace_id
FROM ledger_tasks AS t
WHERE coalesce(t.start_ns, t.first_call_ns) >= $__unixEpochNanoFrom()
  AND coalesce(t.start_ns, t.first_call_ns) < $__unixEpochNanoTo()
  AND coalesce(t.team, 'unattributed') ~ '^(${team:regex})$'
  AND coalesce(t.task_type, 'unattributed') ~ '^(${task_type:regex})$'
ORDER BY t.cost DESC NULLS LAST
LIMIT 25
""".strip()


def most_expensive_tasks() -> table.Panel:
    trace_link = (
        '/explore?left={"datasource":"' + TEMPO_UID + '","queries":[{"refId":"A","queryType":"traceql",'
        '"query":"${__value.raw}"}]}'
    )
    return (
        table.Panel()
        .title("Most expensive tasks (ledger)")
        .description(
            "The 25 dearest tasks that began in the time range, from the PostgreSQL ledger (ledger_tasks, "
            "docs/ledger.md). Click a trace id to open the task's trace in Tempo."
        )
        .datasource(LEDGER)
        .span(24)
        .height(10)
        .with_target(SQL("A", MOST_EXPENSIVE_TASKS_SQL))
        .override_by_name("cost_usd", [dashboard_models.DynamicConfigValue(id_val="unit", value=USD)])
        .override_by_name("cache_savings_usd", [dashboard_models.DynamicConfigValue(id_val="unit", value=USD)])
        .override_by_name(
            "trace_id",
            [
                dashboard_models.DynamicConfigValue(
                    id_val="links", value=[{"title": "Open trace in Tempo", "url": trace_link}]
                )
            ],
        )
        .sort_by([common.TableSortByFieldState().display_name("cost_usd").desc(True)])
    )


def cost_per_task() -> dashboard.Dashboard:
    count = f"llm_task_cost_usd_count{{{TASK}}}"
    return (
        board(
            "llm-otel-cost-per-task",
            "llm-otel / Cost per task",
            "Cost per task as the unit metric: distribution by task type (exemplars link to the trace), volume, "
            "calls and tokens per task, anomalies, and the dearest tasks from the ledger.",
            ["finops", "tasks"],
        )
        .with_panel(
            ts(
                "Cost per task p50 / p95 / p99",
                "Quantiles of llm_task_cost_usd by task type, observed when a task finalizes. The dots are "
                "exemplars: each links to the trace of a task in that bucket.",
                [
                    prom(
                        f"""histogram_quantile({q}, sum by (le, task_type)
                        (rate(llm_task_cost_usd_bucket{{{TASK}}}[$__rate_interval])))""",
                        f"p{round(q * 100)} {{{{task_type}}}}",
                        exemplar=True,
                    )
                    for q in (0.5, 0.95, 0.99)
                ],
                unit=USD,
                w=24,
                h=10,
            )
        )
        .with_panel(
            ts(
                "Tasks per hour",
                "Finalized tasks per hour by task type and status.",
                [
                    prom(
                        f"sum by (task_type, status) (rate({count}[$__rate_interval])) * 3600",
                        "{{task_type}} {{status}}",
                    )
                ],
                w=8,
                stack=True,
            )
        )
        .with_panel(
            ts(
                "Mean cost per task",
                "USD per finalized task (sum / count of llm_task_cost_usd) by task type.",
                [
                    prom(
                        f"""sum by (task_type) (rate(llm_task_cost_usd_sum{{{TASK}}}[$__rate_interval]))
                        / sum by (task_type) (rate({count}[$__rate_interval]))""",
                        "{{task_type}}",
                    )
                ],
                unit=USD,
                w=8,
            )
        )
        .with_panel(
            ts(
                "Cost per successful task",
                "All task spend (failed tasks included) divided by the tasks that ended with status ok: what "
                "one useful outcome costs.",
                [
                    prom(
                        f"""sum by (task_type) (rate(llm_task_cost_usd_sum{{{TASK}}}[$__rate_interval]))
                        / sum by (task_type) (rate(llm_task_cost_usd_count{{{TASK}, status="ok"}}[{RI}]))""",
                        "{{task_type}}",
                    )
                ],
                unit=USD,
                w=8,
            )
        )
        .with_panel(
            ts(
                "Calls per task",
                "Mean LLM calls per finalized task by task type (calls rate / tasks rate).",
                [
                    prom(
                        f"""sum by (task_type) (rate(llm_calls_total{{{TASK}, task_type!="unattributed"}}[{RI}]))
                        / sum by (task_type) (rate({count}[$__rate_interval]))""",
                        "{{task_type}}",
                    )
                ],
                w=8,
            )
        )
        .with_panel(
            ts(
                "Tokens per task",
                "Mean billed tokens (all token types) per finalized task by task type.",
                [
                    prom(
                        f"""sum by (task_type) (rate(llm_tokens_total{{{TASK}, task_type!="unattributed"}}[{RI}]))
                        / sum by (task_type) (rate({count}[$__rate_interval]))""",
                        "{{task_type}}",
                    )
                ],
                w=8,
            )
        )
        .with_panel(
            ts(
                "Task anomalies",
                "Tasks flagged by the processor (runaway, retry_loop, context_blowup) per interval.",
                [
                    prom(
                        f"sum by (task_type, kind) (increase(llm_task_anomalies_total{{{TASK}}}[$__rate_interval]))",
                        "{{task_type}} {{kind}}",
                    )
                ],
                w=8,
                bars=True,
                stack=True,
            )
        )
        .with_panel(
            bars(
                "Anomalies in range",
                "Flagged tasks in the selected time range, by kind and task type.",
                [
                    prom(
                        f"sort_desc(sum by (task_type, kind) (increase(llm_task_anomalies_total{{{TASK}}}[$__range])))",
                        "{{task_type}} {{kind}}",
                        instant=True,
                    )
                ],
                w=12,
            )
        )
        .with_panel(
            bars(
                "Mean cost per task in range",
                "USD per task over the selected time range, by task type.",
                [
                    prom(
                        f"""sort_desc(sum by (task_type) (increase(llm_task_cost_usd_sum{{{TASK}}}[$__range]))
                        / sum by (task_type) (increase({count}[$__range])))""",
                        "{{task_type}}",
                        instant=True,
                    )
                ],
                unit=USD,
                w=12,
            )
        )
        .with_panel(most_expensive_tasks())
    )
