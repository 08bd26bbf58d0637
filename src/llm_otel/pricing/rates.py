"""Rates for one (provider, model, day, price context): resolved once, then plain Decimals.

Resolution is the slow part (genai-prices model matching, dated and context variants,
price book rules); ``resolve`` does it once and hands the engine flat per-token rates
for each long-context level. ``RateCache`` keys results by UTC day, and by segment of
the day for models whose prices change with the time of day.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from decimal import Decimal
from typing import Any

from genai_prices import types as gp_types

from llm_otel.pricing.book import PriceBook
from llm_otel.pricing.cost import (
    BUCKET_CACHE_READ,
    BUCKET_CACHE_WRITE_1H,
    BUCKET_CACHE_WRITE_5M,
    BUCKET_CACHE_WRITE_12H,
    BUCKET_CACHE_WRITE_30M,
    BUCKET_INPUT,
    BUCKET_OUTPUT,
    CostSource,
)
from llm_otel.pricing.data import PriceData
from llm_otel.pricing.providers import billing_provider, default_cache_ttl, price_context

UTC = timezone.utc

ZERO = Decimal(0)
ONE = Decimal(1)
BUCKET_REASONING = "output_reasoning"  # internal: only models that price reasoning apart from output
# Our buckets in breakdown order, with the genai-prices (or price book) key each is priced by.
BUCKET_KEYS: tuple[tuple[str, str], ...] = (
    (BUCKET_INPUT, "input_mtok"),
    (BUCKET_CACHE_READ, "cache_read_mtok"),
    (BUCKET_CACHE_WRITE_5M, "cache_write_5m_mtok"),
    (BUCKET_CACHE_WRITE_1H, "cache_write_1h_mtok"),
    (BUCKET_CACHE_WRITE_30M, "cache_write_30m_mtok"),
    (BUCKET_CACHE_WRITE_12H, "cache_write_12h_mtok"),
    (BUCKET_OUTPUT, "output_mtok"),
    (BUCKET_REASONING, "output_reasoning_mtok"),
)
TTL_BUCKET = {
    "5m": BUCKET_CACHE_WRITE_5M,
    "1h": BUCKET_CACHE_WRITE_1H,
    "30m": BUCKET_CACHE_WRITE_30M,
    "12h": BUCKET_CACHE_WRITE_12H,
}

Price = Decimal | gp_types.TieredPrices


# Index of each bucket in Level.rates (BUCKET_KEYS order).
BUCKET_INDEX = {bucket: i for i, (bucket, _) in enumerate(BUCKET_KEYS)}
RateRow = tuple[Decimal, Decimal, Decimal, Decimal, bool]


@dataclass(frozen=True, slots=True)
class Level:
    """Flat rates that apply while inclusive input is above ``above`` (a long-context cliff) or always."""

    above: int  # -1 for the base level
    label: str | None  # ">200k" on re-rated levels
    # Per bucket (BUCKET_KEYS order): (effective per MTok, effective per token, list per MTok, list per token,
    # effective == list); None for the reasoning bucket unless the model prices reasoning apart.
    rates: tuple[RateRow | None, ...]


@dataclass(frozen=True, slots=True)
class Rates:
    """Everything the engine needs to price calls to one model in one price context on one day."""

    billing: str
    model: str
    source: CostSource
    data_version: str
    levels: tuple[Level, ...] = ()  # ascending ``above``
    default_ttl_index: int = 2  # BUCKET_INDEX of the TTL unsplit cache writes are billed at
    fallback_buckets: frozenset[str] = frozenset()  # priced at a parent rate (no own rate anywhere)
    flags: tuple[str, ...] = ()
    unpriced_reason: str | None = None
    time_bounds: tuple[int, ...] = ()  # seconds of the UTC day where these rates may change

    def level(self, inclusive_input: int) -> Level:
        """The level a request falls in: cliffs are judged per request on inclusive input."""
        levels = self.levels
        chosen = levels[0]
        for lv in levels[1:]:
            if inclusive_input > lv.above:
                chosen = lv
            else:
                break
        return chosen


@dataclass(frozen=True, slots=True)
class Query:
    """What a call asks to be priced as (the cache key, minus the time)."""

    provider: str
    model: str
    service_tier: str | None
    processing: str | None
    region: str | None


def resolve(q: Query, at: datetime, data: PriceData, book: PriceBook | None) -> Rates:
    """Resolve rates for ``q`` at ``at``. Never raises for unknown models or contexts: unpriced Rates."""
    billing = billing_provider(q.provider)
    version = data.version + (f"+pricebook-{book.digest}" if book is not None else "")
    flags: list[str] = []
    model_ref = q.model.strip()
    target_billing, target_model = billing, model_ref
    if book is not None and (alias := book.alias(q.provider.lower(), billing, model_ref.lower())) is not None:
        target_billing, target_model = alias.provider or billing, alias.model
        flags.append(f"priced_like:{target_model}")
    own_variants = True
    info: gp_types.ModelInfo | None = book.custom_model(target_billing, target_model) if book is not None else None
    if info is None:
        found = data.find(target_billing, target_model)
        if found is None:
            return Rates(
                billing,
                model_ref,
                "unpriced",
                version,
                unpriced_reason=(
                    f"unknown model {model_ref!r} for provider {billing!r} in {data.version}; "
                    "add it to the price book (models or aliases)"
                ),
            )
        gp_provider, info = found
        own_variants = any(info is m for m in gp_provider.models)
    model_id = info.id
    ctx = price_context(target_billing, q.service_tier, q.processing)
    ctx_dict = dict(ctx)
    std: gp_types.ModelPrice = info.get_prices(at, ctx_dict if own_variants else None)
    raw: dict[str, Price | None] = {key: getattr(std, key, None) for _, key in BUCKET_KEYS}
    raw["cache_write_mtok"] = getattr(std, "cache_write_mtok", None)
    if raw["input_mtok"] is None and raw["output_mtok"] is None:
        return Rates(
            billing,
            model_id,
            "unpriced",
            version,
            flags=tuple(flags),
            unpriced_reason=(
                f"{model_id!r} has no per-token prices in {data.version}; add them to the price book (models)"
            ),
        )

    covered = _covered_context(info, ctx, at) if own_variants else set()
    tier = (q.service_tier or "default").strip().lower()
    processing = (q.processing or "standard").strip().lower()
    region = (q.region or "").strip().lower()
    names = (model_ref.lower(), model_id.lower(), target_model.lower())
    day = _utc_day(at)
    uplift = ONE
    if book is not None:
        for rule in book.rates:
            if rule.window.active(day) and rule.match.matches(
                q.provider.lower(), billing, names, tier, region, processing
            ):
                raw.update(rule.prices)
                if rule.uplift is not None:
                    uplift *= rule.uplift
                    flags.append(f"uplift:{rule.uplift}")
                covered |= _rule_covers(rule.match, ctx)
    committed = contract = None
    if book is not None:
        committed = next(
            (
                c
                for c in book.committed
                if c.window.active(day)
                and c.match.matches(q.provider.lower(), billing, names, tier, region, processing)
            ),
            None,
        )
        if committed is None:
            contract = next(
                (
                    c
                    for c in book.contracts
                    if c.window.active(day)
                    and c.match.matches(q.provider.lower(), billing, names, tier, region, processing)
                ),
                None,
            )
        if committed is not None:
            covered |= _rule_covers(committed.match, ctx)
    missing = [f"{k}={v}" for k, v in ctx if (k, v) not in covered]
    if missing:
        return Rates(
            billing,
            model_id,
            "unpriced",
            version,
            flags=tuple(flags),
            unpriced_reason=(
                f"no {', '.join(missing)} prices for {model_id!r} ({target_billing}) in {data.version}; "
                "add a rates rule for it to the price book"
            ),
        )

    list_rates, fallbacks = _bucket_prices(raw)
    if uplift != ONE:
        list_rates = {b: _scale(p, uplift) for b, p in list_rates.items()}
    source: CostSource = "list"
    eff_rates = list_rates
    if committed is not None:
        source = "committed"
        flags.append(f"committed:{committed.name}")
        if committed.marginal_prices:
            marg, _ = _bucket_prices({k: committed.marginal_prices.get(k) for k in raw}, zero_missing=True)
            if BUCKET_REASONING in list_rates:
                marg.setdefault(BUCKET_REASONING, marg[BUCKET_OUTPUT])
            eff_rates = marg
        else:
            eff_rates = {b: _scale(p, committed.marginal_multiplier) for b, p in list_rates.items()}
    elif contract is not None:
        source = "contract"
        flags.append(f"contract:{contract.name}")
        eff_rates = {b: _scale(p, contract.multiplier(_contract_bucket(b))) for b, p in list_rates.items()}
    return Rates(
        billing,
        model_id,
        source,
        version,
        _levels(list_rates, eff_rates),
        default_ttl_index=BUCKET_INDEX[TTL_BUCKET[default_cache_ttl(billing)]],
        fallback_buckets=frozenset(fallbacks),
        flags=tuple(flags),
        time_bounds=_time_boundaries(info),
    )


def _contract_bucket(bucket: str) -> str:
    return BUCKET_OUTPUT if bucket == BUCKET_REASONING else bucket


def _bucket_prices(raw: dict[str, Any], zero_missing: bool = False) -> tuple[dict[str, Price], list[str]]:
    """Our buckets' prices, each falling back to its parent's like genai-prices' unit tree does."""

    def get(key: str) -> Price | None:
        value: Price | None = raw.get(key)
        return value

    inp = get("input_mtok") or ZERO
    cw = get("cache_write_mtok")
    cw_or_input = cw if cw is not None else inp
    out: dict[str, Price] = {
        BUCKET_INPUT: inp,
        BUCKET_CACHE_READ: _first(get("cache_read_mtok"), ZERO if zero_missing else inp),
        BUCKET_OUTPUT: get("output_mtok") or ZERO,
    }
    fallbacks: list[str] = []
    for bucket, key in BUCKET_KEYS[2:6]:
        own = get(key)
        if own is None and bucket in (BUCKET_CACHE_WRITE_30M, BUCKET_CACHE_WRITE_12H):
            fallbacks.append(bucket)
        out[bucket] = _first(own, ZERO if zero_missing else cw_or_input)
    if (reasoning := get("output_reasoning_mtok")) is not None:
        out[BUCKET_REASONING] = reasoning
    return out, fallbacks


