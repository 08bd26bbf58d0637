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
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

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
DECIMAL_COLUMNS = ("BilledCost", "ConsumedQuantity", "ContractedCost", "ContractedUnitPrice", "EffectiveCost",
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
               billing_account: str | None = None) -> FocusExport:
    """Aggregates priced calls into FOCUS rows (see module docstring)."""
    if granularity not in ("day", "hour"):
        raise ValueError(f"granularity must be 'day' or 'hour', got {granularity!r}")
    acc: dict[tuple[Any, ...], _Acc] = {}
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
        for b in json.loads(call.cost_buckets or "[]"):
            if not b["quantity"]:
                continue
            model = b.get("model") or call.priced_model or call.model or "unknown"
            key = (period, provider, model, b["bucket"], b.get("context_tier"), call.service_tier,
                   Decimal(b["list_unit_price_per_mtok"]), Decimal(b["unit_price_per_mtok"]), call.cost_source,
                   call.team, call.task_type, call.agent_name)
            a = acc.get(key)
            if a is None:
                a = acc[key] = _Acc()
            a.quantity += int(b["quantity"])
            a.list_cost += Decimal(b["list_amount"])
            a.cost += Decimal(b["amount"])
    for key, a in sorted(acc.items(), key=lambda kv: tuple(str(x) for x in kv[0])):
        out.rows.append(_row(key, a, billing_account))
    return out


def _row(key: tuple[Any, ...], a: _Acc, billing_account: str | None) -> dict[str, Any]:
    ((start, end), provider, model, bucket, tier, service_tier, list_unit, unit, source,
     team, task_type, agent) = key
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
    return {
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
