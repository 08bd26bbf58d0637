"""Which records the ledger refuses: checked per call before the transaction, so one bad record
is rejected alone (``CallOutcome.status == "rejected"``) instead of failing its whole batch."""

from __future__ import annotations

from decimal import Decimal

from llm_otel.pricing.cost import BUCKET_CACHE_READ, BUCKET_INPUT, BUCKET_OUTPUT, CACHE_WRITE_BUCKETS, token_type
from llm_otel.processor.ledger.model import PricedCall

MAX_TOKENS = 10**15  # per bucket per call; far above any real call, far below BIGINT sums overflowing
_TOKEN_FIELDS = (
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

BUCKET_TOKEN_TYPE = {
    b: token_type(b) for b in (BUCKET_INPUT, BUCKET_CACHE_READ, *CACHE_WRITE_BUCKETS, BUCKET_OUTPUT, "cache_write")
}


def _bad_count(name: str, v: object) -> str | None:
    if v is None:
        return None
    if not isinstance(v, int) or isinstance(v, bool):
        return f"{name} is {type(v).__name__}, not an integer"
    if not 0 <= v <= MAX_TOKENS:
        return f"{name}={v} is outside 0..{MAX_TOKENS}"
    return None


def _bad_money(name: str, v: object) -> str | None:
    if not isinstance(v, Decimal) or not v.is_finite():
        return f"{name}={v!r} is not a finite Decimal"
    return None


def check_call(pc: PricedCall) -> str | None:
    """Why this call cannot be stored (None: it can). Cheap; run on every call before the transaction,
    so one bad record is rejected alone instead of failing (and forever re-failing) its whole batch."""
    r, c, u = pc.record, pc.cost, pc.record.usage
    for name, v in (("trace_id", r.trace_id), ("span_id", r.span_id), ("provider", r.provider)):
        if not isinstance(v, str) or not v:
            return f"{name} is missing"
    for name, n in (("start_ns", r.start_ns), ("end_ns", r.end_ns)):
        if not isinstance(n, int) or not 0 <= n < 2**63:
            return f"{name}={n!r} is not a time in ns since the epoch"
    for f in _TOKEN_FIELDS:
        if why := _bad_count(f, getattr(u, f)):
            return why
    for it in u.iterations:
        for f in ("input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens"):
            if why := _bad_count(f"iterations.{it.kind}.{f}", getattr(it, f)):
                return why
    for name, count in (
        ("tools_count", r.tools_count),
        ("tools_bytes", r.tools_bytes),
        ("messages_count", r.messages_count),
    ):
        if count is not None and (not isinstance(count, int) or not 0 <= count < 2**62):
            return f"{name}={count!r} is not a count"
    for name, m in (
        ("cost.total", c.total),
        ("cost.list_total", c.list_total),
        ("cost.cache_savings", c.cache_savings),
    ):
        if why := _bad_money(name, m):
            return why
    for b in c.buckets:
        if b.bucket not in BUCKET_TOKEN_TYPE:
            return f"cost bucket {b.bucket!r} is not one of the pricing contract's buckets {sorted(BUCKET_TOKEN_TYPE)}"
        if why := _bad_money(f"bucket {b.bucket} amount", b.amount) or _bad_money(
            f"bucket {b.bucket} list_amount", b.list_amount
        ):
            return why
    return None
