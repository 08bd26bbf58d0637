"""Pricing: usage + model + time -> Cost. Imports nothing else of llm_otel but semconv.

``price()`` is the entry point; ``load_pricebook()`` reads a price book; ``refresh()`` is the
one (opt-in) network call, fetching newer genai-prices data into a file.

Names are loaded on first use so that importing ``llm_otel.pricing.usage`` (the SDK does, in
every agent process) does not load genai-prices, pydantic or YAML.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from llm_otel.pricing.usage import IterationUsage, Usage

if TYPE_CHECKING:
    from llm_otel.pricing.book import PriceBook, PriceBookError, load_pricebook
    from llm_otel.pricing.cost import BucketCost, Cost
    from llm_otel.pricing.data import PriceData, PriceDataError, refresh
    from llm_otel.pricing.engine import Pricer, price

_LAZY = {
    "PriceBook": "book",
    "PriceBookError": "book",
    "load_pricebook": "book",
    "BucketCost": "cost",
    "Cost": "cost",
    "PriceData": "data",
    "PriceDataError": "data",
    "refresh": "data",
    "Pricer": "engine",
    "price": "engine",
}

__all__ = [
    "BucketCost",
    "Cost",
    "IterationUsage",
    "PriceBook",
    "PriceBookError",
    "PriceData",
    "PriceDataError",
    "Pricer",
    "Usage",
    "load_pricebook",
    "price",
    "refresh",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'llm_otel.pricing' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"llm_otel.pricing.{module}"), name)
    globals()[name] = value
    return value
