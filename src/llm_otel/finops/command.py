"""Arguments of ``llm-otel report`` (and, as they land, ``export focus``)."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime, timezone
from decimal import Decimal
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from llm_otel.pricing.book import PriceBook


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
    parser.add_argument("--pricebook", help="price book whose committed capacity to report (default: the config's)")
    parser.add_argument("--out", help="write to this file instead of standard output")


def _pricebook(path: str | None, config: str | None = None) -> PriceBook | None:
    """The price book from --pricebook, else the one the processor config names, else None."""
    if path is None and config:
        from llm_otel.processor.config import load_config

        path = load_config(config).pricebook
    if path is None:
        return None
    from llm_otel.pricing.book import load_pricebook

    return load_pricebook(path)


def run_report(args: argparse.Namespace) -> int:
    from llm_otel.finops.report import BudgetLine, build_report

    budgets: list[BudgetLine] = []
    if args.config:
        from llm_otel.processor.config import load_config

        budgets = [BudgetLine(b.team, b.task_type, Decimal(str(b.usd))) for b in load_config(args.config).budgets]
    by = [d.strip() for d in args.by.split(",") if d.strip()]
    try:
        book = _pricebook(getattr(args, "pricebook", None), args.config)
        report = build_report(args.ledger, since=args.since, until=args.until, by=by, budgets=budgets, pricebook=book)
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
    focus.add_argument("--pricebook", help="price book whose committed capacity becomes commitment rows")
    focus.add_argument("--out", required=True, help="file to write")
    focus.set_defaults(handler=run_export_focus)


def run_export_focus(args: argparse.Namespace) -> int:
    from llm_otel.finops.focus import build_rows, write_csv, write_parquet
    from llm_otel.processor.ledger import open_ledger

    now = datetime.now(timezone.utc)
    until = args.until or now
    since = args.since or until.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    try:
        book = _pricebook(getattr(args, "pricebook", None))
    except ValueError as exc:
        print(f"llm-otel export focus: {exc}", file=sys.stderr)
        return 2
    with open_ledger(args.ledger) as ledger:
        export = build_rows(ledger.iter_calls(since, until), granularity=args.granularity,
                            billing_account=args.billing_account, committed=book.committed if book else (),
                            since=since, until=until)
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


def _workspace(text: str) -> tuple[str, str]:
    workspace, sep, team = text.partition("=")
    if not sep or not workspace or not team:
        raise argparse.ArgumentTypeError(f"{text!r}: use WORKSPACE_OR_PROJECT_ID=TEAM")
    return workspace, team


def add_reconcile_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--ledger", required=True, help="ledger URL: sqlite:///PATH or postgresql://...")
    parser.add_argument("--since", type=_when, help="start (inclusive, UTC); default: start of this month")
    parser.add_argument("--until", type=_when, help="end (exclusive, UTC); default: now")
    parser.add_argument("--openai", action="store_true",
                        help="read OpenAI's organization cost and usage APIs (admin key in $OPENAI_ADMIN_KEY)")
    parser.add_argument("--openai-base-url", help="OpenAI API base URL (default: the client's)")
    parser.add_argument("--anthropic", action="store_true",
                        help="read Anthropic's organization cost and usage APIs (admin key in $ANTHROPIC_ADMIN_KEY)")
    parser.add_argument("--anthropic-base-url", help="Anthropic API base URL (default: the client's)")
    parser.add_argument("--openai-csv", action="append", default=[], help="an OpenAI cost export (CSV)")
    parser.add_argument("--anthropic-csv", action="append", default=[], help="an Anthropic cost export (CSV)")
    parser.add_argument("--workspace", action="append", type=_workspace, default=[], metavar="ID=TEAM",
                        help="map a workspace / project id to a ledger team (repeat); compares per workspace")
    parser.add_argument("--tolerance", type=float, default=0.02, help="drift ratio marked as a mismatch (0.02)")
    parser.add_argument("--format", choices=("table", "json"), default="table")
    parser.add_argument("--out", help="write to this file instead of standard output")


def run_reconcile(args: argparse.Namespace) -> int:
    """Exit 0 when every row is within tolerance, 1 when some drift beyond it, 2 on bad input."""
    import os

    from llm_otel.finops import bill_sources
    from llm_otel.finops.reconcile import BillLine, reconcile, render_table, to_json
    from llm_otel.processor.ledger import open_ledger

    now = datetime.now(timezone.utc)
    until = args.until or now
    since = args.since or until.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    bill: list[BillLine] = []
    sources: list[str] = []
    try:
        if args.openai:
            import openai

            key = os.environ.get("OPENAI_ADMIN_KEY")
            if not key:
                raise ValueError("--openai needs an admin key in $OPENAI_ADMIN_KEY")
            client = openai.OpenAI(api_key=key, admin_api_key=key, base_url=args.openai_base_url, max_retries=2)
            bill += bill_sources.openai_costs(client, since, until)
            bill += bill_sources.openai_usage(client, since, until)
            sources += ["openai:organization/costs", "openai:organization/usage/completions"]
        if args.anthropic:
            import anthropic

            key = os.environ.get("ANTHROPIC_ADMIN_KEY")
            if not key:
                raise ValueError("--anthropic needs an admin key in $ANTHROPIC_ADMIN_KEY")
            aclient = anthropic.Anthropic(api_key=key, base_url=args.anthropic_base_url, max_retries=2)
            bill += bill_sources.anthropic_costs(aclient, since, until)
            bill += bill_sources.anthropic_usage(aclient, since, until)
            sources += ["anthropic:organizations/analytics/cost", "anthropic:organizations/analytics/usage"]
        for path in args.openai_csv:
            bill += bill_sources.read_cost_csv(path, "openai")
            sources.append(f"openai:{path}")
        for path in args.anthropic_csv:
            bill += bill_sources.read_cost_csv(path, "anthropic")
            sources.append(f"anthropic:{path}")
    except Exception as exc:  # bad CSV, missing key, or the provider's API error: say which, exit 2
        print(f"llm-otel reconcile: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 2
    if not sources:
        print("llm-otel reconcile: give a bill: --openai, --anthropic, --openai-csv or --anthropic-csv",
              file=sys.stderr)
        return 2
    with open_ledger(args.ledger) as ledger:
        rec = reconcile(bill, ledger.iter_calls(since, until), since=since, until=until, sources=sources,
                        workspace_map=dict(args.workspace), tolerance=args.tolerance)
    text = json.dumps(to_json(rec), indent=2) + "\n" if args.format == "json" else render_table(rec)
    if args.out:
        with open(args.out, "w", encoding="utf-8") as fh:
            fh.write(text)
    else:
        sys.stdout.write(text)
    return 1 if any(rec.over_tolerance(r) for r in rec.rows) else 0
