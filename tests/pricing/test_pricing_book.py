"""The price book: what it changes, and the precise message for each kind of malformed file."""

from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path

import pytest
from pricing_helpers import AT, usd

from llm_otel.pricing import PriceBookError, Usage, load_pricebook, price
from llm_otel.pricing.book import parse_pricebook

UTC = timezone.utc

EXAMPLE = Path(__file__).resolve().parents[2] / "collector" / "pricebook.example.yaml"
U = Usage(input_tokens=1000, output_tokens=100)


@pytest.fixture(scope="module")
def example():
    return load_pricebook(EXAMPLE)


def test_the_example_price_book_loads(example):
    assert example.aliases and example.rates and example.contracts and example.committed and example.models


def test_data_version_names_the_price_book_digest(example):
    cost = price(U, provider="anthropic", model="claude-opus-4-6", at=AT, book=example)
    assert cost.data_version == f"genai-prices-0.2.3+pricebook-{example.digest}"


def test_a_contract_multiplier_gives_effective_cost_and_keeps_list_cost(example):
    cost = price(U, provider="anthropic", model="claude-opus-4-5", at=AT, book=example)
    assert cost.source == "contract"
    assert cost.list_total == usd((1000, "5"), (100, "25"))
    assert cost.total == cost.list_total * Decimal("0.85")


def test_a_contract_applies_only_inside_its_dates(example):
    cost = price(U, provider="anthropic", model="claude-opus-4-5", at=datetime(2027, 1, 1, tzinfo=UTC), book=example)
    assert cost.source == "list" and cost.total == cost.list_total


def test_per_bucket_multipliers_apply_to_their_buckets(example):
    cost = price(
        Usage(input_tokens=2000, cache_read_tokens=1000, output_tokens=100),
        provider="openai",
        model="gpt-4o",
        at=AT,
        book=example,
    )
    rows = {b.bucket: b for b in cost.buckets}
    assert rows["input"].amount == rows["input"].list_amount * Decimal("0.9")
    assert rows["output"].amount == rows["output"].list_amount * Decimal("0.8")
    assert rows["cache_read"].amount == rows["cache_read"].list_amount


def test_committed_capacity_has_zero_marginal_cost_and_says_committed(example):
    cost = price(
        U,
        provider="aws.bedrock",
        model="us.anthropic.claude-sonnet-4-5-20250929-v1:0",
        at=AT,
        book=example,
        service_tier="provisioned",
    )
    assert (cost.source, cost.total) == ("committed", 0)
    assert cost.list_total == usd((1000, "3.3"), (100, "16.5"))


def test_committed_capacity_overage_is_priced_at_its_marginal_rates(example):
    cost = price(
        U, provider="azure.ai.openai", model="prod-gpt4o-eastus", at=AT, book=example, service_tier="ptu-overage"
    )
    assert (cost.source, cost.total) == ("committed", usd((1000, "2.75"), (100, "11")))


def test_an_azure_deployment_name_is_priced_like_its_model(example):
    cost = price(U, provider="azure.ai.openai", model="prod-gpt4o-eastus", at=AT, book=example)
    assert (cost.provider, cost.model, cost.total) == ("azure", "gpt-4o", usd((1000, "2.5"), (100, "10")))
    assert "priced_like:gpt-4o" in cost.flags


def test_a_fine_tune_is_priced_like_its_base_model(example):
    cost = price(U, provider="openai", model="ft:gpt-4.1-mini:acme:abc123", at=AT, book=example)
    assert cost.list_total == usd((1000, "0.4"), (100, "1.6"))


def test_a_custom_model_in_genai_prices_shape_with_dated_prices(example):
    before = price(
        U, provider="anthropic", model="claude-internal-preview", at=datetime(2026, 8, 31, tzinfo=UTC), book=example
    )
    after = price(U, provider="anthropic", model="claude-internal-preview", at=AT, book=example)
    assert before.list_total == usd((1000, "3"), (100, "15"))
    assert after.list_total == usd((1000, "2"), (100, "10"))


