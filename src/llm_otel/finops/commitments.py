"""Committed capacity (provisioned throughput, reserved tiers): fee, utilization, idle cost, team shares.

The price book's ``committed`` entries say what a commitment costs (``fee_per_hour``, billed
whether used or not), when it is in force (``start``/``end``, whole UTC days) and, optionally,
what it can serve (``capacity_tokens_per_minute``). The ledger says which calls it served: the
pricing engine flags each of them ``committed:<name>``. This module joins the two, hour by hour:

- **fee** = ``fee_per_hour`` x hours of the period the commitment was in force;
- **utilization** (only when the book states a capacity) = sum over hours of
  ``min(tokens served, capacity)`` / sum of capacity; tokens are all billed tokens of the call
  (inclusive input + output, iterations included) — an hour above capacity does not fill another;
- **idle cost** = the fee of the unused capacity, hour by hour: ``fee_per_hour x (1 - min(1,
  tokens / capacity))``; without a stated capacity an hour is idle when the commitment served no
  call in it (``idle_basis`` says which rule applied);
- **team shares**: each hour's used fee (fee - idle) is split among the calls of that hour in
  proportion to their **list-cost equivalent** (what the tokens would cost at list price, which
  weights output and cache reads the way the provider does), then summed per team. Idle cost
  stays unallocated: it belongs to whoever bought the commitment.

The same hourly arithmetic amortizes the fee over the FOCUS usage rows (``finops.focus``) so the
report, the metrics and the export agree. Money is Decimal. What is split is the hour's used
fraction (quantized to 1e-12 hour, the rounding remainder to the largest share, so shares sum
exactly to it); a share's fee is ``fee_per_hour x`` its hours, an exact product, so allocations
plus idle cost sum exactly to the fee.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Callable, Hashable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

from llm_otel.pricing.book import Committed, Match, PriceBook, Window
from llm_otel.processor.ledger import CallRow

HOUR_NS = 3600 * 10**9
ZERO = Decimal(0)
ONE = Decimal(1)
QUANTUM = Decimal("1e-12")
UNATTRIBUTED = "unattributed"
_NO_MATCH, _NO_WINDOW = Match(), Window()  # placeholders for a commitment the book no longer has

METRIC_FEE = "llm_commitment_fee_usd"
METRIC_UTILIZATION = "llm_commitment_utilization_ratio"
METRIC_IDLE = "llm_commitment_idle_cost_usd"
METRIC_ALLOCATED = "llm_commitment_allocated_cost_usd"
METRIC_SHARE = "llm_commitment_team_share_ratio"


def commitment_of(call: CallRow) -> str | None:
    """The commitment that priced this call (from the pricing flag ``committed:<name>``), else None."""
    if call.cost_source != "committed":
        return None
    for flag in (call.flags or "").split(","):
        if flag.startswith("committed:"):
            return flag[len("committed:"):]
    return None


def billed_tokens(call: CallRow) -> int:
    """Every token the call was billed for: inclusive input + output, Anthropic iterations included."""
    return sum(int(b["quantity"]) for b in json.loads(call.cost_buckets or "[]"))


def _ns(t: datetime | int) -> int:
    return t if isinstance(t, int) else int(t.timestamp()) * 10**9 + t.microsecond * 1000


def in_force_hours(c: Committed | None, since: datetime | int, until: datetime | int) -> dict[int, Decimal]:
    """Hour start (ns) -> fraction of that hour inside both the period and the commitment's window."""
    lo, hi = _ns(since), _ns(until)
    if c is not None and c.window.start is not None:
        lo = max(lo, _ns(datetime(c.window.start.year, c.window.start.month, c.window.start.day,
                                  tzinfo=timezone.utc)))
    if c is not None and c.window.end is not None:
        end = datetime(c.window.end.year, c.window.end.month, c.window.end.day, tzinfo=timezone.utc)
        hi = min(hi, _ns(end + timedelta(days=1)))
    out: dict[int, Decimal] = {}
    h = lo - lo % HOUR_NS
    while h < hi:
        overlap = min(h + HOUR_NS, hi) - max(h, lo)
        if overlap > 0:
            out[h] = ONE if overlap == HOUR_NS else (Decimal(overlap) / HOUR_NS).quantize(QUANTUM)
        h += HOUR_NS
    return out


