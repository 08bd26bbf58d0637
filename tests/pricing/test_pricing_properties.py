"""Properties of every price: never negative, buckets add up, monotone, cache never dearer, multipliers exact."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pricing_helpers import AT

from llm_otel.pricing import Usage, price
from llm_otel.pricing.book import parse_pricebook

MODELS = [
    ("anthropic", "claude-sonnet-4-5-20250929"),  # long-context cliff at 200k
    ("anthropic", "claude-opus-4-5"),
    ("anthropic", "claude-haiku-4-5"),
    ("openai", "gpt-4o"),
    ("openai", "gpt-5.4"),  # cliff at 272k
    ("openai", "gpt-5-mini"),
    ("azure.ai.openai", "gpt-4o"),
    ("aws.bedrock", "us.anthropic.claude-sonnet-4-5-20250929-v1:0"),
]
TIERS = [None, "flex", "priority", "batch"]
FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

anything = st.one_of(st.none(), st.integers(-(10**6), 10**9))
model = st.sampled_from(MODELS)


@st.composite
def raw_usage(draw):
    """Any usage at all, including negative and inconsistent counts."""
    return Usage(
        **{
            k: draw(anything)
            for k in (
                "input_tokens",
                "output_tokens",
                "cache_read_tokens",
                "cache_write_tokens",
                "cache_write_5m_tokens",
                "cache_write_1h_tokens",
                "cache_write_12h_tokens",
                "reasoning_tokens",
            )
        }
    )


@st.composite
def parts(draw):
    """Disjoint quantities of a consistent call: uncached, read, 5m, 1h, output."""
    n = st.integers(0, 400_000)
    return [draw(n) for _ in range(5)]


def usage_of(p):
    uncached, read, w5, w1, out = p
    return Usage(
        input_tokens=uncached + read + w5 + w1,
        cache_read_tokens=read,
        cache_write_tokens=w5 + w1,
        cache_write_5m_tokens=w5,
        cache_write_1h_tokens=w1,
        output_tokens=out,
    )


def cost_of(p, m, tier=None, book=None):
    return price(usage_of(p), provider=m[0], model=m[1], at=AT, service_tier=tier, book=book)


@FAST
@given(raw_usage(), model, st.sampled_from(TIERS))
def test_cost_is_never_negative_and_buckets_sum_to_the_total(usage, m, tier):
    cost = price(usage, provider=m[0], model=m[1], at=AT, service_tier=tier)
    assert cost.total >= 0 and cost.list_total >= 0
    assert all(b.quantity > 0 and b.amount >= 0 and b.list_amount >= 0 for b in cost.buckets)
    assert sum((b.amount for b in cost.buckets), Decimal(0)) == cost.total
    assert sum((b.list_amount for b in cost.buckets), Decimal(0)) == cost.list_total
    assert (cost.source == "unpriced") == (cost.unpriced_reason is not None)


@FAST
@given(raw_usage(), model)
def test_billed_quantities_cover_the_normalized_tokens(usage, m):
    cost = price(usage, provider=m[0], model=m[1], at=AT)
    if cost.priced and cost.buckets:
        inp = sum(b.quantity for b in cost.buckets if b.bucket != "output")
        assert inp >= max(usage.input_tokens or 0, 0)


@FAST
@given(parts(), model, st.integers(0, 4), st.integers(1, 300_000), st.sampled_from(TIERS))
def test_cost_is_monotone_in_each_token_count(p, m, which, extra, tier):
    base = cost_of(p, m, tier)
    more = list(p)
    more[which] += extra
    bigger = cost_of(more, m, tier)
    if base.priced:
        assert bigger.total >= base.total and bigger.list_total >= base.list_total


@FAST
@given(parts(), model, st.integers(1, 4), st.integers(1, 300_000), st.sampled_from(TIERS))
def test_cached_tokens_never_cost_more_than_the_same_tokens_uncached(p, m, _which, k, tier):
    cached = list(p)
    cached[1] += k  # k tokens read from cache...
    uncached = list(p)
    uncached[0] += k  # ...versus the same k tokens sent uncached (same inclusive input: same cliff)
    a, b = cost_of(cached, m, tier), cost_of(uncached, m, tier)
    if a.priced:
        assert a.total <= b.total
        assert a.cache_savings >= 0


MULT = st.decimals(min_value=0, max_value=3, places=4, allow_nan=False, allow_infinity=False)


@settings(max_examples=60, deadline=None)
@given(parts(), st.sampled_from(MODELS), MULT)
def test_a_contract_multiplier_applies_exactly(p, m, mult):
    book = parse_pricebook(f"contracts:\n  - name: c\n    match: {{provider: {m[0]}}}\n    multiplier: {mult}\n")
    cost = cost_of(p, m, book=book)
    assert cost.source == "contract"
    assert cost.total == cost.list_total * mult
    assert all(b.amount == b.list_amount * mult for b in cost.buckets)


@settings(max_examples=40, deadline=None)
@given(parts(), MULT, MULT)
def test_per_bucket_multipliers_apply_exactly_to_their_buckets(p, m_in, m_out):
    book = parse_pricebook(
        "contracts:\n  - name: c\n    match: {provider: anthropic}\n"
        f"    multipliers: {{input: {m_in}, output: {m_out}}}\n"
    )
    cost = cost_of(p, ("anthropic", "claude-sonnet-4-5-20250929"), book=book)
    for b in cost.buckets:
        expected = {"input": m_in, "output": m_out}.get(b.bucket, Decimal(1))
        assert b.amount == b.list_amount * expected


GP_CONTEXT = {
    None: None,
    "flex": {"service_tier": "flex"},
    "priority": {"service_tier": "priority"},
    "batch": {"processing": "batch"},
}


@settings(max_examples=150, deadline=None)
@given(parts(), st.sampled_from([m for m in MODELS if m[0] in ("openai", "anthropic")]), st.sampled_from(TIERS))
def test_list_prices_equal_genai_prices_calc_price_for_any_consistent_usage(p, m, tier):
    import genai_prices

    cost = cost_of(p, m, tier)
    if not cost.priced:
        return
    uncached, read, w5, w1, out = p
    theirs = genai_prices.calc_price(
        genai_prices.Usage(
            input_tokens=uncached + read + w5 + w1,
            cache_read_tokens=read,
            cache_write_tokens=w5 + w1,
            cache_write_1h_tokens=w1,
            output_tokens=out,
        ),
        m[1],
        provider_id=m[0],
        genai_request_timestamp=AT,
        price_context=GP_CONTEXT[tier],
    )
    assert cost.total == theirs.total_price
