"""Pricing by a span's start in epoch nanoseconds takes a fast path to the day of the rates: it
must price exactly as the same instant given as a datetime, including around midnight."""

from __future__ import annotations

from datetime import datetime, timezone

from llm_otel.pricing import Usage, price

NS_PER_DAY = 86_400 * 10**9
DAY = 20_400  # 2025-11-08


def test_epoch_ns_prices_exactly_like_the_same_instant_as_a_datetime_around_midnight() -> None:
    usage = Usage(input_tokens=12_000, output_tokens=800, cache_read_tokens=9_000)
    for offset in (0, 1, 999, 10**6, NS_PER_DAY // 2, NS_PER_DAY - 10**6 - 1, NS_PER_DAY - 10**6,
                   NS_PER_DAY - 400, NS_PER_DAY - 1):  # fmt: skip
        at = DAY * NS_PER_DAY + offset
        as_dt = datetime.fromtimestamp(at / 1e9, tz=timezone.utc)
        for provider, model in (("openai", "gpt-4o"), ("anthropic", "claude-sonnet-4-5-20250929")):
            assert price(usage, provider=provider, model=model, at=at) == price(
                usage, provider=provider, model=model, at=as_dt
            ), (model, offset)


def test_absurd_epoch_ns_is_still_unpriced_with_the_reason() -> None:
    cost = price(Usage(input_tokens=10), provider="openai", model="gpt-4o", at=10**30)
    assert cost.source == "unpriced" and "invalid call time" in (cost.unpriced_reason or "")