@dataclass
class Use:
    """What a commitment served for one key (a team, a FOCUS row) in one hour, or in total."""

    calls: int = 0
    tokens: int = 0
    list_cost: Decimal = ZERO  # list-cost equivalent of the tokens
    marginal: Decimal = ZERO  # what the ledger charged per call (marginal/overage price; zero by default)

    def add(self, call: CallRow, tokens: int) -> None:
        self.calls += 1
        self.tokens += tokens
        self.list_cost += call.list_cost_total
        self.marginal += call.cost_total


def split_exactly(total: Decimal, weights: dict[Hashable, Decimal]) -> dict[Hashable, Decimal]:
    """``total`` split in proportion to ``weights``; quantized, remainder to the largest weight: sums exactly.

    Equal shares when every weight is zero."""
    if not weights:
        return {}
    s = sum(weights.values(), ZERO)
    keys = sorted(weights, key=lambda k: (weights[k], str(k)))
    if s == 0:
        weights = {k: ONE for k in keys}
        s = Decimal(len(keys))
    out = {k: (total * weights[k] / s).quantize(QUANTUM) for k in keys[:-1]}
    out[keys[-1]] = total - sum(out.values(), ZERO)
    return out


@dataclass
class Amortized:
    """The hourly arithmetic for one commitment over one period."""

    hours: dict[int, Decimal]  # hour -> fraction in force
    idle_hours: dict[int, Decimal]  # hour -> idle fraction (fee-equivalent hours unused)
    capacity: dict[int, Decimal]  # hour -> capacity tokens (empty without a stated capacity)
    used_capacity: dict[int, Decimal]  # hour -> min(tokens, capacity)
    used_hours: dict[tuple[int, Hashable], Decimal]  # (hour, key) -> share of that hour's used fraction
    fee_per_hour: Decimal = ZERO

    def allocated_fee(self, hour: int, key: Hashable) -> Decimal:
        """The key's share of the hour's used fee: ``fee_per_hour x`` its used hours (an exact product)."""
        return self.fee_per_hour * self.used_hours.get((hour, key), ZERO)


def amortize(c: Committed, hours: dict[int, Decimal], usage: dict[int, dict[Hashable, Use]]) -> Amortized:
    """Idle and used fee per hour, and each key's share of the used fee (see module docstring)."""
    out = Amortized(hours, {}, {}, {}, {}, c.fee_per_hour)
    for h, frac in hours.items():
        keys = usage.get(h, {})
        tokens = sum((u.tokens for u in keys.values()), 0)
        if c.capacity_tokens_per_minute is not None:
            cap = c.capacity_tokens_per_minute * 60 * frac
            used = min(Decimal(tokens), cap)
            out.capacity[h], out.used_capacity[h] = cap, used
            idle = (frac * (ONE - used / cap)).quantize(QUANTUM) if cap else ZERO
        else:
            idle = frac if not keys else ZERO
        out.idle_hours[h] = idle
        weights: dict[Hashable, Decimal] = {k: u.list_cost for k, u in keys.items()}
        if weights and not any(weights.values()):
            weights = {k: Decimal(u.tokens) for k, u in keys.items()}
        for k, share in split_exactly(frac - idle, weights).items():
            out.used_hours[(h, k)] = share
    return out


def hourly_usage(
    calls: Iterable[CallRow], key: Any = lambda call: call.team or UNATTRIBUTED
) -> dict[str, dict[int, dict[Hashable, Use]]]:
    """Committed calls by commitment name -> hour -> key (default: team) -> Use."""
    out: dict[str, dict[int, dict[Hashable, Use]]] = {}
    for call in calls:
        name = commitment_of(call)
        if name is None:
            continue
        h = call.start_ns - call.start_ns % HOUR_NS
        u = out.setdefault(name, {}).setdefault(h, {}).setdefault(key(call), Use())
        u.add(call, billed_tokens(call))
    return out


@dataclass
class TeamShare:
    team: str
    use: Use
    share: float  # of the commitment's used fee
    allocated_fee: Decimal


@dataclass
class CommitmentResult:
    name: str
    in_book: bool
    provider: str | None
    model: str | None
    service_tier: str | None
    fee_per_hour: Decimal
    hours_in_force: Decimal
    fee: Decimal
    capacity_tokens_per_minute: Decimal | None
    capacity_tokens: Decimal | None
    use: Use
    active_hours: int
    idle_hours: Decimal
    idle_cost: Decimal
    utilization: float | None
    teams: list[TeamShare] = field(default_factory=list)

    @property
    def idle_basis(self) -> str:
        return "capacity" if self.capacity_tokens_per_minute is not None else "hours_without_calls"

    @property
    def used_fee(self) -> Decimal:
        return self.fee - self.idle_cost

    @property
    def net_savings(self) -> Decimal:
        """List price of what was served minus what it cost (fee + marginal): negative = the commitment lost money."""
        return self.use.list_cost - self.use.marginal - self.fee


