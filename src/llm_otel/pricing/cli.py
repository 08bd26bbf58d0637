"""``llm-otel price``: price one call from the command line, or refresh the price data (opt-in).

Arguments are declared here and registered by ``llm_otel.cli``; heavy imports wait until
the command runs so ``llm-otel --help`` stays fast.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any

UTC = timezone.utc

TOKEN_ARGS = (
    ("input_tokens", "--input-tokens", "input tokens, INCLUSIVE of cache reads and writes"),
    ("output_tokens", "--output-tokens", "output tokens, reasoning included"),
    ("cache_read_tokens", "--cache-read-tokens", "cache read tokens"),
    ("cache_write_tokens", "--cache-write-tokens", "cache write tokens, all TTLs"),
    ("cache_write_5m_tokens", "--cache-write-5m-tokens", "cache writes with a 5-minute TTL"),
    ("cache_write_1h_tokens", "--cache-write-1h-tokens", "cache writes with a 1-hour TTL"),
    ("cache_write_30m_tokens", "--cache-write-30m-tokens", "cache writes with a 30-minute TTL"),
    ("cache_write_12h_tokens", "--cache-write-12h-tokens", "cache writes with a 12-hour TTL"),
    ("reasoning_tokens", "--reasoning-tokens", "reasoning tokens (already part of output)"),
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare the ``price`` subcommand's arguments."""
    parser.add_argument("--provider", help="gen_ai.provider.name: openai, anthropic, azure.ai.openai, aws.bedrock, ...")
    parser.add_argument("--model", help="model (the response's dated snapshot when known)")
    parser.add_argument("--request-model", help="alias the request asked for; used if --model is unknown")
    for dest, flag, text in TOKEN_ARGS:
        parser.add_argument(flag, dest=dest, type=int, default=None, metavar="N", help=text)
    parser.add_argument("--at", help="call start, YYYY-MM-DD or ISO datetime (UTC when no offset); default now")
    parser.add_argument("--service-tier", help="tier the response reports: default, flex, priority, batch, fast")
    parser.add_argument("--processing", help="processing mode: batch, fast")
    parser.add_argument("--region", help="region / data residency (matched by price book rules)")
    parser.add_argument("--pricebook", metavar="FILE", help="price book YAML (contracts, custom models, ...)")
    parser.add_argument("--prices-file", metavar="FILE", help="genai-prices data file written by --refresh")
    parser.add_argument("--format", choices=("table", "json"), default="table")
    parser.add_argument(
        "--refresh",
        action="store_true",
        help="download newer price data from --prices-url (or the price book's data.url) into --prices-file",
    )
    parser.add_argument("--prices-url", metavar="URL", help="mirror of genai-prices' data.json, for --refresh")


def run(args: argparse.Namespace) -> int:
    """Run ``llm-otel price``. Exit codes: 0 priced, 1 unpriced, 2 bad arguments or price book."""
    from llm_otel.pricing.book import PriceBook, PriceBookError, load_pricebook
    from llm_otel.pricing.data import DEFAULT_REFRESH_PATH, PriceData, PriceDataError, bundled, refresh
    from llm_otel.pricing.engine import Pricer
    from llm_otel.pricing.usage import Usage

    try:
        book: PriceBook | None = load_pricebook(args.pricebook) if args.pricebook else None
        if args.refresh:
            url = args.prices_url or (book.data_url if book else None)
            if not url:
                return _fail("--refresh needs --prices-url URL (or data.url in the price book)")
            fetched = refresh(url, args.prices_file or (book and book.data_file) or DEFAULT_REFRESH_PATH)
            print(f"price data {fetched.version} written to {fetched.source}")
            return 0
        if not args.provider or not args.model:
            return _fail("--provider and --model are required (see llm-otel price --help)")
        prices_file = args.prices_file or (book.data_file if book else None)
        data: PriceData = PriceData.from_file(prices_file) if prices_file else bundled()
        at = _parse_at(args.at)
    except (PriceBookError, PriceDataError, ValueError) as exc:
        return _fail(str(exc))
    usage = Usage(**{dest: getattr(args, dest) for dest, _, _ in TOKEN_ARGS})
    cost = Pricer(data, book).price(
        usage,
        provider=args.provider,
        model=args.model,
        at=at,
        service_tier=args.service_tier,
        processing=args.processing,
        region=args.region,
        request_model=args.request_model,
    )
    doc = cost_document(cost)
    if args.format == "json":
        print(json.dumps(doc, indent=2))
    else:
        print(render_table(doc))
    return 0 if cost.priced else 1


def _fail(message: str) -> int:
    print(f"llm-otel price: {message}", file=sys.stderr)
    return 2


def _parse_at(text: str | None) -> datetime:
    if not text:
        return datetime.now(UTC)
    try:
        dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"--at {text!r}: use YYYY-MM-DD or an ISO datetime such as 2026-05-01T12:00:00Z") from None
    return dt if dt.tzinfo is not None else dt.replace(tzinfo=UTC)


def usd(value: Decimal) -> str:
    """A Decimal as a plain decimal string (no exponent, no trailing zeros)."""
    text = format(value.normalize(), "f")
    return "0" if text in ("-0", "") else text


def cost_document(cost: Any) -> dict[str, Any]:
    """A Cost as JSON-ready data: every amount a string decimal, one row per bucket."""
    return {
        "provider": cost.provider,
        "model": cost.model,
        "source": cost.source,
        "total_usd": usd(cost.total),
        "list_total_usd": usd(cost.list_total),
        "cache_savings_usd": usd(cost.cache_savings),
        "cache_write_premium_usd": usd(getattr(cost, "cache_write_premium", Decimal(0))),
        "data_version": cost.data_version,
        "unpriced_reason": cost.unpriced_reason,
        "flags": list(cost.flags),
        "estimated": cost.estimated,
        "buckets": [
            {
                "bucket": b.bucket,
                "tokens": b.quantity,
                "unit_price_per_mtok": usd(b.unit_price_per_mtok),
                "amount_usd": usd(b.amount),
                "list_unit_price_per_mtok": usd(b.list_unit_price_per_mtok),
                "list_amount_usd": usd(b.list_amount),
                "model": b.model,
                "context_tier": b.context_tier,
            }
            for b in cost.buckets
        ],
    }


def render_table(doc: dict[str, Any]) -> str:
    """The breakdown as an aligned text table."""
    lines = [f"{doc['provider']} / {doc['model']}   source: {doc['source']}   data: {doc['data_version']}"]
    if doc["unpriced_reason"]:
        lines.append(f"UNPRICED: {doc['unpriced_reason']}")
    header = ("bucket", "tokens", "$/MTok", "USD", "list $/MTok", "list USD", "note")
    rows = [header]
    for b in doc["buckets"]:
        note = " ".join(x for x in (b["model"], b["context_tier"]) if x)
        rows.append(
            (
                b["bucket"],
                str(b["tokens"]),
                b["unit_price_per_mtok"],
                b["amount_usd"],
                b["list_unit_price_per_mtok"],
                b["list_amount_usd"],
                note,
            )
        )
    rows.append(("total", "", "", doc["total_usd"], "", doc["list_total_usd"], ""))
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    for r in rows:
        lines.append(
            "  ".join(c.ljust(w) if i in (0, 6) else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths, strict=True)))
        )
    lines.append(f"cache savings: {doc['cache_savings_usd']}   cache write premium: {doc['cache_write_premium_usd']}")
    if doc["flags"]:
        lines.append("flags: " + ", ".join(doc["flags"]))
    return "\n".join(lines)
