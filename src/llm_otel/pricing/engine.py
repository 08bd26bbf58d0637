"""The pricing arithmetic: normalized usage x resolved rates -> Cost. Short on purpose.

Hot path (every span in the processor, every call in the SDK). Guarded by
``benchmarks/pricing.py``: a cached price must stay a few microseconds, against
~100 µs for ``genai_prices.calc_price``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from typing import Any

from llm_otel.pricing._construct import fast_constructor
from llm_otel.pricing.book import PriceBook
from llm_otel.pricing.cost import (
    BUCKET_CACHE_READ,
    BUCKET_CACHE_WRITE_1H,
    BUCKET_CACHE_WRITE_5M,
    BUCKET_CACHE_WRITE_12H,
    BUCKET_CACHE_WRITE_30M,
    BUCKET_INPUT,
    BUCKET_OUTPUT,
    ZERO,
    BucketCost,
    Cost,
)
from llm_otel.pricing.data import PriceData, bundled
from llm_otel.pricing.normalize import normalize, reported
from llm_otel.pricing.providers import billing_provider
from llm_otel.pricing.rates import RateCache, Rates
from llm_otel.pricing.usage import Usage

UTC = timezone.utc

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_NS_PER_DAY = 86_400 * 1_000_000_000
_NS_FAST_MIN = 10**17 + 1  # what _to_datetime reads as epoch nanoseconds (> 1e17)
_NS_FAST_MAX = 4_102_444_800 * 10**9  # 2100-01-01: later (or absurd) times go the general way
_NS_DAY_SAFE = _NS_PER_DAY - 1_000_000  # the last millisecond of a day goes the general way


_bucket_cost = fast_constructor(BucketCost)
_cost = fast_constructor(Cost)


class _Acc:
    """Running sums of one Cost."""

    __slots__ = ("list_total", "premium", "rows", "savings", "total")

    def __init__(self) -> None:
        self.rows: list[BucketCost] = []
        self.total = self.list_total = self.savings = self.premium = ZERO


_OUT_NAMES = (
    BUCKET_INPUT,
    BUCKET_CACHE_READ,
    BUCKET_CACHE_WRITE_5M,
    BUCKET_CACHE_WRITE_1H,
    BUCKET_CACHE_WRITE_30M,
    BUCKET_CACHE_WRITE_12H,
    BUCKET_OUTPUT,
    BUCKET_OUTPUT,
)  # reasoning priced apart is still output


def _add_request(acc: _Acc, rates: Rates, v: list[int], model: str | None, flags: list[str]) -> None:
    """Price one request (the top level, or one iteration) into ``acc``. Hot path, see module docstring."""
    inp, out, cr, cw, w5, w1, w30, w12, reasoning = v
    levels = rates.levels
    level = levels[0] if len(levels) == 1 else rates.level(inp)
    r = level.rates
    q = [inp - cr - cw, cr, w5, w1, w30, w12, out, 0]
    remainder = cw - (w5 + w1 + w30 + w12)
    if remainder:
        q[rates.default_ttl_index] += remainder  # unsplit writes (or the rest of a short split): default TTL
    if reasoning and r[7] is not None:
        q[6] = out - reasoning
        q[7] = reasoning
    rows = acc.rows
    total = acc.total
    list_total = acc.list_total
    tier = level.label
    for i in range(8):
        qty = q[i]
        if not qty:
            continue
        row = r[i]
        assert row is not None
        eff_m, eff_t, list_m, list_t, same = row
        amount = eff_t * qty
        list_amount = amount if same else list_t * qty
        total += amount
        list_total += list_amount
        if 0 < i < 6:
            in_cost = r[0][1] * qty  # type: ignore[index]
            if i == 1:
                acc.savings += in_cost - amount
            else:
                acc.premium += amount - in_cost
                if _OUT_NAMES[i] in rates.fallback_buckets:
                    flags.append(f"rate_fallback:{_OUT_NAMES[i]}")
        rows.append(_bucket_cost(_OUT_NAMES[i], qty, eff_m, amount, list_m, list_amount, model, tier))
    acc.total = total
    acc.list_total = list_total


def _to_datetime(at: Any) -> datetime:
    if isinstance(at, datetime):
        return at if at.tzinfo is not None else at.replace(tzinfo=UTC)
    if isinstance(at, date):
        return datetime(at.year, at.month, at.day, tzinfo=UTC)
    if isinstance(at, int | float) and not isinstance(at, bool):
        # Epoch nanoseconds (span start), microseconds, milliseconds or seconds, by magnitude.
        seconds = at / 1e9 if at > 1e17 else at / 1e6 if at > 1e14 else at / 1e3 if at > 1e11 else at
        return datetime.fromtimestamp(seconds, tz=UTC)
    if isinstance(at, str):
        dt = datetime.fromisoformat(at.replace("Z", "+00:00"))
        return dt if dt.tzinfo is not None else dt.replace(tzinfo=UTC)
    raise TypeError(f"cannot read a time from {type(at).__name__}")


@dataclass(eq=False)
class Pricer:
    """Prices calls against one price data snapshot and one (optional) price book, with a rate cache."""

    data: PriceData = field(default_factory=bundled)
    book: PriceBook | None = None
    cache: RateCache = field(init=False)

    def __post_init__(self) -> None:
        self.cache = RateCache(self.data, self.book)

    def price(
        self,
        usage: Usage,
        *,
        provider: str,
        model: str | None,
        at: datetime | date | int | float | str,
        service_tier: str | None = None,
        processing: str | None = None,
        region: str | None = None,
        request_model: str | None = None,
    ) -> Cost:
        """See ``llm_otel.pricing.price``. Never raises: what it cannot price is ``unpriced``."""
        try:
            return self._price(usage, provider, model, at, service_tier, processing, region, request_model)
        except Exception as exc:  # the promise is "never raises": say what broke instead
            return self._unpriced(provider, model, f"internal pricing error: {type(exc).__name__}: {exc}", [], usage)

    def _version(self) -> str:
        return self.data.version + (f"+pricebook-{self.book.digest}" if self.book is not None else "")

    def _unpriced(self, provider: Any, model: Any, reason: str, flags: list[str], usage: Any) -> Cost:
        return Cost(
            ZERO,
            ZERO,
            "unpriced",
            data_version=self._version(),
            unpriced_reason=reason,
            provider=billing_provider(str(provider or "")) or None,
            model=model if isinstance(model, str) else None,
            flags=tuple(flags),
            estimated=bool(getattr(usage, "estimated", False)),
        )

    def _price(
        self,
        usage: Usage,
        provider: str,
        model: str | None,
        at: Any,
        service_tier: str | None,
        processing: str | None,
        region: str | None,
        request_model: str | None,
    ) -> Cost:
        flags: list[str] = []
        if not ((usage.__class__ is Usage and usage.input_tokens is not None) or reported(usage)):
            if not isinstance(usage, Usage) and usage is not None:
                return self._unpriced(
                    provider, model, f"usage must be a Usage, got {type(usage).__name__}", flags, usage
                )
            # A failed call (or any call) that reports no usage costs nothing.
            return Cost(
                ZERO,
                ZERO,
                "list",
                data_version=self._version(),
                provider=billing_provider(provider or ""),
                model=model or request_model,
                flags=("no_usage",),
                estimated=bool(usage and usage.estimated),
            )
        if not provider or not isinstance(provider, str):
            return self._unpriced(provider, model, "no provider: set gen_ai.provider.name", flags, usage)
        if not isinstance(model, str):
            model = None
        if not isinstance(request_model, str):
            request_model = None
        if at.__class__ is int and _NS_FAST_MIN <= at < _NS_FAST_MAX and at % _NS_PER_DAY < _NS_DAY_SAFE:
            # Hot path (the processor prices by span start, epoch ns): the day without a datetime.
            # Near the end of a day the datetime (rounded to microseconds) may already be the next
            # day: that case takes the general path so the day is always the one it gives.
            day = at // _NS_PER_DAY
            when: datetime | None = None
        else:
            try:
                when = at if (at.__class__ is datetime and at.tzinfo is not None) else _to_datetime(at)
            except (TypeError, ValueError, OverflowError, OSError) as exc:
                return self._unpriced(provider, model, f"invalid call time {at!r}: {exc}", flags, usage)
            day = (when - _EPOCH).days
        rates: Rates | None = None
        if model:
            # Hot path: a cached day-keyed Rates is one dict lookup (RateCache.get handles misses).
            hit = self.cache._by_day.get((provider, model, service_tier, processing, region, day))
            if isinstance(hit, Rates):
                rates = hit
            else:
                when = when or _to_datetime(at)
                rates = self.cache.get((provider, model, service_tier, processing, region), when, day)
        if (rates is None or rates.unpriced_reason) and request_model and request_model != model:
            when = when or _to_datetime(at)
            alt = self.cache.get((provider, request_model, service_tier, processing, region), when, day)
            if not alt.unpriced_reason:
                flags.append("priced_by_request_model")
                rates = alt
        if rates is None:
            return self._unpriced(
                provider, model, "no model: set gen_ai.response.model or gen_ai.request.model", flags, usage
            )
        flags.extend(rates.flags)
        if rates.unpriced_reason:
            return self._unpriced(provider, rates.model, rates.unpriced_reason, flags, usage)

        acc = _Acc()
        _add_request(acc, rates, normalize(usage, flags), None, flags)
        for it in usage.iterations:
            it_rates = rates
            it_model = None
            if it.kind == "advisor" and not it.model:
                flags.append("advisor_model_missing")
            if it.model and it.model != model and it.model != rates.model:
                when = when or _to_datetime(at)
                it_rates = self.cache.get((provider, it.model, service_tier, processing, region), when, day)
                if it_rates.unpriced_reason:
                    return self._unpriced(
                        provider,
                        rates.model,
                        f"{it.kind} iteration: {it_rates.unpriced_reason}",
                        flags,
                        usage,
                    )
                it_model = it_rates.model
            _add_request(acc, it_rates, normalize(it, flags), it_model, flags)
        return _cost(  # Cost(...) field order
            acc.total,
            acc.list_total,
            rates.source,
            tuple(acc.rows),
            acc.savings,
            rates.data_version,
            None,
            rates.billing,
            rates.model,
            tuple(flags),
            usage.estimated,
            acc.premium,
        )


_DEFAULT: Pricer | None = None


def pricer_for(book: PriceBook | None) -> Pricer:
    """The shared Pricer for ``book`` (one per book object, plus one for list prices)."""
    global _DEFAULT
    if book is None:
        if _DEFAULT is None:
            _DEFAULT = Pricer()
        return _DEFAULT
    if book._pricer is None:
        data = PriceData.from_file(book.data_file) if book.data_file else bundled()
        book._pricer = Pricer(data, book)
    pricer: Pricer = book._pricer
    return pricer


def price(
    usage: Usage,
    *,
    provider: str,
    model: str | None,
    at: datetime | date | int | float | str,
    service_tier: str | None = None,
    processing: str | None = None,
    region: str | None = None,
    book: PriceBook | None = None,
    request_model: str | None = None,
) -> Cost:
    """Price one call: Decimal USD per bucket, list vs effective, source, cache savings, data version.

    ``provider`` is a ``gen_ai.provider.name`` value; ``model`` the response model (the dated
    snapshot), ``request_model`` the alias asked for, used only when ``model`` is unknown.
    ``at`` is the call's start (aware datetime; naive means UTC; epoch ns/s accepted).
    Never raises: bad input is normalized and flagged; what cannot be priced is ``unpriced``
    with ``unpriced_reason``, never a silent $0.
    """
    try:
        pricer = _DEFAULT if book is None and _DEFAULT is not None else pricer_for(book)
    except Exception as exc:
        return Cost(
            ZERO,
            ZERO,
            "unpriced",
            unpriced_reason=f"price data unavailable: {exc}",
            provider=billing_provider(str(provider or "")),
            model=model,
        )
    return pricer.price(
        usage,
        provider=provider,
        model=model,
        at=at,
        service_tier=service_tier,
        processing=processing,
        region=region,
        request_model=request_model,
    )
