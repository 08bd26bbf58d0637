"""Worked examples: our price equals genai_prices.calc_price to the last decimal, and the hand arithmetic."""

from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal

import genai_prices
import pytest
from pricing_helpers import AT, usd

from llm_otel.pricing import Usage, price

UTC = timezone.utc

D = datetime

# (id, provider, model, at, usage kwargs, our service_tier/processing, genai-prices price_context, expected USD)
CASES = [
    (
        "openai gpt-4o cache read",
        "openai",
        "gpt-4o-2024-08-06",
        AT,
        dict(input_tokens=3000, output_tokens=500, cache_read_tokens=1024),
        {},
        None,
        usd((1976, "2.5"), (1024, "1.25"), (500, "10")),
    ),
    (
        "openai gpt-5 flex",
        "openai",
        "gpt-5",
        AT,
        dict(input_tokens=10_000, output_tokens=3000, cache_read_tokens=2000, reasoning_tokens=2500),
        {"service_tier": "flex"},
        {"service_tier": "flex"},
        usd((8000, "0.625"), (2000, "0.0625"), (3000, "5")),
    ),
    (
        "openai gpt-5 priority",
        "openai",
        "gpt-5",
        AT,
        dict(input_tokens=10_000, output_tokens=3000, cache_read_tokens=2000),
        {"service_tier": "priority"},
        {"service_tier": "priority"},
        usd((8000, "2.5"), (2000, "0.25"), (3000, "20")),
    ),
    (
        "openai gpt-4.1 batch",
        "openai",
        "gpt-4.1",
        AT,
        dict(input_tokens=40_000, output_tokens=1000),
        {"processing": "batch"},
        {"processing": "batch"},
        None,
    ),
    (
        "openai o3 before its 2025-06-10 price cut",
        "openai",
        "o3",
        D(2025, 6, 9, 23, 59, tzinfo=UTC),
        dict(input_tokens=1000, output_tokens=1000),
        {},
        None,
        usd((1000, "10"), (1000, "40")),
    ),
    (
        "openai o3 after its 2025-06-10 price cut",
        "openai",
        "o3",
        D(2025, 6, 10, 0, 0, tzinfo=UTC),
        dict(input_tokens=1000, output_tokens=1000),
        {},
        None,
        usd((1000, "2"), (1000, "8")),
    ),
    (
        "openai gpt-5.4 above the 272k cliff",
        "openai",
        "gpt-5.4",
        AT,
        dict(input_tokens=300_000, output_tokens=2000, cache_read_tokens=100_000),
        {},
        None,
        None,
    ),
    (
        "anthropic sonnet-4.5 cache read + 5m + 1h writes",
        "anthropic",
        "claude-sonnet-4-5-20250929",
        AT,
        dict(
            input_tokens=10_000,
            output_tokens=2000,
            cache_read_tokens=3000,
            cache_write_tokens=1000,
            cache_write_5m_tokens=600,
            cache_write_1h_tokens=400,
        ),
        {},
        None,
        usd((6000, "3"), (3000, "0.3"), (600, "3.75"), (400, "6"), (2000, "15")),
    ),
    (
        "anthropic sonnet-4.5 long context",
        "anthropic",
        "claude-sonnet-4-5-20250929",
        AT,
        dict(input_tokens=250_000, output_tokens=2000, cache_read_tokens=100_000, cache_write_tokens=5000),
        {},
        None,
        usd((145_000, "6"), (100_000, "0.6"), (5000, "7.5"), (2000, "22.5")),
    ),
    (
        "anthropic sonnet-4.6 long context before its 2026-03-13 change",
        "anthropic",
        "claude-sonnet-4-6",
        D(2026, 3, 12, tzinfo=UTC),
        dict(input_tokens=250_000, output_tokens=1000),
        {},
        None,
        usd((250_000, "6"), (1000, "22.5")),
    ),
    (
        "anthropic sonnet-4.6 long context after its 2026-03-13 change",
        "anthropic",
        "claude-sonnet-4-6",
        D(2026, 3, 13, tzinfo=UTC),
        dict(input_tokens=250_000, output_tokens=1000),
        {},
        None,
        usd((250_000, "3"), (1000, "15")),
    ),
    (
        "anthropic opus-4.5 batch stacks with cache prices",
        "anthropic",
        "claude-opus-4-5-20251101",
        AT,
        dict(
            input_tokens=20_000,
            output_tokens=1000,
            cache_read_tokens=15_000,
            cache_write_tokens=2000,
            cache_write_1h_tokens=2000,
        ),
        {"processing": "batch"},
        {"processing": "batch"},
        usd((3000, "2.5"), (15_000, "0.25"), (2000, "5"), (1000, "12.5")),
    ),
    (
        "anthropic opus-4.8 fast mode",
        "anthropic",
        "claude-opus-4-8",
        AT,
        dict(input_tokens=5000, output_tokens=500),
        {"service_tier": "fast"},
        {"speed": "fast"},
        usd((5000, "10"), (500, "50")),
    ),
    (
        "anthropic haiku-4.5",
        "anthropic",
        "claude-haiku-4-5-20251001",
        AT,
        dict(input_tokens=1234, output_tokens=567, cache_read_tokens=200),
        {},
        None,
        usd((1034, "1"), (200, "0.1"), (567, "5")),
    ),
]


@pytest.mark.parametrize(
    ("provider", "model", "at", "counts", "ctx", "gp_ctx", "expected"),
    [c[1:] for c in CASES],
    ids=[c[0] for c in CASES],
)
def test_total_equals_calc_price_to_the_last_decimal(provider, model, at, counts, ctx, gp_ctx, expected):
    ours = price(Usage(**counts), provider=provider, model=model, at=at, **ctx)
    gp_counts = {k: v for k, v in counts.items() if k != "reasoning_tokens"}
    theirs = genai_prices.calc_price(
        genai_prices.Usage(**gp_counts), model, provider_id=provider, genai_request_timestamp=at, price_context=gp_ctx
    )
    assert ours.source == "list"
    assert ours.total == theirs.total_price
    assert str(ours.total.normalize()) == str(theirs.total_price.normalize())
    assert sum(b.amount for b in ours.buckets) == ours.total
    if expected is not None:
        assert ours.total == expected


def test_every_cost_names_the_price_data_version():
    cost = price(Usage(input_tokens=1, output_tokens=1), provider="openai", model="gpt-4o", at=AT)
    assert cost.data_version == f"genai-prices-{genai_prices.__version__}"


def test_amounts_are_exact_decimals_not_floats():
    cost = price(Usage(input_tokens=3, output_tokens=7), provider="openai", model="gpt-4o", at=AT)
    assert cost.total == Decimal("0.0000775")
    assert all(isinstance(b.amount, Decimal) for b in cost.buckets)
