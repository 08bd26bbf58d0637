"""Shared helpers for pricing tests: a fixed call time, USD from per-MTok arithmetic."""

from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal

UTC = timezone.utc

AT = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


def usd(*terms: tuple[int, str]) -> Decimal:
    """Sum of tokens x per-MTok price, exactly: usd((1000, "3"), (10, "15"))."""
    return sum((Decimal(n) * Decimal(p) for n, p in terms), Decimal(0)).scaleb(-6)