def test_data_residency_uplift_raises_list_prices_in_its_region(example):
    us = price(U, provider="anthropic", model="claude-opus-4-6", at=AT, book=example, region="us")
    anywhere = price(U, provider="anthropic", model="claude-opus-4-6", at=AT, book=example)
    assert us.list_total == anywhere.list_total * Decimal("1.1")


def test_a_fast_mode_the_price_data_lacks_is_supplied_by_the_book(example):
    without = price(U, provider="anthropic", model="claude-opus-4-6", at=AT, service_tier="fast")
    with_book = price(U, provider="anthropic", model="claude-opus-4-6", at=AT, service_tier="fast", book=example)
    assert without.source == "unpriced"
    assert with_book.list_total == usd((1000, "30"), (100, "150"))


def test_openai_12h_cache_writes_use_the_books_rate(example):
    cost = price(
        Usage(input_tokens=1000, cache_write_tokens=1000, cache_write_12h_tokens=1000, output_tokens=0),
        provider="openai",
        model="gpt-5.1",
        at=AT,
        book=example,
    )
    assert [(b.bucket, b.list_unit_price_per_mtok) for b in cost.buckets] == [("cache_write_12h", Decimal("1.25"))]
    assert not any(f.startswith("rate_fallback") for f in cost.flags)


def test_a_book_may_make_cached_tokens_cost_more_than_uncached():
    book = parse_pricebook("rates:\n  - match: {provider: openai, model: gpt-4o}\n    prices: {cache_read_mtok: 9}\n")
    cost = price(
        Usage(input_tokens=1000, cache_read_tokens=1000, output_tokens=0),
        provider="openai",
        model="gpt-4o",
        at=AT,
        book=book,
    )
    assert cost.total == usd((1000, "9")) and cost.cache_savings < 0


# --- malformed books ----------------------------------------------------------------------------------

