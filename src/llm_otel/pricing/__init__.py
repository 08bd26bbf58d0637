"""Pricing: usage + model + time -> Cost. Imports nothing else of llm_otel but semconv."""

from llm_otel.pricing.usage import IterationUsage, Usage

__all__ = ["IterationUsage", "Usage"]
