"""FOCUS 1.3 cost-and-usage rows from the ledger, for finance's existing FinOps tools.

One row per charge period x SKU price (model x token bucket x context tier x service
tier x unit price) x allocation tags (team, task type, agent) — never one per call.
Money is Decimal end to end and written unrounded, so ``ListCost = ListUnitPrice x
PricingQuantity`` (and the contracted twin) hold exactly on every row.

``SkuPriceDetails`` carries the FOCUS 1.5-draft AI keys (ModelId, ModelFamily,
ModelDeveloper, TokenDirection, TokenCacheAction). The deprecated 1.0 columns
ProviderName and PublisherName are still written beside ServiceProviderName and
HostProviderName so 1.0-era validators and tools read the file.

Unpriced calls have no unit price, so they cannot be FOCUS rows; they are counted and
reported (``FocusExport.unpriced_calls``) rather than written with an invented price.
"""

from __future__ import annotations

import calendar
import csv
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

from llm_otel.finops.commitments import HOUR_NS, Amortized, Use, amortize, commitment_of, in_force_hours
from llm_otel.pricing.book import Committed
from llm_otel.pricing.providers import billing_provider
from llm_otel.processor.ledger import CallRow

MTOK = Decimal(1_000_000)
FOCUS_VERSION = "1.3"

SERVICES = {  # billing provider -> (ServiceName, ServiceProviderName, InvoiceIssuerName)
    "openai": ("OpenAI API", "OpenAI", "OpenAI"),
    "anthropic": ("Claude API", "Anthropic", "Anthropic"),
    "azure": ("Azure OpenAI", "Microsoft", "Microsoft"),
    "aws": ("Amazon Bedrock", "AWS", "AWS"),
    "google": ("Vertex AI", "Google Cloud", "Google Cloud"),
}
DEVELOPERS = (("claude", "Anthropic"), ("gpt", "OpenAI"), ("o1", "OpenAI"), ("o3", "OpenAI"), ("o4", "OpenAI"),
              ("text-embedding", "OpenAI"), ("gemini", "Google"), ("llama", "Meta"), ("mistral", "Mistral AI"))
METERS = {
    "input": ("Input Tokens", "Input", "None"),
    "cache_read": ("Cached Input Tokens", "Input", "Read"),
    "cache_write_5m": ("Cache Write Tokens (5 minutes)", "Input", "Write"),
    "cache_write_1h": ("Cache Write Tokens (1 hour)", "Input", "Write"),
    "cache_write_30m": ("Cache Write Tokens (30 minutes)", "Input", "Write"),
    "cache_write_12h": ("Cache Write Tokens (12 hours)", "Input", "Write"),
    "output": ("Output Tokens", "Output", "None"),
}
_DATE_SUFFIX = re.compile(r"-(\d{4}-\d{2}-\d{2}|\d{8})$")

COLUMNS = (
    "AvailabilityZone", "BilledCost", "BillingAccountId", "BillingAccountName", "BillingAccountType",
    "BillingCurrency", "BillingPeriodEnd", "BillingPeriodStart", "CapacityReservationId",
    "CapacityReservationStatus", "ChargeCategory", "ChargeClass", "ChargeDescription", "ChargeFrequency",
    "ChargePeriodEnd", "ChargePeriodStart", "CommitmentDiscountCategory", "CommitmentDiscountId",
    "CommitmentDiscountName", "CommitmentDiscountQuantity", "CommitmentDiscountStatus", "CommitmentDiscountType",
    "CommitmentDiscountUnit", "ConsumedQuantity", "ConsumedUnit", "ContractedCost", "ContractedUnitPrice",
    "EffectiveCost", "HostProviderName", "InvoiceId", "InvoiceIssuerName", "ListCost", "ListUnitPrice",
    "PricingCategory", "PricingCurrency", "PricingCurrencyContractedUnitPrice", "PricingCurrencyEffectiveCost",
    "PricingCurrencyListUnitPrice", "PricingQuantity", "PricingUnit", "ProviderName", "PublisherName",
    "RegionId", "RegionName", "ResourceId", "ResourceName", "ResourceType", "ServiceCategory", "ServiceName",
    "ServiceProviderName", "ServiceSubcategory", "SkuId", "SkuMeter", "SkuPriceDetails", "SkuPriceId",
    "SubAccountId", "SubAccountName", "SubAccountType", "Tags",
)
DECIMAL_COLUMNS = ("BilledCost", "CommitmentDiscountQuantity", "ConsumedQuantity", "ContractedCost",
                   "ContractedUnitPrice", "EffectiveCost",
                   "ListCost", "ListUnitPrice", "PricingCurrencyContractedUnitPrice",
                   "PricingCurrencyEffectiveCost", "PricingCurrencyListUnitPrice", "PricingQuantity")


