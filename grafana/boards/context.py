"""Agent context economics: context size, cache share, tool schemas, re-sent context, retries."""

from __future__ import annotations

from grafana_foundation_sdk.builders import dashboard

from .kit import CALL, INPUT_TYPES, RI, TASK, board, prom, quantiles, ts


def context_economics() -> dashboard.Dashboard:
    return (
        board(
            "llm-otel-context-economics",
            "llm-otel / Agent context economics",
            "Why agent calls cost what they cost: context size per call, how much of it the cache serves, "
            "tool schemas re-sent with every call, context re-sent turn after turn, and retries.",
            ["agents"],
        )
        .with_panel(
            ts(
                "Input tokens per call p50 / p95 / p99",
                "Input tokens of one call (inclusive of cache reads and writes), by task type. Multi-turn agents "
                "re-send their whole context every turn, so the upper quantiles grow with turns.",
                quantiles("llm_call_input_tokens", "task_type", CALL),
                w=12,
            )
        )
        .with_panel(
            ts(
                "Mean input tokens per call",
                "Input tokens (uncached + cache reads + cache writes) per call, by model.",
                [
                    prom(
                        f"""sum by (provider, model) (rate(llm_tokens_total{{{CALL}, {INPUT_TYPES}}}[$__rate_interval]))
                        / sum by (provider, model) (rate(llm_calls_total{{{CALL}}}[$__rate_interval]))""",
                        "{{provider}}/{{model}}",
                    )
                ],
                w=12,
            )
        )
        .with_panel(
            ts(
                "Cached share of input",
                "Share of input tokens served from the prompt cache, by model.",
                [
                    prom(
                        f"""sum by (provider, model) (rate(llm_tokens_total{{{CALL}, token_type="cache_read"}}[{RI}]))
                        / sum by (provider, model) (rate(llm_tokens_total{{{CALL}, {INPUT_TYPES}}}[{RI}]))""",
                        "{{provider}}/{{model}}",
                    )
                ],
                unit="percentunit",
                w=12,
            )
        )
        .with_panel(
            ts(
                "Cached share of input per call p50",
                "Median over calls of each call's cache reads / input tokens, by task type.",
                [
                    prom(
                        f"""histogram_quantile(0.5, sum by (le, task_type)
                        (rate(llm_call_cached_input_ratio_bucket{{{CALL}}}[$__rate_interval])))""",
                        "p50 {{task_type}}",
                    )
                ],
                unit="percentunit",
                w=12,
            )
        )
        .with_panel(
            ts(
                "Tool-schema bytes per call p50 / p95",
                "Serialized size of the tool definitions sent with each call (llm_otel.request.tools.bytes): they "
                "ride on every request.",
                quantiles("llm_call_tool_schema_bytes", "task_type", CALL)[:2],
                unit="bytes",
                w=12,
            )
        )
        .with_panel(
            ts(
                "Share of input spent on tool definitions",
                "Tool-schema tokens (bytes / 4, the usual ratio for JSON schemas) over input tokens, by task type.",
                [
                    prom(
                        f"""(sum by (task_type) (rate(llm_call_tool_schema_bytes_sum{{{CALL}}}[$__rate_interval])) / 4)
                        / sum by (task_type) (rate(llm_call_input_tokens_sum{{{CALL}}}[$__rate_interval]))""",
                        "{{task_type}}",
                    )
                ],
                unit="percentunit",
                w=12,
            )
        )
        .with_panel(
            ts(
                "Retries per task p50 / p95",
                "Calls per finalized task that repeated an earlier call after an error, by task type.",
                quantiles("llm_task_retries", "task_type", TASK)[:2],
                w=8,
            )
        )
        .with_panel(
            ts(
                "Mean retries per task",
                "Retried calls per finalized task, by task type.",
                [
                    prom(
                        f"""sum by (task_type) (rate(llm_task_retries_sum{{{TASK}}}[$__rate_interval]))
                        / sum by (task_type) (rate(llm_task_retries_count{{{TASK}}}[$__rate_interval]))""",
                        "{{task_type}}",
                    )
                ],
                w=8,
            )
        )
        .with_panel(
            ts(
                "Context re-sent per task",
                "Input tokens re-sent as context (each call's input minus what it added), per finalized task.",
                [
                    prom(
                        f"""sum by (task_type) (rate(llm_task_resent_input_tokens_total{{{TASK}}}[$__rate_interval]))
                        / sum by (task_type) (rate(llm_task_cost_usd_count{{{TASK}}}[$__rate_interval]))""",
                        "{{task_type}}",
                    )
                ],
                w=8,
            )
        )
        .with_panel(
            ts(
                "Tokens by type",
                "Tokens per second by token type: uncached input, cache reads, cache writes, output.",
                [prom(f"sum by (token_type) (rate(llm_tokens_total{{{CALL}}}[$__rate_interval]))", "{{token_type}}")],
                w=12,
                stack=True,
            )
        )
        .with_panel(
            ts(
                "Output per input token",
                "Output tokens per input token, by model: agents that mostly read show small values.",
                [
                    prom(
                        f"""sum by (provider, model) (rate(llm_tokens_total{{{CALL}, token_type="output"}}[{RI}]))
                        / sum by (provider, model) (rate(llm_tokens_total{{{CALL}, {INPUT_TYPES}}}[{RI}]))""",
                        "{{provider}}/{{model}}",
                    )
                ],
                w=12,
            )
        )
    )
