"""What pricing returns: a cost broken down by bucket, in Decimal USD, with its provenance.

This is the contract between pricing and its users (processor, ledger, SDK task totals,
reports, FOCUS export). Fields may be added; none may change meaning.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Literal

ZERO = Decimal(0)

CostSource = Literal["list", "contract", "committed", "unpriced"]

# Bucket names. Disjoint: their quantities add up to billed tokens, their amounts to the total.
# `input` is the UNCACHED input (inclusive input - cache read - cache write).
BUCKET_INPUT = "input"
BUCKET_CACHE_READ = "cache_read"
BUCKET_CACHE_WRITE_5M = "cache_write_5m"
BUCKET_CACHE_WRITE_1H = "cache_write_1h"
BUCKET_CACHE_WRITE_30M = "cache_write_30m"
BUCKET_CACHE_WRITE_12H = "cache_write_12h"
BUCKET_OUTPUT = "output"
CACHE_WRITE_BUCKETS = (BUCKET_CACHE_WRITE_5M, BUCKET_CACHE_WRITE_1H, BUCKET_CACHE_WRITE_30M, BUCKET_CACHE_WRITE_12H)


def token_type(bucket: str) -> str:
    """The metric ``token_type`` label of a bucket: input, cache_read, cache_write or output."""
    if bucket.startswith("cache_write"):
        return "cache_write"
    return bucket


@dataclass(frozen=True, slots=True)
class BucketCost:
    """One priced bucket. ``unit_price_per_mtok`` is USD per 1,000,000 tokens (effective, after contracts)."""

    bucket: str
    quantity: int
    unit_price_per_mtok: Decimal
    amount: Decimal  # effective USD = quantity * unit_price_per_mtok / 1e6, unrounded
    list_unit_price_per_mtok: Decimal
    list_amount: Decimal
    model: str | None = None  # set when this bucket is billed at another model's rates (advisor iterations)
    context_tier: str | None = None  # e.g. ">200k" when a long-context cliff re-rated the request


@dataclass(frozen=True, slots=True)
class Cost:
    total: Decimal  # effective USD
    list_total: Decimal
    source: CostSource
    buckets: tuple[BucketCost, ...] = field(default=())
    cache_savings: Decimal = ZERO  # what the cached tokens would have cost uncached, minus what they cost
    data_version: str = ""  # genai-prices data version (+ price book digest when one applied)
    unpriced_reason: str | None = None  # set iff source == "unpriced"
    provider: str | None = None  # billing entity (openai, anthropic, azure, aws, google, ...)
    model: str | None = None  # model id the rates were resolved for
    flags: tuple[str, ...] = field(default=())  # normalizations applied (e.g. "input_exclusive_of_cache")
    estimated: bool = False
    # What cache writes cost above the same tokens as plain input (the price of the savings above).
    cache_write_premium: Decimal = ZERO

    @property
    def priced(self) -> bool:
        return self.source != "unpriced"