def analyze(
    committed: Sequence[Committed], calls: Iterable[CallRow], since: datetime | int, until: datetime | int
) -> list[CommitmentResult]:
    """One result per commitment in force during the period (or that served calls in it), book order."""
    usage = hourly_usage(calls)
    out = []
    by_name = {c.name: c for c in committed}
    names = [c.name for c in committed] + sorted(n for n in usage if n not in by_name)
    for name in names:
        c = by_name.get(name)
        hours = in_force_hours(c, since, until) if c is not None else {}
        used_hours = usage.get(name, {})
        if c is None:  # a commitment the ledger names but the book no longer has: usage without a fee
            c = Committed(name, _NO_MATCH, _NO_WINDOW, ZERO, ZERO, {}, 0)
            hours = {h: ONE for h in used_hours}
        if not hours and not used_hours:
            continue
        am = amortize(c, hours, used_hours)
        total = Use()
        teams: dict[str, Use] = {}
        for per_key in used_hours.values():
            for team, u in per_key.items():
                for acc in (total, teams.setdefault(str(team), Use())):
                    acc.calls += u.calls
                    acc.tokens += u.tokens
                    acc.list_cost += u.list_cost
                    acc.marginal += u.marginal
        allocated: dict[str, Decimal] = {}
        for (h, team) in am.used_hours:
            allocated[str(team)] = allocated.get(str(team), ZERO) + am.allocated_fee(h, team)
        hours_total = sum(hours.values(), ZERO)
        idle_hours = sum(am.idle_hours.values(), ZERO)
        fee = c.fee_per_hour * hours_total
        idle_cost = c.fee_per_hour * idle_hours
        used_fee = fee - idle_cost
        cap_total = sum(am.capacity.values(), ZERO) if c.capacity_tokens_per_minute is not None else None
        utilization = (
            float(sum(am.used_capacity.values(), ZERO) / cap_total) if cap_total else None
        )
        result = CommitmentResult(
            name=name, in_book=name in by_name, provider=c.match.provider, model=c.match.model,
            service_tier=c.match.service_tier, fee_per_hour=c.fee_per_hour, hours_in_force=hours_total, fee=fee,
            capacity_tokens_per_minute=c.capacity_tokens_per_minute, capacity_tokens=cap_total, use=total,
            active_hours=sum(1 for h in hours if used_hours.get(h)), idle_hours=idle_hours, idle_cost=idle_cost,
            utilization=utilization,
        )
        for team in sorted(teams, key=lambda t: allocated.get(t, ZERO), reverse=True):
            a = allocated.get(team, ZERO)
            result.teams.append(TeamShare(team, teams[team], float(a / used_fee) if used_fee else 0.0, a))
        out.append(result)
    return out


def money(value: Decimal) -> str:
    return f"{value.quantize(Decimal('1e-9')):f}"


def result_json(r: CommitmentResult) -> dict[str, Any]:
    """The ``commitments`` entries of the report JSON (docs/finops.md)."""
    return {
        "name": r.name,
        "in_pricebook": r.in_book,
        "match": {"provider": r.provider, "model": r.model, "service_tier": r.service_tier},
        "fee_per_hour_usd": money(r.fee_per_hour),
        "hours_in_force": float(r.hours_in_force),
        "fee_usd": money(r.fee),
        "capacity_tokens_per_minute": None if r.capacity_tokens_per_minute is None
        else float(r.capacity_tokens_per_minute),
        "capacity_tokens": None if r.capacity_tokens is None else float(r.capacity_tokens),
        "calls": r.use.calls,
        "tokens": r.use.tokens,
        "utilization": None if r.utilization is None else round(r.utilization, 6),
        "active_hours": r.active_hours,
        "idle_hours": float(r.idle_hours),
        "idle_basis": r.idle_basis,
        "idle_cost_usd": money(r.idle_cost),
        "used_fee_usd": money(r.used_fee),
        "marginal_cost_usd": money(r.use.marginal),
        "list_equivalent_usd": money(r.use.list_cost),
        "net_savings_usd": money(r.net_savings),
        "teams": [
            {
                "team": t.team,
                "calls": t.use.calls,
                "tokens": t.use.tokens,
                "list_equivalent_usd": money(t.use.list_cost),
                "marginal_cost_usd": money(t.use.marginal),
                "share": round(t.share, 6),
                "allocated_fee_usd": money(t.allocated_fee),
            }
            for t in r.teams
        ],
    }


