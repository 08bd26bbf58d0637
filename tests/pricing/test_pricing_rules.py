"""The billing rules real bills follow, one test each, with numbers."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal

from pricing_helpers import AT, usd

from llm_otel.pricing import IterationUsage, Usage, price

UTC = timezone.utc

SONNET = "claude-sonnet-4-5-20250929"


def buckets(cost):
    return {(b.bucket, b.model): (b.quantity, b.unit_price_per_mtok) for b in cost.buckets}


# --- inclusive vs exclusive input ------------------------------------------------------


def test_cache_larger_than_input_is_read_as_exclusive_input_and_flagged():
    cost = price(
        Usage(input_tokens=100, cache_read_tokens=1000, cache_write_tokens=500, output_tokens=10),
        provider="anthropic",
        model=SONNET,
        at=AT,
    )
    assert "input_exclusive_of_cache" in cost.flags
    assert buckets(cost)[("input", None)] == (100, Decimal("3"))
    assert cost.total == usd((100, "3"), (1000, "0.3"), (500, "3.75"), (10, "15"))


def test_negative_counts_are_clamped_to_zero_and_flagged_never_priced_negative():
    cost = price(
        Usage(input_tokens=-500, output_tokens=100, cache_read_tokens=-3), provider="anthropic", model=SONNET, at=AT
    )
    assert cost.total == usd((100, "15"))
    assert "negative_count_clamped:input_tokens" in cost.flags
    assert "negative_count_clamped:cache_read_tokens" in cost.flags


def test_garbage_counts_never_raise():
    cost = price(
        Usage(input_tokens="12", output_tokens=float("nan"), cache_read_tokens=True),  # type: ignore[arg-type]
        provider="openai",
        model="gpt-4o",
        at=AT,
    )
    assert cost.total == usd((12, "2.5"))
    assert "invalid_count:output_tokens" in cost.flags


# --- cache-write TTLs ------------------------------------------------------------------


def test_cache_write_ttls_are_priced_at_their_own_rates():
    cost = price(
        Usage(
            input_tokens=2000,
            cache_write_tokens=2000,
            cache_write_5m_tokens=1000,
            cache_write_1h_tokens=1000,
            output_tokens=0,
        ),
        provider="anthropic",
        model=SONNET,
        at=AT,
    )
    assert buckets(cost) == {
        ("cache_write_5m", None): (1000, Decimal("3.75")),
        ("cache_write_1h", None): (1000, Decimal("6")),
    }
    assert cost.total == Decimal("0.00975")


def test_unsplit_cache_write_is_priced_at_the_providers_default_ttl():
    cost = price(
        Usage(input_tokens=1000, cache_write_tokens=1000, output_tokens=0), provider="anthropic", model=SONNET, at=AT
    )
    assert buckets(cost) == {("cache_write_5m", None): (1000, Decimal("3.75"))}


def test_a_split_short_of_the_total_prices_the_remainder_at_the_default_ttl():
    cost = price(
        Usage(input_tokens=1000, cache_write_tokens=1000, cache_write_1h_tokens=400, output_tokens=0),
        provider="anthropic",
        model=SONNET,
        at=AT,
    )
    assert buckets(cost) == {
        ("cache_write_5m", None): (600, Decimal("3.75")),
        ("cache_write_1h", None): (400, Decimal("6")),
    }
    assert cost.total == usd((600, "3.75"), (400, "6"))


def test_a_split_larger_than_the_total_raises_the_total_and_is_flagged():
    cost = price(
        Usage(input_tokens=1000, cache_write_tokens=100, cache_write_1h_tokens=400, output_tokens=0),
        provider="anthropic",
        model=SONNET,
        at=AT,
    )
    assert "cache_write_split_exceeds_total" in cost.flags
    assert buckets(cost)[("cache_write_1h", None)] == (400, Decimal("6"))
    assert buckets(cost)[("input", None)] == (600, Decimal("3"))


def test_ttls_the_price_data_lacks_fall_back_to_the_cache_write_rate_and_say_so():
    cost = price(
        Usage(input_tokens=1000, cache_write_tokens=1000, cache_write_12h_tokens=1000, output_tokens=0),
        provider="anthropic",
        model=SONNET,
        at=AT,
    )
    assert buckets(cost) == {("cache_write_12h", None): (1000, Decimal("3.75"))}
    assert "rate_fallback:cache_write_12h" in cost.flags


def test_cache_savings_and_write_premium_are_against_the_same_tokens_uncached():
    cost = price(
        Usage(input_tokens=3000, cache_read_tokens=1000, cache_write_tokens=1000, output_tokens=0),
        provider="anthropic",
        model=SONNET,
        at=AT,
    )
    assert cost.cache_savings == usd((1000, "3")) - usd((1000, "0.3"))
    assert cost.cache_write_premium == usd((1000, "3.75")) - usd((1000, "3"))


# --- long context cliffs -----------------------------------------------------------------


def test_long_context_cliff_is_judged_on_inclusive_input_and_rerates_the_whole_request():
    # 50,001 uncached + 150,000 cached = 200,001 inclusive: above the 200k cliff.
    cost = price(
        Usage(input_tokens=200_001, cache_read_tokens=150_000, output_tokens=1000),
        provider="anthropic",
        model=SONNET,
        at=AT,
    )
    assert cost.total == usd((50_001, "6"), (150_000, "0.6"), (1000, "22.5"))
    assert {b.context_tier for b in cost.buckets} == {">200k"}


def test_exactly_at_the_cliff_is_still_the_base_rate():
    cost = price(Usage(input_tokens=200_000, output_tokens=1000), provider="anthropic", model=SONNET, at=AT)
    assert cost.total == usd((200_000, "3"), (1000, "15"))
    assert {b.context_tier for b in cost.buckets} == {None}


def test_cliffs_are_per_request_never_on_aggregates():
    one = price(Usage(input_tokens=150_000, output_tokens=0), provider="anthropic", model=SONNET, at=AT)
    assert one.total + one.total == usd((300_000, "3"))


# --- models and providers -----------------------------------------------------------------


def test_the_response_model_snapshot_is_preferred_over_the_request_alias():
    cost = price(
        Usage(input_tokens=1000, output_tokens=0),
        provider="openai",
        model="gpt-4o-2024-05-13",
        request_model="gpt-4o",
        at=AT,
    )
    assert cost.total == usd((1000, "5"))  # the 2024-05-13 snapshot, not gpt-4o's $2.50


def test_the_request_model_prices_the_call_only_when_the_response_model_is_unknown():
    cost = price(
        Usage(input_tokens=1000, output_tokens=0),
        provider="openai",
        model="gpt-4o-2099-01-01-internal",
        request_model="gpt-4o",
        at=AT,
    )
    assert cost.total == usd((1000, "2.5"))
    assert "priced_by_request_model" in cost.flags


def test_azure_openai_is_billed_by_azure_not_openai():
    at = datetime(2025, 6, 1, tzinfo=UTC)
    azure = price(Usage(input_tokens=1000, output_tokens=1000), provider="azure.ai.openai", model="o3", at=at)
    openai = price(Usage(input_tokens=1000, output_tokens=1000), provider="openai", model="o3", at=at)
    assert azure.provider == "azure" and openai.provider == "openai"
    assert azure.total == usd((1000, "2"), (1000, "8"))
    assert openai.total == usd((1000, "10"), (1000, "40"))


def test_bedrock_and_vertex_map_to_their_billing_entities():
    bedrock = price(
        Usage(input_tokens=1000, output_tokens=0),
        provider="aws.bedrock",
        model="us.anthropic.claude-sonnet-4-5-20250929-v1:0",
        at=AT,
    )
    vertex = price(
        Usage(input_tokens=1000, output_tokens=0), provider="gcp.vertex_ai", model="claude-sonnet-4-5@20250929", at=AT
    )
    assert (bedrock.provider, bedrock.total) == ("aws", usd((1000, "3.3")))  # regional endpoint uplift
    assert (vertex.provider, vertex.total) == ("google", usd((1000, "3")))


# --- service tiers ----------------------------------------------------------------------------


def test_flex_and_priority_tiers_use_their_own_rates():
    u = Usage(input_tokens=1000, output_tokens=1000)
    flex = price(u, provider="openai", model="gpt-5", at=AT, service_tier="flex")
    prio = price(u, provider="openai", model="gpt-5", at=AT, service_tier="priority")
    std = price(u, provider="openai", model="gpt-5", at=AT, service_tier="default")
    assert (flex.total, std.total, prio.total) == (
        usd((1000, "0.625"), (1000, "5")),
        usd((1000, "1.25"), (1000, "10")),
        usd((1000, "2.5"), (1000, "20")),
    )


def test_batch_reported_as_a_service_tier_is_priced_as_batch_processing():
    u = Usage(input_tokens=1000, output_tokens=1000)
    assert (
        price(u, provider="openai", model="gpt-5", at=AT, service_tier="batch").total
        == price(u, provider="openai", model="gpt-5", at=AT, processing="batch").total
        == usd((1000, "0.625"), (1000, "5"))
    )


def test_anthropic_batch_discount_stacks_with_cache_multipliers():
    cost = price(
        Usage(input_tokens=11_000, cache_read_tokens=10_000, output_tokens=0),
        provider="anthropic",
        model="claude-opus-4-5",
        at=AT,
        processing="batch",
    )
    assert buckets(cost)[("cache_read", None)] == (10_000, Decimal("0.25"))  # 10% of input, then 50% off


def test_a_tier_the_price_data_has_no_rates_for_is_unpriced_with_a_reason():
    cost = price(
        Usage(input_tokens=1000, output_tokens=10), provider="anthropic", model=SONNET, at=AT, service_tier="priority"
    )
    assert cost.source == "unpriced" and cost.total == 0
    assert "service_tier=priority" in (cost.unpriced_reason or "")


# --- dates and times ------------------------------------------------------------------------------


def test_a_call_is_priced_at_the_rates_in_force_at_its_start_in_utc():
    u = Usage(input_tokens=1_000_000, output_tokens=0)
    plus2 = timezone(timedelta(hours=2))
    before = price(u, provider="openai", model="o3", at=datetime(2025, 6, 10, 1, 0, tzinfo=plus2))  # 06-09 23:00Z
    after = price(u, provider="openai", model="o3", at=datetime(2025, 6, 10, 0, 0, tzinfo=UTC))
    assert (before.total, after.total) == (Decimal(10), Decimal(2))


def test_naive_times_and_epoch_nanoseconds_are_utc():
    u = Usage(input_tokens=1_000_000, output_tokens=0)
    ns = int(datetime(2025, 6, 10, tzinfo=UTC).timestamp() * 1e9)
    assert price(u, provider="openai", model="o3", at=datetime(2025, 6, 9, 23, 59)).total == Decimal(10)
    assert price(u, provider="openai", model="o3", at=ns).total == Decimal(2)
    assert price(u, provider="openai", model="o3", at=ns // 10**6).total == Decimal(2)  # milliseconds
    assert price(u, provider="openai", model="o3", at=ns / 1e9 - 1).total == Decimal(10)  # float seconds


def test_time_of_day_prices_are_not_cached_by_day():
    u = Usage(input_tokens=1_000_000, output_tokens=0)
    day = datetime(2026, 11, 2, tzinfo=UTC)
    night = price(u, provider="deepseek", model="deepseek-chat", at=day.replace(hour=20))
    peak = price(u, provider="deepseek", model="deepseek-chat", at=day.replace(hour=1))
    night_again = price(u, provider="deepseek", model="deepseek-chat", at=day.replace(hour=23))
    assert (night.total, peak.total, night_again.total) == (Decimal("0.135"), Decimal("0.27"), Decimal("0.135"))


def test_an_unreadable_time_is_unpriced_not_an_exception():
    cost = price(Usage(input_tokens=1, output_tokens=1), provider="openai", model="gpt-4o", at="yesterday")
    assert cost.source == "unpriced" and "invalid call time" in (cost.unpriced_reason or "")


# --- unknown ---------------------------------------------------------------------------------------


def test_an_unknown_model_is_unpriced_with_a_reason_never_zero_dollars_silently():
    cost = price(Usage(input_tokens=1000, output_tokens=100), provider="openai", model="gpt-99-ultra", at=AT)
    assert cost.source == "unpriced" and not cost.priced
    assert "unknown model 'gpt-99-ultra'" in (cost.unpriced_reason or "")
    assert "price book" in (cost.unpriced_reason or "")


def test_an_unknown_provider_is_unpriced_with_a_reason():
    cost = price(Usage(input_tokens=1000, output_tokens=100), provider="ibm.watsonx.ai", model="granite", at=AT)
    assert cost.source == "unpriced" and cost.unpriced_reason


# --- reasoning ---------------------------------------------------------------------------------------


def test_reasoning_tokens_are_part_of_output_and_never_added_twice():
    cost = price(
        Usage(input_tokens=1000, output_tokens=2000, reasoning_tokens=1500), provider="openai", model="gpt-5", at=AT
    )
    assert buckets(cost)[("output", None)] == (2000, Decimal("10"))
    assert cost.total == usd((1000, "1.25"), (2000, "10"))


def test_reasoning_larger_than_output_means_output_excluded_it_and_is_flagged():
    cost = price(
        Usage(input_tokens=0, output_tokens=500, reasoning_tokens=1500), provider="openai", model="gpt-5", at=AT
    )
    assert buckets(cost)[("output", None)] == (2000, Decimal("10"))
    assert "output_exclusive_of_reasoning" in cost.flags


# --- Anthropic iterations ----------------------------------------------------------------------------


def test_iterations_are_billed_on_top_and_advisor_at_the_advisor_models_rates():
    usage = Usage(
        input_tokens=1000,
        output_tokens=100,
        iterations=(
            IterationUsage("compaction", model=SONNET, input_tokens=5000, output_tokens=800),
            IterationUsage(
                "advisor", model="claude-opus-4-5", input_tokens=2000, output_tokens=300, cache_read_tokens=1000
            ),
        ),
    )
    cost = price(usage, provider="anthropic", model=SONNET, at=AT)
    top = usd((1000, "3"), (100, "15"))
    compaction = usd((5000, "3"), (800, "15"))
    advisor = usd((1000, "5"), (1000, "0.5"), (300, "25"))
    assert cost.total == top + compaction + advisor
    assert buckets(cost)[("output", "claude-opus-4-5")] == (300, Decimal("25"))


def test_an_advisor_on_an_unknown_model_leaves_the_call_unpriced():
    usage = Usage(input_tokens=10, output_tokens=1, iterations=(IterationUsage("advisor", model="claude-x"),))
    cost = price(usage, provider="anthropic", model=SONNET, at=AT)
    assert cost.source == "unpriced" and "advisor iteration" in (cost.unpriced_reason or "")


# --- failures and streams ----------------------------------------------------------------------------


def test_a_failed_call_that_reports_no_usage_costs_nothing():
    for model in ("gpt-4o", "no-such-model"):
        cost = price(Usage(), provider="openai", model=model, at=AT)
        assert (cost.total, cost.source, cost.buckets, cost.flags) == (0, "list", (), ("no_usage",))


def test_a_stream_cut_short_is_billed_for_what_usage_says():
    cost = price(Usage(input_tokens=5000), provider="openai", model="gpt-4o", at=AT)
    assert cost.total == usd((5000, "2.5"))


def test_something_that_is_not_usage_is_unpriced_not_an_exception():
    cost = price({"input_tokens": 1}, provider="openai", model="gpt-4o", at=AT)  # type: ignore[arg-type]
    assert cost.source == "unpriced"


def test_absurd_token_counts_and_missing_names_never_raise():
    huge = price(Usage(input_tokens=10**30, output_tokens=10**30), provider="openai", model="gpt-4o", at=AT)
    assert huge.priced and huge.total > 0
    assert price(Usage(input_tokens=1), provider=None, model="gpt-4o", at=AT).source == "unpriced"  # type: ignore[arg-type]
    assert price(Usage(input_tokens=1), provider="openai", model=None, at=AT).source == "unpriced"
    assert price(Usage(input_tokens=1), provider="openai", model=42, at=AT).source == "unpriced"  # type: ignore[arg-type]


def test_a_model_that_prices_reasoning_apart_bills_it_once_at_its_own_rate():
    cost = price(
        Usage(input_tokens=1000, output_tokens=3000, reasoning_tokens=2000),
        provider="perplexity",
        model="sonar-deep-research",
        at=AT,
    )
    rows = [(b.bucket, b.quantity, b.unit_price_per_mtok) for b in cost.buckets]
    assert rows == [("input", 1000, Decimal("2")), ("output", 1000, Decimal("8")), ("output", 2000, Decimal("3"))]
    assert sum(b.quantity for b in cost.buckets if b.bucket == "output") == 3000