def _first(a: Price | None, b: Price) -> Price:
    return a if a is not None else b


def _scale(p: Price, factor: Decimal) -> Price:
    if isinstance(p, gp_types.TieredPrices):
        return gp_types.TieredPrices(p.base * factor, [gp_types.Tier(t.start, t.price * factor) for t in p.tiers])
    return p * factor


def _at_input(p: Price, inclusive_input: int) -> Decimal:
    """genai-prices' cliff rule: the highest tier whose start the request's input exceeds, for all tokens."""
    if not isinstance(p, gp_types.TieredPrices):
        return p
    price = p.base
    for t in reversed(p.tiers):
        if inclusive_input > t.start:
            return t.price
    return price


def _levels(list_rates: dict[str, Price], eff_rates: dict[str, Price]) -> tuple[Level, ...]:
    starts = sorted(
        {
            t.start
            for p in (*list_rates.values(), *eff_rates.values())
            if isinstance(p, gp_types.TieredPrices)
            for t in p.tiers
        }
    )
    levels = []
    for above in (-1, *starts):
        probe = above + 1
        rows: list[RateRow | None] = []
        for b, _ in BUCKET_KEYS:
            if b not in list_rates:
                rows.append(None)
                continue
            eff, lst = _at_input(eff_rates[b], probe), _at_input(list_rates[b], probe)
            eff_t = eff.scaleb(-6)
            rows.append((eff, eff_t, lst, eff_t if lst == eff else lst.scaleb(-6), lst == eff))
        label = None if above < 0 else (f">{above // 1000}k" if above % 1000 == 0 else f">{above}")
        levels.append(Level(above, label, tuple(rows)))
    return tuple(levels)


