"""Processor health: the llm-otel collector's own metrics."""

from __future__ import annotations

from grafana_foundation_sdk.builders import dashboard

from .kit import MODEL, RI, board, prom, single, ts


def processor_health() -> dashboard.Dashboard:
    req = "llm_otel_processor_request_duration_seconds"
    ledger = "llm_otel_processor_ledger_write_duration_seconds"
    return (
        board(
            "llm-otel-processor-health",
            "llm-otel / Processor health",
            "The llm-otel collector itself: spans in, rejected, duplicate, late and unpriced; request and ledger "
            "latency; backlog. The team/task/provider/model filters apply to the unpriced panel only.",
            ["operations"],
        )
        .with_panel(
            single(
                "Replicas up",
                "Processor replicas Prometheus scrapes successfully (job llm-otel).",
                [prom('sum(up{job="llm-otel"})', instant=True)],
            )
        )
        .with_panel(
            single(
                "Spans in",
                "Spans per second decoded from Export requests, all replicas.",
                [prom("sum(rate(llm_otel_processor_spans_received_total[$__rate_interval]))", instant=True)],
                unit="reqps",
            )
        )
        .with_panel(
            single(
                "Rejected share",
                "Share of received spans rejected as invalid over the time range.",
                [
                    prom(
                        """(sum(increase(llm_otel_processor_spans_rejected_total[$__range])) or vector(0))
                        / sum(increase(llm_otel_processor_spans_received_total[$__range]))""",
                        instant=True,
                    )
                ],
                unit="percentunit",
            )
        )
        .with_panel(
            single(
                "Queue depth",
                "Spans received and not yet ledgered, all replicas.",
                [prom("sum(llm_otel_processor_queue_depth)", instant=True)],
            )
        )
        .with_panel(
            single(
                "Open tasks",
                "Tasks held in memory awaiting finalization, all replicas.",
                [prom("sum(llm_otel_processor_open_tasks)", instant=True)],
            )
        )
        .with_panel(
            single(
                "Uptime",
                "Time since the youngest replica started.",
                [prom('time() - max(process_start_time_seconds{job="llm-otel"})', instant=True)],
                unit="s",
            )
        )
        .with_panel(
            ts(
                "Spans in by transport",
                "Spans per second decoded from Export requests.",
                [
                    prom(
                        f"sum by (instance, transport) (rate(llm_otel_processor_spans_received_total[{RI}]))",
                        "{{instance}} {{transport}}",
                    )
                ],
                unit="reqps",
                w=8,
                stack=True,
            )
        )
        .with_panel(
            ts(
                "Spans rejected",
                "Spans per second rejected as invalid, by reason (reported to the sender in partial_success).",
                [
                    prom(
                        "sum by (reason) (rate(llm_otel_processor_spans_rejected_total[$__rate_interval]))",
                        "{{reason}}",
                    )
                ],
                unit="reqps",
                w=8,
                stack=True,
            )
        )
        .with_panel(
            ts(
                "Spans duplicate and late",
                "Duplicates: not counted again (same span, or same provider response). Late: arrived after their "
                "task was final (still ledgered).",
                [
                    prom(
                        "sum by (key) (rate(llm_otel_processor_spans_duplicate_total[$__rate_interval]))",
                        "duplicate ({{key}})",
                    ),
                    prom("sum(rate(llm_otel_processor_spans_late_total[$__rate_interval]))", "late"),
                ],
                unit="reqps",
                w=8,
            )
        )
        .with_panel(
            ts(
                "Unpriced calls",
                "Calls per second that could not be priced, by model and reason.",
                [
                    prom(
                        f"sum by (provider, model, reason) (rate(llm_unpriced_calls_total{{{MODEL}}}[{RI}]))",
                        "{{provider}}/{{model}} {{reason}}",
                    )
                ],
                unit="reqps",
                w=8,
                stack=True,
            )
        )
        .with_panel(
            ts(
                "Export requests by outcome",
                "OTLP Export requests per second by outcome (ok, partial, invalid, too_large, unauthenticated, "
                "throttled, error).",
                [prom(f"sum by (outcome) (rate({req}_count[$__rate_interval]))", "{{outcome}}")],
                unit="reqps",
                w=8,
                stack=True,
            )
        )
        .with_panel(
            ts(
                "Label values over the cardinality cap",
                "Label values mapped to 'other' by the processor's cardinality guard, by label.",
                [prom("sum by (label) (rate(llm_otel_processor_label_overflow_total[$__rate_interval]))", "{{label}}")],
                unit="reqps",
                w=8,
            )
        )
        .with_panel(
            ts(
                "Export request latency",
                "Receive to answer, after the ledger write is durable, by transport.",
                [
                    prom(
                        f"histogram_quantile({q}, sum by (le, transport) (rate({req}_bucket[$__rate_interval])))",
                        f"p{round(q * 100)} {{{{transport}}}}",
                    )
                    for q in (0.5, 0.99)
                ],
                unit="s",
                w=12,
            )
        )
        .with_panel(
            ts(
                "Ledger write latency",
                "One ledger transaction (a batch of calls), by backend.",
                [
                    prom(
                        f"histogram_quantile({q}, sum by (le, backend) (rate({ledger}_bucket[$__rate_interval])))",
                        f"p{round(q * 100)} {{{{backend}}}}",
                    )
                    for q in (0.5, 0.99)
                ],
                unit="s",
                w=12,
            )
        )
        .with_panel(
            ts(
                "Backlog",
                "Queue depth (spans not yet ledgered) and open tasks per replica.",
                [
                    prom("sum by (instance) (llm_otel_processor_queue_depth)", "queue {{instance}}"),
                    prom("sum by (instance) (llm_otel_processor_open_tasks)", "open tasks {{instance}}"),
                ],
                w=12,
            )
        )
        .with_panel(
            ts(
                "Resident memory",
                "Resident memory per replica (prometheus-client process collector).",
                [prom('process_resident_memory_bytes{job="llm-otel"}', "{{instance}}")],
                unit="bytes",
                w=12,
            )
        )
    )
