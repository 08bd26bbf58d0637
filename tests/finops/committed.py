"""A week of ledger data with two commitments whose fee, idle cost and team shares are known by hand.

``pt-haiku``: 2.5 USD/h, 100 tokens/min (6,000 tokens an hour), in force Oct 1-2 (48 h).
  Oct 1 09h secops 2 x 3,000 tokens (exactly the hour's capacity), Oct 1 10h support 1,500
  (a quarter), Oct 2 11h secops 9,000 (capped at 6,000). Utilization 13,500 / 288,000;
  idle 45.75 h = 114.375 USD; used fee 5.625 = secops 5.0 + support 0.625.
``reserved-mini``: 1 USD/h, no stated capacity, marginal price half of list, from Oct 1 (168 h in
  the week). Oct 1 09h secops and support one equal call each (0.5 h each), Oct 3 14h support.
  Idle 166 h = 166 USD; used fee 2 = secops 0.5 + support 1.5.
Plus list-priced calls that no commitment covers.
"""

from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path

from llm_otel.pricing import Usage, price
from llm_otel.pricing.book import PriceBook, parse_pricebook
from llm_otel.processor.ledger import PricedCall, open_ledger
from llm_otel.processor.record import CallRecord

SINCE = datetime(2026, 10, 1, tzinfo=timezone.utc)
UNTIL = datetime(2026, 10, 8, tzinfo=timezone.utc)
BOOK = """
version: 1
committed:
  - name: pt-haiku
    match: {provider: anthropic, model: "claude-haiku-4-5*", service_tier: provisioned}
    start: 2026-10-01
    end: 2026-10-02
    fee_per_hour: 2.5
    capacity_tokens_per_minute: 100
  - name: reserved-mini
    match: {provider: openai, model: "gpt-4o-mini*", service_tier: reserved}
    start: 2026-10-01
    fee_per_hour: 1
    marginal_multiplier: 0.5
"""
CALLS = (  # (time, team, provider, model, tier, input, output)
    ("2026-10-01T09:10:00", "secops", "anthropic", "claude-haiku-4-5", "provisioned", 2000, 1000),
    ("2026-10-01T09:50:00", "secops", "anthropic", "claude-haiku-4-5", "provisioned", 2000, 1000),
    ("2026-10-01T10:05:00", "support", "anthropic", "claude-haiku-4-5", "provisioned", 1000, 500),
    ("2026-10-02T11:30:00", "secops", "anthropic", "claude-haiku-4-5", "provisioned", 6000, 3000),
    ("2026-10-01T09:20:00", "secops", "openai", "gpt-4o-mini", "reserved", 10000, 1000),
    ("2026-10-01T09:40:00", "support", "openai", "gpt-4o-mini", "reserved", 10000, 1000),
    ("2026-10-03T14:00:00", "support", "openai", "gpt-4o-mini", "reserved", 5000, 500),
    ("2026-10-01T12:00:00", "secops", "openai", "gpt-4o-mini", None, 3000, 300),
    ("2026-10-04T12:00:00", "support", "anthropic", "claude-haiku-4-5", None, 3000, 300),
)


def book() -> PriceBook:
    return parse_pricebook(BOOK, "committed-test.yaml")


def write_week(path: Path) -> tuple[str, Decimal]:
    """Writes CALLS through the real ledger API; returns the URL and the ledger's total (marginal) cost."""
    url = f"sqlite:///{path}"
    pb = book()
    total = Decimal(0)
    with open_ledger(url) as ledger:
        for n, (when, team, provider, model, tier, inp, out) in enumerate(CALLS, 1):
            at = datetime.fromisoformat(when).replace(tzinfo=timezone.utc)
            usage = Usage(input_tokens=inp, output_tokens=out)
            cost = price(usage, provider=provider, model=model, at=at, service_tier=tier, book=pb)
            assert cost.priced, cost.unpriced_reason
            ns = int(at.timestamp()) * 10**9
            rec = CallRecord(
                trace_id=f"{n:032x}", span_id=f"{n:016x}", start_ns=ns, end_ns=ns + 10**9, provider=provider,
                operation="chat", request_model=model, response_model=model, response_id=f"c-{n}", usage=usage,
                dialect="llm_otel", service_tier=tier, team=team, task_id=f"{team}-{n}", task_type="work",
            )
            ledger.record_calls([PricedCall(rec, cost)])
            total += cost.total
    return url, total