BAD = [
    ("yaml syntax", "contracts: [\n", 2, "yaml", "fix the YAML syntax"),
    (
        "unknown top-level key",
        "version: 1\ncontract:\n  - name: x\n",
        2,
        "contract",
        "unknown key; did you mean 'contracts'? expected one of: version, data, models, aliases, rates, contracts",
    ),
    ("unsupported version", "version: 2\n", 1, "version", "unsupported version '2'; this llm-otel reads version 1"),
    ("section not a list", "contracts: {name: x}\n", 1, "contracts", "must be a list"),
    (
        "multiplier not a number",
        "contracts:\n  - name: acme\n    match: {provider: openai}\n    multiplier: ten\n",
        4,
        "contracts[0].multiplier",
        "must be a number, got 'ten'",
    ),
    (
        "negative multiplier",
        "contracts:\n  - name: acme\n    match: {provider: openai}\n    multiplier: -0.5\n",
        4,
        "contracts[0].multiplier",
        "must be at least 0, got -0.5",
    ),
    (
        "multiplier and multipliers",
        "contracts:\n  - name: acme\n    match: {provider: openai}\n    multiplier: 1\n    multipliers: {input: 1}\n",
        2,
        "contracts[0]",
        "give exactly one of 'multiplier' (all buckets) or 'multipliers' (per bucket)",
    ),
    (
        "unknown bucket in multipliers",
        "contracts:\n  - name: acme\n    match: {provider: openai}\n    multipliers: {inputs: 0.9}\n",
        4,
        "contracts[0].multipliers.inputs",
        "unknown key; did you mean 'input'? expected one of: input, cache_read",
    ),
    (
        "missing name",
        "contracts:\n  - match: {provider: openai}\n    multiplier: 1\n",
        2,
        "contracts[0].name",
        "is required",
    ),
    (
        "bad date",
        "contracts:\n  - name: a\n    match: {provider: openai}\n    multiplier: 1\n    start: 2026-13-01\n",
        5,
        "contracts[0].start",
        "must be a date YYYY-MM-DD (rules change at UTC midnight), got '2026-13-01'",
    ),
    (
        "datetime instead of date",
        "contracts:\n  - name: a\n    match: {provider: openai}\n    multiplier: 1\n    start: 2026-01-01T10:00:00\n",
        5,
        "contracts[0].start",
        "must be a date YYYY-MM-DD",
    ),
    (
        "end before start",
        "contracts:\n  - name: a\n    match: {provider: openai}\n    multiplier: 1\n    start: 2026-02-01\n"
        "    end: 2026-01-01\n",
        6,
        "contracts[0].end",
        "2026-01-01 is before start 2026-02-01; swap them",
    ),
    (
        "empty match",
        "contracts:\n  - name: a\n    match: {}\n    multiplier: 1\n",
        3,
        "contracts[0].match",
        "needs at least one of: provider, model, service_tier, region, processing",
    ),
    (
        "unknown match key",
        "contracts:\n  - name: a\n    match: {tier: flex}\n    multiplier: 1\n",
        3,
        "contracts[0].match.tier",
        "unknown key; expected one of: provider, model, service_tier, region, processing",
    ),
    (
        "rate rule without prices or uplift",
        "rates:\n  - match: {provider: openai}\n",
        2,
        "rates[0]",
        "needs 'prices' (per-MTok list rates) or 'uplift' (a multiplier on list rates)",
    ),
    (
        "unknown price key",
        "rates:\n  - match: {provider: openai}\n    prices:\n      cache_write_2h_mtok: 1\n",
        4,
        "rates[0].prices.cache_write_2h_mtok",
        "unknown key; did you mean 'cache_write_12h_mtok'? expected one of: input_mtok",
    ),
    (
        "zero uplift",
        "rates:\n  - match: {provider: openai}\n    uplift: 0\n",
        3,
        "rates[0].uplift",
        "must be greater than 0, got 0",
    ),
    ("alias without price_like", "aliases:\n  - model: prod-*\n", 2, "aliases[0].price_like", "is required"),
    (
        "committed without fee",
        "committed:\n  - name: pt\n    match: {provider: aws.bedrock}\n",
        2,
        "committed[0].fee_per_hour",
        "is required",
    ),
    (
        "custom model with a bad price",
        "models:\n  - provider: openai\n    id: m\n    prices:\n      input_mtok: cheap\n",
        5,
        "models[0].prices.input_mtok",
        "must be a number, got 'cheap'",
    ),
    (
        "custom model with a misspelt price key",
        "models:\n  - provider: openai\n    id: m\n    prices: {input_mtok: 1, outptu_mtok: 2}\n",
        4,
        "models[0].prices.outptu_mtok",
        "unknown key; did you mean 'output_mtok'?",
    ),
    (
        "custom model with an invalid match clause",
        "models:\n  - provider: openai\n    id: m\n    match: {bogus: x}\n    prices: {input_mtok: 1}\n",
        4,
        "models[0].match",
        "does not match any of the expected tags",
    ),
    (
        "duplicate key",
        "contracts:\n  - name: a\n    name: b\n    match: {provider: openai}\n    multiplier: 1\n",
        3,
        "contracts[0].name",
        "given twice; keep one",
    ),
    (
        "refresh url not http",
        "data:\n  url: ftp://mirror/data.json\n",
        2,
        "data.url",
        "must be an https:// URL of a genai-prices data.json mirror, got 'ftp://mirror/data.json'",
    ),
]


@pytest.mark.parametrize(("text", "line", "key", "message"), [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_a_malformed_price_book_names_file_line_and_key(tmp_path, text, line, key, message):
    path = tmp_path / "book.yaml"
    path.write_text(text)
    with pytest.raises(PriceBookError) as err:
        load_pricebook(path)
    assert (err.value.file, err.value.line, err.value.key) == (str(path), line, key)
    assert message in err.value.message
    assert str(err.value).startswith(f"price book {path}:{line}: {key}: ")


def test_a_missing_price_book_says_to_check_the_flag(tmp_path):
    with pytest.raises(PriceBookError, match=r"cannot read \(No such file or directory\); check --pricebook"):
        load_pricebook(tmp_path / "nope.yaml")


def test_an_empty_price_book_is_valid_and_changes_nothing():
    book = parse_pricebook("")
    cost = price(U, provider="openai", model="gpt-4o", at=AT, book=book)
    assert cost.source == "list" and cost.total == usd((1000, "2.5"), (100, "10"))
