"""Spend overview: spend by team, task type and model, budgets, prompts and caching."""

from __future__ import annotations

from grafana_foundation_sdk.builders import dashboard

from .kit import CALL, INPUT_TYPES, MODEL, NEEDS_7D, NEEDS_RULES, RI, TASK, USD, bars, board, prom, single, ts


def spend_overview() -> dashboard.Dashboard:
    spend = f"llm_cost_usd_total{{{CALL}}}"
    return (
        board(
            "llm-otel-spend",
            "llm-otel / Spend overview",
            "LLM spend by team, task type and model, against budgets; cache savings; what is not attributed or priced.",
            ["finops"],
        )
        .with_row(dashboard.Row("Spend"))
        .with_panel(
            single(
                "Spend in range",
                "USD spent in the selected time range (effective prices: contracts and discounts applied).",
                [prom(f"sum(increase({spend}[$__range]))", instant=True)],
                unit=USD,
            )
        )
        .with_panel(
            single(
                "Spend rate",
                "USD per hour over the last few scrapes.",
                [prom(f"sum(rate({spend}[$__rate_interval])) * 3600", instant=True)],
                unit="currencyUSD",
            )
        )
        .with_panel(
            single(
                "Cache savings in range",
                "USD that prompt-cache reads saved against the same tokens as uncached input.",
                [prom(f"sum(increase(llm_cache_savings_usd_total{{{CALL}}}[$__range]))", instant=True)],
                unit=USD,
            )
        )
        .with_panel(
            single(
                "Cache-hit rate",
                "Share of input tokens (uncached input + cache reads + cache writes) served from the prompt cache.",
                [
                    prom(
                        f"""sum(increase(llm_tokens_total{{{CALL}, token_type="cache_read"}}[$__range]))
                        / sum(increase(llm_tokens_total{{{CALL}, {INPUT_TYPES}}}[$__range]))""",
                        instant=True,
                    )
                ],
                unit="percentunit",
            )
        )
        .with_panel(
            single(
                "Unattributed share",
                "Share of spend from calls made outside any llm_otel.task() (team or task type "
                "'unattributed'). Ignores the team and task type filters.",
                [
                    prom(
                        f"""(sum(increase(llm_cost_usd_total{{{MODEL}, team="unattributed"}}[$__range]))
                        or vector(0))
                        / sum(increase(llm_cost_usd_total{{{MODEL}}}[$__range]))""",
                        instant=True,
                    )
                ],
                unit="percentunit",
            )
        )
        .with_panel(
            single(
                "Unpriced calls",
                "Share of calls the processor could not price: their spend is missing from every cost "
                "figure here. Ignores the team and task type filters (unpriced calls carry no team).",
                [
                    prom(
                        f"""(sum(increase(llm_unpriced_calls_total{{{MODEL}}}[$__range])) or vector(0))
                        / sum(increase(llm_calls_total{{{MODEL}}}[$__range]))""",
                        instant=True,
                    )
                ],
                unit="percentunit",
            )
        )
        .with_panel(
            ts(
                "Spend rate by team",
                "USD per hour.",
                [prom(f"sum by (team) (rate({spend}[$__rate_interval])) * 3600", "{{team}}")],
                unit=USD,
                w=8,
                stack=True,
            )
        )
        .with_panel(
            ts(
                "Spend rate by task type",
                "USD per hour.",
                [prom(f"sum by (task_type) (rate({spend}[$__rate_interval])) * 3600", "{{task_type}}")],
                unit=USD,
                w=8,
                stack=True,
            )
        )
        .with_panel(
            ts(
                "Spend rate by model",
                "USD per hour.",
                [prom(f"sum by (provider, model) (rate({spend}[$__rate_interval])) * 3600", "{{provider}}/{{model}}")],
                unit=USD,
                w=8,
                stack=True,
            )
        )
        .with_panel(
            bars(
                "Spend in range by team",
                "USD in the selected time range.",
                [prom(f"sort_desc(sum by (team) (increase({spend}[$__range])))", "{{team}}", instant=True)],
                unit=USD,
            )
        )
        .with_panel(
            bars(
                "Spend in range by task type",
                "USD in the selected time range.",
                [prom(f"sort_desc(sum by (task_type) (increase({spend}[$__range])))", "{{task_type}}", instant=True)],
                unit=USD,
            )
        )
        .with_panel(
            ts(
                "Spend rate by token type",
                "USD per hour by token type: uncached input, cache reads, cache writes, output.",
                [prom(f"sum by (token_type) (rate({spend}[$__rate_interval])) * 3600", "{{token_type}}")],
                unit=USD,
                w=8,
                stack=True,
            )
        )
        .with_row(dashboard.Row("Budgets"))
        .with_panel(
            bars(
                "Month to date, share of budget",
                "Spend since the start of this month (the panel's time range is 'this month so far') as a share "
                "of the monthly budget from the processor's config (llm_budget_usd). Only team and task types "
                "with a budget appear.",
                [
                    prom(
                        f"""sort_desc(
                          sum by (team, task_type) (increase(llm_cost_usd_total{{{TASK}}}[$__range]))
                          / on (team, task_type) max by (team, task_type) (llm_budget_usd{{{TASK}}} > 0)
                        )""",
                        "{{team}}/{{task_type}}",
                        instant=True,
                    )
                ],
                unit="percentunit",
                w=12,
                time_from="now/M",
                maximum=1,
            )
        )
        .with_panel(
            ts(
                "Burn rate against the monthly budget",
                "Spend rate over the last hour divided by the rate that spends the monthly budget in 30 days. "
                "1 = on budget; the fast-burn alert pages at 14.4, the slow one warns at 6.",
                [
                    prom(
                        f"""sum by (team, task_type) (rate(llm_cost_usd_total{{{TASK}}}[1h])) * 2592000
                        / on (team, task_type) max by (team, task_type) (llm_budget_usd{{{TASK}}} > 0)""",
                        "{{team}}/{{task_type}}",
                    )
                ],
                w=12,
            )
        )
        .with_panel(
            ts(
                "Month to date vs budget (recorded)",
                "team_task_type:llm_cost_usd:month_to_date (summed from hourly increases since the 1st, UTC) "
                "against the monthly budget: what the month-end overrun alert extrapolates. Needs 1h history (the "
                "sums start at the top of an hour)." + NEEDS_RULES,
                [
                    prom(f"team_task_type:llm_cost_usd:month_to_date{{{TASK}}}", "spent {{team}}/{{task_type}}"),
                    prom(f"team_task_type:llm_budget_usd:max{{{TASK}}}", "budget {{team}}/{{task_type}}"),
                ],
                unit=USD,
                w=12,
            )
        )
        .with_panel(
            ts(
                "Hourly spend vs the same hour last week",
                "USD spent in the last hour, against the same hour seven days earlier." + NEEDS_7D,
                [
                    prom(f"sum(increase({spend}[1h]))", "last hour"),
                    prom(f"sum(increase({spend}[1h] offset 7d))", "same hour last week"),
                ],
                unit=USD,
                w=12,
            )
        )
        .with_panel(
            ts(
                "Spend z-score against the 7-day baseline",
                "How many standard deviations the last hour's spend sits above the trailing 7-day hourly mean "
                "(team_task_type:llm_cost_usd:rate1h:zscore); the spend-anomaly alert fires above 3 for 30 minutes "
                "when the hour's spend exceeds 5 USD." + NEEDS_7D + NEEDS_RULES,
                [prom(f"team_task_type:llm_cost_usd:rate1h:zscore{{{TASK}}}", "{{team}}/{{task_type}}")],
                w=12,
            )
        )
        .with_panel(
            ts(
                "Budget burn rate, 1h and 6h windows (recorded)",
                "The recorded burn rates the budget alerts read: 1h (fast burn pages above 14.4) and 6h (slow burn "
                "warns above 6)." + NEEDS_RULES,
                [
                    prom(f"team_task_type:llm_budget_burn:ratio_rate1h{{{TASK}}}", "1h {{team}}/{{task_type}}"),
                    prom(f"team_task_type:llm_budget_burn:ratio_rate6h{{{TASK}}}", "6h {{team}}/{{task_type}}"),
                ],
                w=12,
            )
        )
        .with_row(dashboard.Row("Prompts and caching"))
        .with_panel(
            ts(
                "Cost per call by prompt template and version",
                "Mean USD per call for each prompt template version (llm_otel.prompt()). A new version that "
                "costs more shows as a step.",
                [
                    prom(
                        f"""sum by (template, version) (rate(llm_prompt_cost_usd_total{{{MODEL}}}[$__rate_interval]))
                        / sum by (template, version) (rate(llm_prompt_calls_total{{{MODEL}}}[$__rate_interval]))""",
                        "{{template}} v{{version}}",
                    )
                ],
                unit=USD,
                w=12,
            )
        )
        .with_panel(
            ts(
                "Cache-hit rate by team and task type",
                "Share of input tokens served from the prompt cache.",
                [
                    prom(
                        f"""sum by (team, task_type) (rate(llm_tokens_total{{{CALL}, token_type="cache_read"}}[{RI}]))
                        / sum by (team, task_type) (rate(llm_tokens_total{{{CALL}, {INPUT_TYPES}}}[{RI}]))""",
                        "{{team}}/{{task_type}}",
                    )
                ],
                unit="percentunit",
                w=12,
            )
        )
        .with_panel(
            ts(
                "Cache savings rate",
                "USD per hour that prompt-cache reads saved, by team.",
                [
                    prom(
                        f"sum by (team) (rate(llm_cache_savings_usd_total{{{CALL}}}[$__rate_interval])) * 3600",
                        "{{team}}",
                    )
                ],
                unit=USD,
                w=12,
                stack=True,
            )
        )
        .with_panel(
            ts(
                "Unattributed and unpriced share",
                "Unattributed: share of spend outside any task. Unpriced: share of calls with no price.",
                [
                    prom(
                        f"""(sum(rate(llm_cost_usd_total{{{MODEL}, team="unattributed"}}[$__rate_interval]))
                        or vector(0))
                        / sum(rate(llm_cost_usd_total{{{MODEL}}}[$__rate_interval]))""",
                        "unattributed spend",
                    ),
                    prom(
                        f"""(sum(rate(llm_unpriced_calls_total{{{MODEL}}}[$__rate_interval])) or vector(0))
                        / sum(rate(llm_calls_total{{{MODEL}}}[$__rate_interval]))""",
                        "unpriced calls",
                    ),
                ],
                unit="percentunit",
                w=12,
            )
        )
    )