def _covered_context(info: gp_types.ModelInfo, ctx: tuple[tuple[str, str], ...], at: datetime) -> set[tuple[str, str]]:
    """Context items the price data has a variant for (in force at ``at``)."""
    covered: set[tuple[str, str]] = set()
    ctx_items = set(ctx)
    for v in info.price_variants or ():
        if v.constraint is not None and not v.constraint.active(at):
            continue
        items = set(v.when.items())
        if items <= ctx_items:
            covered |= items
    return covered


def _rule_covers(match: Any, ctx: tuple[tuple[str, str], ...]) -> set[tuple[str, str]]:
    """A book rule keyed on a tier or processing mode supplies prices for that context."""
    out = set()
    for k, v in ctx:
        if (
            (k == "service_tier" and match.service_tier == v)
            or (k == "processing" and match.processing == v)
            or (k == "speed" and v == "fast" and "fast" in (match.service_tier, match.processing))
        ):
            out.add((k, v))
    return out


def _utc_day(at: datetime) -> date:
    return at.astimezone(UTC).date() if at.tzinfo is not None else at.date()


# --- cache --------------------------------------------------------------------------


def _time_boundaries(info: gp_types.ModelInfo) -> tuple[int, ...]:
    """Seconds of the UTC day where this model's prices may change (time-of-day pricing), sorted."""
    constraints: list[Any] = []
    if isinstance(info.prices, list):
        constraints += [c.constraint for c in info.prices]
    constraints += [v.constraint for v in info.price_variants or ()]
    secs: set[int] = set()
    for c in constraints:
        if isinstance(c, gp_types.TimeOfDateConstraint):
            for t in (c.start_time, c.end_time):
                u = gp_types._utc_timetz(t)
                secs.add(u.hour * 3600 + u.minute * 60 + u.second)
    return tuple(sorted(secs))