def model_family(model: str) -> str:
    """The model id without its dated snapshot suffix (gpt-4o-mini-2024-07-18 -> gpt-4o-mini)."""
    return _DATE_SUFFIX.sub("", model)


def model_developer(model: str, provider: str) -> str:
    for prefix, developer in DEVELOPERS:
        if model.lower().startswith(prefix):
            return developer
    return SERVICES.get(provider, (provider, provider, provider))[1]


def _iso(dt: datetime) -> str:
    return dt.strftime("%Y-%m-%dT%H:%M:%SZ")


def _period(ns: int, granularity: str) -> tuple[datetime, datetime]:
    t = datetime.fromtimestamp(ns / 1e9, timezone.utc)
    if granularity == "hour":
        start = t.replace(minute=0, second=0, microsecond=0)
        return start, start + timedelta(hours=1)
    start = t.replace(hour=0, minute=0, second=0, microsecond=0)
    return start, start + timedelta(days=1)


def _billing_period(t: datetime) -> tuple[datetime, datetime]:
    start = t.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    days = calendar.monthrange(start.year, start.month)[1]
    return start, start + timedelta(days=days)


@dataclass
class _Acc:
    quantity: int = 0
    list_cost: Decimal = Decimal(0)
    cost: Decimal = Decimal(0)


@dataclass
class FocusExport:
    rows: list[dict[str, Any]] = field(default_factory=list)
    calls: int = 0
    unpriced_calls: int = 0
    unpriced_tokens: int = 0


def build_rows(calls: Iterable[CallRow], *, granularity: str = "day",
               billing_account: str | None = None, committed: Sequence[Committed] = (),
               since: datetime | None = None, until: datetime | None = None) -> FocusExport:
    """Aggregates priced calls into FOCUS rows (see module docstring).

    ``committed`` (the price book's commitments) with the exported period ``since``/``until``
    adds the commitment rows: a recurring Purchase row per charge period, the fee amortized into
    the EffectiveCost of the usage rows it served, and an Unused row for the idle part.
    """
    if granularity not in ("day", "hour"):
        raise ValueError(f"granularity must be 'day' or 'hour', got {granularity!r}")
    if committed and (since is None or until is None):
        raise ValueError("commitment rows need the exported period: pass since and until")
    acc: dict[tuple[Any, ...], _Acc] = {}
    hourly: dict[str, dict[int, dict[Any, Use]]] = {}  # commitment -> hour -> row key -> use
    out = FocusExport()
    for call in calls:
        out.calls += 1
        if call.cost_source == "unpriced":
            out.unpriced_calls += 1
            out.unpriced_tokens += (call.tokens_input or 0) + (call.tokens_cache_read or 0) + (
                call.tokens_cache_write or 0) + (call.tokens_output or 0)
            continue
        period = _period(call.start_ns, granularity)
        provider = call.billing_provider or call.provider
        commitment = commitment_of(call)
        hour = call.start_ns - call.start_ns % HOUR_NS
        for b in json.loads(call.cost_buckets or "[]"):
            if not b["quantity"]:
                continue
            model = b.get("model") or call.priced_model or call.model or "unknown"
            key = (period, provider, model, b["bucket"], b.get("context_tier"), call.service_tier,
                   Decimal(b["list_unit_price_per_mtok"]), Decimal(b["unit_price_per_mtok"]), call.cost_source,
                   call.team, call.task_type, call.agent_name, commitment)
            a = acc.get(key)
            if a is None:
                a = acc[key] = _Acc()
            a.quantity += int(b["quantity"])
            a.list_cost += Decimal(b["list_amount"])
            a.cost += Decimal(b["amount"])
            if commitment is not None:
                use = hourly.setdefault(commitment, {}).setdefault(hour, {}).setdefault(key, Use())
                use.tokens += int(b["quantity"])
                use.list_cost += Decimal(b["list_amount"])
                use.marginal += Decimal(b["amount"])
    by_name = {c.name: c for c in committed}
    amortized: dict[tuple[Any, ...], list[Decimal]] = {}  # row key -> [amortized fee, used hours]
    for name, c in by_name.items():
        assert since is not None and until is not None
        am = amortize(c, in_force_hours(c, since, until), hourly.get(name, {}))
        for (h, row_key), hours in am.used_hours.items():
            fee_hours = amortized.setdefault(tuple(row_key), [Decimal(0), Decimal(0)])  # type: ignore[arg-type]
            fee_hours[0] += am.allocated_fee(h, row_key)
            fee_hours[1] += hours
        out.rows.extend(commitment_rows(c, am, granularity, billing_account))
    for key, a in sorted(acc.items(), key=lambda kv: tuple(str(x) for x in kv[0])):
        row = _row(key, a, billing_account, by_name.get(key[-1] or ""))
        if key in amortized:
            row["EffectiveCost"] += amortized[key][0]
            row["PricingCurrencyEffectiveCost"] = row["EffectiveCost"]
            if row["CommitmentDiscountUnit"] == "Hours":
                row["CommitmentDiscountQuantity"] = amortized[key][1]
        out.rows.append(row)
    out.rows.sort(key=lambda r: (r["ChargePeriodStart"], r["ChargeCategory"] != "Purchase", r["SkuPriceId"]))
    return out


