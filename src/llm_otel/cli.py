"""``llm-otel``: parses arguments and hands them to the wings. No logic lives here.

Each subcommand's section is owned by its wing; keep the sections separate.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="llm-otel", description="Govern AI token spend on OpenTelemetry.")
    sub = parser.add_subparsers(dest="command", required=True)

    # --- price (pricing wing) ---------------------------------------------------
    from llm_otel.pricing import cli as pricing_cli

    price = sub.add_parser("price", help="price one call (breakdown per bucket); --refresh fetches newer prices")
    pricing_cli.add_arguments(price)
    price.set_defaults(handler=pricing_cli.run)
    # --- collector (processor wing) ---------------------------------------------
    from llm_otel.processor import command as collector_cli

    collector = sub.add_parser("collector", help="run the processor: OTLP in, priced ledger, cost metrics out")
    collector_cli.add_arguments(collector)
    collector.set_defaults(handler=_run_collector)
    # --- demo -------------------------------------------------------------------
    from llm_otel.demo import command as demo_cli

    demo = sub.add_parser("demo", help="run the whole pipeline on this machine with a simulated agent fleet")
    demo_cli.add_arguments(demo)
    demo.set_defaults(handler=demo_cli.run)
    # --- report / export / reconcile (finops wing) -------------------------------
    from llm_otel.finops import command as finops_cli

    report = sub.add_parser("report", help="showback from the ledger: spend and cost per task by team, task type...")
    finops_cli.add_report_arguments(report)
    report.set_defaults(handler=finops_cli.run_report)
    export = sub.add_parser("export", help="export the ledger for FinOps tools (FOCUS)")
    finops_cli.add_export_arguments(export)
    reconcile = sub.add_parser("reconcile", help="drift between the ledger's estimate and the providers' bills")
    finops_cli.add_reconcile_arguments(reconcile)
    reconcile.set_defaults(handler=finops_cli.run_reconcile)
    return parser


def _run_collector(args: argparse.Namespace) -> int:
    """The processor, with the FinOps wing's commitment gauges plugged into its /metrics."""
    from llm_otel.finops.commitments import processor_plugin
    from llm_otel.processor import command as collector_cli

    return collector_cli.run(args, plugins=[processor_plugin])


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handler = getattr(args, "handler", None)
    if handler is None:
        parser.print_help()
        return 2
    return int(handler(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