def _seconds(at: datetime) -> int:
    u = at.astimezone(UTC) if at.tzinfo is not None else at
    return u.hour * 3600 + u.minute * 60 + u.second


@dataclass(eq=False)
class RateCache:
    """Rates per (query, UTC day[, time-of-day segment]). Bounded; cleared wholesale when full."""

    data: PriceData
    book: PriceBook | None = None
    max_entries: int = 50_000
    _by_day: dict[tuple[Any, ...], Rates | tuple[tuple[int, ...], dict[int, Rates]]] = field(default_factory=dict)

    def get(self, key: tuple[str, str, str | None, str | None, str | None], at: datetime, day_number: int) -> Rates:
        """Rates for ``key`` = (provider, model, service_tier, processing, region) at ``at``.

        ``day_number`` is days since the epoch (UTC). Hot path: one dict lookup on a hit.
        """
        entry = self._by_day.get((*key, day_number))
        if entry is None:
            if len(self._by_day) >= self.max_entries:
                self._by_day.clear()
            rates = resolve(Query(*key), at, self.data, self.book)
            if not rates.time_bounds:
                self._by_day[(*key, day_number)] = rates
                return rates
            # Time-of-day pricing: never cache by day alone; cache per segment of the day.
            entry = self._by_day[(*key, day_number)] = (rates.time_bounds, {})
            entry[1][bisect.bisect_right(rates.time_bounds, _seconds(at))] = rates
            return rates
        if isinstance(entry, Rates):
            return entry
        bounds, segments = entry
        seg = bisect.bisect_right(bounds, _seconds(at))
        found = segments.get(seg)
        if found is None:
            found = segments[seg] = resolve(Query(*key), at, self.data, self.book)
        return found