def _row(key: tuple[Any, ...], a: _Acc, billing_account: str | None,
         commitment: Committed | None = None) -> dict[str, Any]:
    ((start, end), provider, model, bucket, tier, service_tier, list_unit, unit, source,
     team, task_type, agent, commitment_name) = key
    service, service_provider, issuer = SERVICES.get(provider, (f"{provider} API", provider, provider))
    meter, direction, cache_action = METERS.get(bucket, (bucket, "Input", "None"))
    qty = Decimal(a.quantity) / MTOK
    list_cost = list_unit * qty
    contracted = unit * qty
    if list_cost != a.list_cost or contracted != a.cost:
        # The ledger's per-call amounts are qty x rate / 1e6 exactly; a mismatch means mixed rates in one SKU price.
        raise ValueError(f"FOCUS row {model} {bucket}: ledger amounts disagree with unit price x quantity")
    sku = f"{provider}/{model}/{bucket}"
    sku_price = f"{sku}/{tier or 'base'}/{service_tier or 'default'}/{list_unit.normalize():f}"
    bp_start, bp_end = _billing_period(start)
    tags = {k: v for k, v in (("team", team), ("task_type", task_type), ("agent", agent)) if v}
    details = {
        "ModelId": model,
        "ModelFamily": model_family(model),
        "ModelDeveloper": model_developer(model, provider),
        "TokenDirection": direction,
        "TokenCacheAction": cache_action,
        "ContextTier": tier or "base",
        "ServiceTier": service_tier or "default",
    }
    committed = source == "committed"
    cd = _commitment_columns(commitment_name, commitment, provider, "Used")
    if cd:
        # Token-denominated commitments count the row's tokens; hour-denominated ones get the row's
        # share of the used hours from the caller (build_rows).
        by_tokens = cd["CommitmentDiscountUnit"] == "Tokens"
        cd["CommitmentDiscountQuantity"] = Decimal(a.quantity) if by_tokens else Decimal(0)
    row = {
        "AvailabilityZone": None,
        "BilledCost": contracted,
        "BillingAccountId": billing_account or f"llm-otel:{provider}",
        "BillingAccountName": billing_account or f"{service_provider} (estimated by llm-otel)",
        "BillingAccountType": "Billing Account",
        "BillingCurrency": "USD",
        "BillingPeriodEnd": _iso(bp_end),
        "BillingPeriodStart": _iso(bp_start),
        "CapacityReservationId": None,
        "CapacityReservationStatus": None,
        "ChargeCategory": "Usage",
        "ChargeClass": None,
        "ChargeDescription": f"{model} {meter.lower()}",
        "ChargeFrequency": "Usage-Based",
        "ChargePeriodEnd": _iso(end),
        "ChargePeriodStart": _iso(start),
        "CommitmentDiscountCategory": None,
        "CommitmentDiscountId": None,
        "CommitmentDiscountName": None,
        "CommitmentDiscountQuantity": None,
        "CommitmentDiscountStatus": None,
        "CommitmentDiscountType": None,
        "CommitmentDiscountUnit": None,
        "ConsumedQuantity": Decimal(a.quantity),
        "ConsumedUnit": "Tokens",
        "ContractedCost": contracted,
        "ContractedUnitPrice": unit,
        "EffectiveCost": contracted,
        "HostProviderName": service_provider,
        "InvoiceId": None,
        "InvoiceIssuerName": issuer,
        "ListCost": list_cost,
        "ListUnitPrice": list_unit,
        "PricingCategory": "Committed" if committed else "Standard",
        "PricingCurrency": "USD",
        "PricingCurrencyContractedUnitPrice": unit,
        "PricingCurrencyEffectiveCost": contracted,
        "PricingCurrencyListUnitPrice": list_unit,
        "PricingQuantity": qty,
        "PricingUnit": "1000000 Tokens",
        "ProviderName": service_provider,
        "PublisherName": model_developer(model, provider),
        "RegionId": None,
        "RegionName": None,
        "ResourceId": f"{provider}/{model}",
        "ResourceName": model,
        "ResourceType": "Model",
        "ServiceCategory": "AI and Machine Learning",
        "ServiceName": service,
        "ServiceProviderName": service_provider,
        "ServiceSubcategory": "Generative AI",
        "SkuId": sku,
        "SkuMeter": meter,
        "SkuPriceDetails": json.dumps(details, sort_keys=True),
        "SkuPriceId": sku_price,
        "SubAccountId": None,
        "SubAccountName": None,
        "SubAccountType": None,
        "Tags": json.dumps(tags, sort_keys=True),
    }
    row.update(cd)
    return row


