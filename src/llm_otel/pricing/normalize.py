"""Token counts as prices need them: whatever an instrumentation reported, made consistent.

Never raises. Every repair is named in ``flags`` so the ledger can audit it: negative or
unreadable counts become 0, Anthropic-style exclusive input becomes inclusive, output that
excluded reasoning includes it, and a cache-write total never falls short of its TTL split.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from llm_otel.pricing.usage import IterationUsage, Usage

_COUNT_FIELDS = (
    "input_tokens",
    "output_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "cache_write_5m_tokens",
    "cache_write_1h_tokens",
    "cache_write_30m_tokens",
    "cache_write_12h_tokens",
    "reasoning_tokens",
)


def _count(value: Any, name: str, flags: list[str]) -> int:
    """A count as a non-negative int; None is 0; anything odd is clamped and flagged."""
    if value is None:
        return 0
    try:
        if isinstance(value, bool):
            raise TypeError
        n = int(value) if type(value) is int else int(Decimal(str(value)))
    except Exception:
        flags.append(f"invalid_count:{name}")
        return 0
    if n < 0:
        flags.append(f"negative_count_clamped:{name}")
        return 0
    return n


def normalize(usage: Usage | IterationUsage, flags: list[str]) -> list[int]:
    """Counts in ``_COUNT_FIELDS`` order as prices need them: non-negative, input inclusive of cache,
    output inclusive of reasoning, cache write total >= its TTL split. Never raises: repairs are
    recorded in ``flags``."""
    v: list[Any]
    if isinstance(usage, Usage):
        v = [
            usage.input_tokens,
            usage.output_tokens,
            usage.cache_read_tokens,
            usage.cache_write_tokens,
            usage.cache_write_5m_tokens,
            usage.cache_write_1h_tokens,
            usage.cache_write_30m_tokens,
            usage.cache_write_12h_tokens,
            usage.reasoning_tokens,
        ]
    else:
        v = [
            usage.input_tokens,
            usage.output_tokens,
            usage.cache_read_tokens,
            usage.cache_write_tokens,
            0,
            0,
            0,
            0,
            0,
        ]
    cw_reported = v[3] is not None
    for i in range(9):
        x = v[i]
        if x is None:
            v[i] = 0
        elif x.__class__ is not int or x < 0:
            v[i] = _count(x, _COUNT_FIELDS[i], flags)
    counts: list[int] = v
    inp, out, cr, cw, w5, w1, w30, w12, reasoning = counts
    split = w5 + w1 + w30 + w12
    if split > cw:
        if cw_reported:
            flags.append("cache_write_split_exceeds_total")
        v[3] = cw = split
    if cr + cw > inp:
        # Anthropic-style instrumentations report input without cache tokens: make it inclusive.
        flags.append("input_exclusive_of_cache")
        v[0] = inp + cr + cw
    if reasoning > out:
        flags.append("output_exclusive_of_reasoning")
        v[1] = out + reasoning
    return counts


def reported(usage: Any) -> bool:
    """Whether ``usage`` is a Usage that reports any count (a failed call often reports none)."""
    if not isinstance(usage, Usage):
        return False
    return any(getattr(usage, f) is not None for f in _COUNT_FIELDS) or bool(usage.iterations)