# --- metrics -------------------------------------------------------------------------------


@dataclass(frozen=True)
class GaugeSample:
    name: str
    labels: dict[str, str]
    value: float


def gauge_samples(results: Iterable[CommitmentResult]) -> list[GaugeSample]:
    """The commitment gauges (docs/metrics.md) for one period's results, as plain samples."""
    out: list[GaugeSample] = []
    for r in results:
        label = {"commitment": r.name}
        out.append(GaugeSample(METRIC_FEE, label, float(r.fee)))
        out.append(GaugeSample(METRIC_IDLE, label, float(r.idle_cost)))
        if r.utilization is not None:
            out.append(GaugeSample(METRIC_UTILIZATION, label, r.utilization))
        for t in r.teams:
            team = {"commitment": r.name, "team": t.team}
            out.append(GaugeSample(METRIC_ALLOCATED, team, float(t.allocated_fee)))
            out.append(GaugeSample(METRIC_SHARE, team, t.share))
    return out


def month_to_date(ledger: Any, book: PriceBook, now: datetime | None = None) -> list[CommitmentResult]:
    """Results for the current UTC month up to ``now``, read from an open ledger."""
    now = now or datetime.now(timezone.utc)
    start = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    return analyze(book.committed, ledger.iter_calls(start, now), start, now)


def commitment_gauges(ledger: Any, book: PriceBook, now: datetime | None = None) -> list[GaugeSample]:
    """The gauges for the month to date: what a processor sets (or what ``CommitmentCollector`` serves)."""
    return gauge_samples(month_to_date(ledger, book, now)) if book.committed else []


HELP = {
    METRIC_FEE: "Committed-capacity fee this month so far, USD (fee_per_hour x hours in force).",
    METRIC_IDLE: "Fee of the unused committed capacity this month so far, USD.",
    METRIC_UTILIZATION: "Committed tokens served / committed capacity this month so far (price book capacity).",
    METRIC_ALLOCATED: "Used committed fee this month allocated to a team by list-cost equivalent, USD.",
    METRIC_SHARE: "A team's share of the used committed fee this month.",
}


class CommitmentCollector:
    """A prometheus_client collector for the commitment gauges, month to date.

    The processor registers it (``registry.register(CommitmentCollector(ledger, book))``). A scrape
    recomputes at most every ``refresh_s`` seconds (it reads the month's committed calls from the
    ledger); between refreshes it serves the last values. Never raises from ``collect``: a ledger
    error keeps the previous values.
    """

    def __init__(
        self, ledger: Any, book: PriceBook, *, refresh_s: float = 300.0, clock: Callable[[], datetime] | None = None
    ) -> None:
        self._ledger, self._book, self._refresh_s = ledger, book, refresh_s
        self._clock = clock or (lambda: datetime.now(timezone.utc))
        self._lock = threading.Lock()
        self._samples: list[GaugeSample] = []
        self._at = float("-inf")

    def samples(self) -> list[GaugeSample]:
        with self._lock:
            if time.monotonic() - self._at >= self._refresh_s:
                with contextlib.suppress(Exception):  # a scrape must not fail on a ledger hiccup
                    self._samples = commitment_gauges(self._ledger, self._book, self._clock())
                self._at = time.monotonic()
            return list(self._samples)

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import GaugeMetricFamily

        if not self._book.committed:
            return
        samples = self.samples()
        for name, labels in ((METRIC_FEE, ("commitment",)), (METRIC_IDLE, ("commitment",)),
                             (METRIC_UTILIZATION, ("commitment",)), (METRIC_ALLOCATED, ("commitment", "team")),
                             (METRIC_SHARE, ("commitment", "team"))):
            family = GaugeMetricFamily(name, HELP[name], labels=labels)
            for s in samples:
                if s.name == name:
                    family.add_metric([s.labels[k] for k in labels], s.value)
            yield family

    def describe(self) -> Iterator[Any]:
        return iter(())


def processor_plugin(ledger: Any, cfg: Any) -> CommitmentCollector | None:
    """The commitment gauges for ``llm-otel collector`` when its price book has committed capacity."""
    if not getattr(cfg, "pricebook", None):
        return None
    from llm_otel.pricing import load_pricebook

    book = load_pricebook(cfg.pricebook)
    return CommitmentCollector(ledger, book) if book.committed else None
