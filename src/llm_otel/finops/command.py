"""Arguments of ``llm-otel report`` (and, as they land, ``export focus``)."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime, timezone
from decimal import Decimal


def _when(text: str) -> datetime:
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date or time (use YYYY-MM-DD or ISO 8601)") from None
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


def add_report_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--ledger", required=True, help="ledger URL: sqlite:///PATH or postgresql://...")
    parser.add_argument("--since", type=_when, help="start (inclusive, UTC); default: start of this month")
    parser.add_argument("--until", type=_when, help="end (exclusive, UTC); default: now")
    parser.add_argument("--by", default="team,task_type",
                        help="comma-separated grouping: team, task_type, model, agent, provider")
    parser.add_argument("--format", choices=("table", "csv", "json", "html"), default="table")
    parser.add_argument("--config", help="the processor's YAML config, for its monthly budgets")
    parser.add_argument("--out", help="write to this file instead of standard output")


def run_report(args: argparse.Namespace) -> int:
    from llm_otel.finops.report import BudgetLine, build_report

    budgets: list[BudgetLine] = []
    if args.config:
        from llm_otel.processor.config import load_config

        budgets = [BudgetLine(b.team, b.task_type, Decimal(str(b.usd))) for b in load_config(args.config).budgets]
    by = [d.strip() for d in args.by.split(",") if d.strip()]
    try:
        report = build_report(args.ledger, since=args.since, until=args.until, by=by, budgets=budgets)
    except ValueError as exc:
        print(f"llm-otel report: {exc}", file=sys.stderr)
        return 2
    if args.format == "json":
        text = json.dumps(report, indent=2) + "\n"
    elif args.format == "csv":
        from llm_otel.finops.render import render_csv

        text = render_csv(report)
    elif args.format == "html":
        from llm_otel.finops.html import render_html

        text = render_html(report)
    else:
        from llm_otel.finops.render import render_table

        text = render_table(report)
    if args.out:
        with open(args.out, "w", encoding="utf-8") as fh:
            fh.write(text)
    else:
        sys.stdout.write(text)
    return 0


def add_export_arguments(parser: argparse.ArgumentParser) -> None:
    kinds = parser.add_subparsers(dest="kind", required=True)
    focus = kinds.add_parser("focus", help="FOCUS 1.3 cost-and-usage rows (CSV or Parquet)")
    focus.add_argument("--ledger", required=True, help="ledger URL: sqlite:///PATH or postgresql://...")
    focus.add_argument("--since", type=_when, help="start (inclusive, UTC); default: start of this month")
    focus.add_argument("--until", type=_when, help="end (exclusive, UTC); default: now")
    focus.add_argument("--granularity", choices=("day", "hour"), default="day")
    focus.add_argument("--format", choices=("csv", "parquet"), default="csv")
    focus.add_argument("--billing-account", help="BillingAccountId to write (default: llm-otel:<provider>)")
    focus.add_argument("--out", required=True, help="file to write")
    focus.set_defaults(handler=run_export_focus)


def run_export_focus(args: argparse.Namespace) -> int:
    from llm_otel.finops.focus import build_rows, write_csv, write_parquet
    from llm_otel.processor.ledger import open_ledger

    now = datetime.now(timezone.utc)
    until = args.until or now
    since = args.since or until.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    with open_ledger(args.ledger) as ledger:
        export = build_rows(ledger.iter_calls(since, until), granularity=args.granularity,
                            billing_account=args.billing_account)
    try:
        (write_parquet if args.format == "parquet" else write_csv)(export.rows, args.out)
    except RuntimeError as exc:
        print(f"llm-otel export focus: {exc}", file=sys.stderr)
        return 2
    print(f"{len(export.rows)} FOCUS rows from {export.calls} calls written to {args.out}", file=sys.stderr)
    if export.unpriced_calls:
        print(f"warning: {export.unpriced_calls} unpriced calls ({export.unpriced_tokens} tokens) have no unit "
              "price and are not in the export; see `llm-otel report`", file=sys.stderr)
    return 0