COMMITMENT_TYPE = "Committed Capacity"


def commitment_id(name: str, provider: str) -> str:
    """A fully qualified CommitmentDiscountId: the billing provider and the price book's name."""
    return f"llm-otel:{provider}:commitment/{name}"


def _commitment_provider(c: Committed | None, fallback: str) -> str:
    if c is None or c.match.provider is None:
        return fallback
    return billing_provider(c.match.provider)


def _commitment_columns(name: str | None, c: Committed | None, provider: str, status: str | None) -> dict[str, Any]:
    """The CommitmentDiscount* columns of a row related to commitment ``name`` (empty when none)."""
    if name is None:
        return {}
    return {
        "CommitmentDiscountCategory": "Usage",
        "CommitmentDiscountId": commitment_id(name, _commitment_provider(c, provider)),
        "CommitmentDiscountName": name,
        "CommitmentDiscountStatus": status,
        "CommitmentDiscountType": COMMITMENT_TYPE,
        "CommitmentDiscountUnit": "Hours" if c is not None and c.capacity_tokens_per_minute is None else "Tokens",
    }


def commitment_rows(c: Committed, am: Amortized, granularity: str,
                    billing_account: str | None) -> list[dict[str, Any]]:
    """Per charge period: the recurring Purchase row for the fee, and an Unused row for its idle part.

    Purchase: BilledCost = ListCost = fee_per_hour x hours in force, EffectiveCost 0 (the fee is
    amortized into the usage rows it served and the Unused row). Unused (ChargeCategory Usage,
    CommitmentDiscountStatus Unused): BilledCost 0, EffectiveCost = fee_per_hour x idle hours.
    Both are priced per hour (PricingUnit "Hours", ListUnitPrice = fee_per_hour), so
    ListCost = ListUnitPrice x PricingQuantity exactly.
    """
    periods: dict[tuple[datetime, datetime], list[Decimal]] = {}  # -> [hours, idle hours, capacity, used cap]
    for h, frac in am.hours.items():
        p = periods.setdefault(_period(h, granularity), [Decimal(0)] * 4)
        p[0] += frac
        p[1] += am.idle_hours.get(h, Decimal(0))
        p[2] += am.capacity.get(h, Decimal(0))
        p[3] += am.used_capacity.get(h, Decimal(0))
    provider = _commitment_provider(c, "unknown")
    service, service_provider, issuer = SERVICES.get(provider, (f"{provider} API", provider, provider))
    by_tokens = c.capacity_tokens_per_minute is not None
    sku = f"{provider}/commitment/{c.name}"
    details: dict[str, Any] = {"CommitmentName": c.name, "ModelId": c.match.model or "*",
                               "ServiceTier": c.match.service_tier or "*"}
    if c.capacity_tokens_per_minute is not None:
        details["CapacityTokensPerMinute"] = float(c.capacity_tokens_per_minute)
    rows = []
    for (start, end), (hours, idle, cap, used_cap) in sorted(periods.items()):
        bp_start, bp_end = _billing_period(start)
        for category, status, qty in (("Purchase", None, hours), ("Usage", "Unused", idle)):
            if not qty:
                continue
            cost = c.fee_per_hour * qty
            unused = category == "Usage"
            row: dict[str, Any] = dict.fromkeys(COLUMNS)
            row.update({
                "BilledCost": Decimal(0) if unused else cost,
                "BillingAccountId": billing_account or f"llm-otel:{provider}",
                "BillingAccountName": billing_account or f"{service_provider} (estimated by llm-otel)",
                "BillingAccountType": "Billing Account",
                "BillingCurrency": "USD",
                "BillingPeriodEnd": _iso(bp_end),
                "BillingPeriodStart": _iso(bp_start),
                "ChargeCategory": category,
                "ChargeDescription": f"Unused committed capacity {c.name}" if unused
                else f"Committed capacity {c.name} (hourly fee)",
                "ChargeFrequency": "Usage-Based" if unused else "Recurring",
                "ChargePeriodEnd": _iso(end),
                "ChargePeriodStart": _iso(start),
                "ContractedCost": cost,
                "ContractedUnitPrice": c.fee_per_hour,
                "EffectiveCost": cost if unused else Decimal(0),
                "HostProviderName": service_provider,
                "InvoiceIssuerName": issuer,
                "ListCost": cost,
                "ListUnitPrice": c.fee_per_hour,
                "PricingCategory": "Committed" if unused else "Standard",
                "PricingCurrency": "USD",
                "PricingCurrencyContractedUnitPrice": c.fee_per_hour,
                "PricingCurrencyEffectiveCost": cost if unused else Decimal(0),
                "PricingCurrencyListUnitPrice": c.fee_per_hour,
                "PricingQuantity": qty,
                "PricingUnit": "Hours",
                "ProviderName": service_provider,
                "PublisherName": service_provider,
                "ResourceId": sku,
                "ResourceName": c.name,
                "ResourceType": COMMITMENT_TYPE,
                "ServiceCategory": "AI and Machine Learning",
                "ServiceName": service,
                "ServiceProviderName": service_provider,
                "ServiceSubcategory": "Generative AI",
                "SkuId": sku,
                "SkuMeter": "Committed Capacity Hours",
                "SkuPriceDetails": json.dumps(details, sort_keys=True),
                "SkuPriceId": f"{sku}/{c.fee_per_hour.normalize():f}/hour",
                "Tags": "{}",
            })
            row.update(_commitment_columns(c.name, c, provider, status))
            if by_tokens:
                row["CommitmentDiscountQuantity"] = cap - used_cap if unused else cap
            else:
                row["CommitmentDiscountQuantity"] = qty
            rows.append(row)
    return rows


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, Decimal):
        return f"{value:f}"
    return str(value)


def write_csv(rows: list[dict[str, Any]], path: str) -> None:
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=list(COLUMNS))
        w.writeheader()
        for row in rows:
            w.writerow({k: _text(row[k]) for k in COLUMNS})


def write_parquet(rows: list[dict[str, Any]], path: str) -> None:
    """Decimal columns as decimal128(38, 18): exact for any token count and rate we price."""
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        raise RuntimeError("Parquet output needs pyarrow: pip install 'llm-otel[parquet]'") from None
    dec = pa.decimal128(38, 18)
    schema = pa.schema([(c, dec if c in DECIMAL_COLUMNS else pa.string()) for c in COLUMNS])
    columns = {c: [row[c] for row in rows] for c in COLUMNS}
    pq.write_table(pa.table(columns, schema=schema), path)
