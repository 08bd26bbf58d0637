"""Provider cost reports as ``BillLine``s: the organization cost APIs and their CSV exports.

- OpenAI: ``client.admin.organization.usage.costs`` (``GET /v1/organization/costs``, an admin key),
  daily buckets grouped by ``project_id`` and ``line_item``; the model is the line item's first
  part (``"gpt-4o-mini-2024-07-18, input"``); ``amount.value`` is USD.
- Anthropic: ``client.beta.organization.analytics.cost.list`` (``GET
  /v1/organizations/analytics/cost``, beta ``analytics-usage-cost-2026-08-24``; the cost endpoint
  anthropic 2.x exposes), daily buckets grouped by ``model`` and ``workspace_id``;
  ``cost.amount`` is a decimal string in **cents**. (The older documented
  ``/v1/organizations/cost_report`` has no resource in the installed client.)

Token usage comes from the usage twins (``usage.completions`` grouped by ``project_id`` and
``model``; ``beta.organization.analytics.usage`` grouped by ``model`` and ``workspace_id``).

All are read through ``with_raw_response`` and parsed with ``Decimal``, so no float ever touches
the money. Pages are followed through ``has_more``/``next_page``.

CSV exports: any CSV with a day column (``date``, ``day``, ``usage_date``, ``starting_at``,
``start_time``), a cost column (``cost_usd``, ``amount_usd``, ``cost``, ``amount_value``; for
Anthropic ``amount_cents``/``amount`` are in cents as in its report, for OpenAI ``amount`` is
USD), a model column (``model``, or ``line_item``) and optionally a workspace column
(``workspace_id``, ``workspace``, ``project_id``, ``project``): the columns of the API rows above, flattened.
"""

from __future__ import annotations

import csv
import json
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation
from typing import Any

from llm_otel.finops.reconcile import BillLine

CENTS = Decimal(100)


def _iso_day(value: str | int | float) -> date:
    if isinstance(value, (int, float)) or str(value).isdigit():
        return datetime.fromtimestamp(int(value), timezone.utc).date()
    text = str(value).strip().replace("Z", "+00:00")
    dt = datetime.fromisoformat(text)
    return (dt.astimezone(timezone.utc) if dt.tzinfo else dt).date()


def _model_of_line_item(line_item: str | None) -> str:
    """``"gpt-4o-mini-2024-07-18, input"`` -> ``gpt-4o-mini-2024-07-18``; no line item -> ``unknown``."""
    return (line_item or "").split(",")[0].strip() or "unknown"


def openai_costs(client: Any, since: datetime, until: datetime) -> list[BillLine]:
    """The organization's daily costs from an ``openai.OpenAI`` client holding an admin key."""
    lines: list[BillLine] = []
    page: str | None = None
    while True:
        extra = {"page": page} if page else {}
        raw = client.admin.organization.usage.with_raw_response.costs(
            start_time=int(since.timestamp()), end_time=int(until.timestamp()), bucket_width="1d",
            group_by=["project_id", "line_item"], limit=180, **extra,
        )
        doc = json.loads(raw.http_response.text, parse_float=Decimal)
        for bucket in doc.get("data") or []:
            day = _iso_day(bucket["start_time"])
            for r in bucket.get("results") or []:
                if r.get("object") != "organization.costs.result":
                    continue
                amount = r.get("amount") or {}
                currency = (amount.get("currency") or "usd").lower()
                if currency != "usd":
                    raise ValueError(f"OpenAI cost report is in {currency!r}; llm-otel reconciles USD only")
                lines.append(BillLine(day, "openai", _model_of_line_item(r.get("line_item")), r.get("project_id"),
                                      Decimal(str(amount.get("value") or 0))))
        page = doc.get("next_page")
        if not doc.get("has_more") or not page:
            return lines


def windows(since: datetime, until: datetime, days: int = 31) -> list[tuple[datetime, datetime]]:
    """``[since, until)`` cut into ranges of at most ``days`` (Anthropic's reports span 31 days at most)."""
    out = []
    start = since
    while start < until:
        end = min(until, start + timedelta(days=days))
        out.append((start, end))
        start = end
    return out


def anthropic_costs(client: Any, since: datetime, until: datetime) -> list[BillLine]:
    """The organization's daily costs from an ``anthropic.Anthropic`` client holding an admin key."""
    return [line for a, b in windows(since, until) for line in _anthropic_costs(client, a, b)]


def _anthropic_costs(client: Any, since: datetime, until: datetime) -> list[BillLine]:
    lines: list[BillLine] = []
    page: str | None = None
    while True:
        extra = {"page": page} if page else {}
        raw = client.beta.organization.analytics.cost.with_raw_response.list(
            starting_at=since, ending_at=until, time_bucket_width="1d", group_by=["model", "workspace_id"],
            limit=1000, **extra,
        )
        doc = json.loads(raw.http_response.text, parse_float=Decimal)
        for item in doc.get("data") or []:
            cost = item.get("cost") or {}
            if (cost.get("currency") or "USD").upper() != "USD":
                raise ValueError(f"Anthropic cost report is in {cost.get('currency')!r}; llm-otel reconciles USD only")
            group = item.get("group") or {}
            lines.append(BillLine(_iso_day(item["starting_at"]), "anthropic", group.get("model") or "unknown",
                                  group.get("workspace_id"), Decimal(str(cost.get("amount") or 0)) / CENTS))
        page = doc.get("next_page")
        if not doc.get("has_more") or not page:
            return lines


def openai_usage(client: Any, since: datetime, until: datetime) -> list[BillLine]:
    """Daily completions token usage (``usage.completions``, by project and model) as token-only bill lines."""
    lines: list[BillLine] = []
    page: str | None = None
    while True:
        extra = {"page": page} if page else {}
        raw = client.admin.organization.usage.with_raw_response.completions(
            start_time=int(since.timestamp()), end_time=int(until.timestamp()), bucket_width="1d",
            group_by=["project_id", "model"], limit=31, **extra,
        )
        doc = json.loads(raw.http_response.text)
        for bucket in doc.get("data") or []:
            day = _iso_day(bucket["start_time"])
            for r in bucket.get("results") or []:
                if r.get("object") != "organization.usage.completions.result":
                    continue
                tokens = int(r.get("input_tokens") or 0) + int(r.get("output_tokens") or 0)  # input is inclusive
                lines.append(BillLine(day, "openai", r.get("model") or "unknown", r.get("project_id"), Decimal(0),
                                      tokens))
        page = doc.get("next_page")
        if not doc.get("has_more") or not page:
            return lines


def anthropic_usage(client: Any, since: datetime, until: datetime) -> list[BillLine]:
    """Daily token usage (``beta.organization.analytics.usage``, by model and workspace) as token-only lines."""
    return [line for a, b in windows(since, until) for line in _anthropic_usage(client, a, b)]


def _anthropic_usage(client: Any, since: datetime, until: datetime) -> list[BillLine]:
    lines: list[BillLine] = []
    page: str | None = None
    while True:
        extra = {"page": page} if page else {}
        raw = client.beta.organization.analytics.usage.with_raw_response.list(
            starting_at=since, ending_at=until, time_bucket_width="1d", group_by=["model", "workspace_id"],
            limit=1000, **extra,
        )
        doc = json.loads(raw.http_response.text)
        for item in doc.get("data") or []:
            u = item.get("usage") or {}
            created = u.get("cache_creation") or {}
            tokens = (int(u.get("uncached_input_tokens") or 0) + int(u.get("cache_read_input_tokens") or 0)
                      + int(created.get("ephemeral_5m_input_tokens") or 0)
                      + int(created.get("ephemeral_1h_input_tokens") or 0) + int(u.get("output_tokens") or 0))
            group = item.get("group") or {}
            lines.append(BillLine(_iso_day(item["starting_at"]), "anthropic", group.get("model") or "unknown",
                                  group.get("workspace_id"), Decimal(0), tokens))
        page = doc.get("next_page")
        if not doc.get("has_more") or not page:
            return lines


DAY_COLUMNS = ("date", "day", "usage_date", "starting_at", "start_time", "bucket_start")
USD_COLUMNS = ("cost_usd", "amount_usd", "cost", "amount_value", "usd")
CENT_COLUMNS = ("amount_cents", "amount")
MODEL_COLUMNS = ("model", "line_item")
WORKSPACE_COLUMNS = ("workspace_id", "workspace", "project_id", "project")


def read_cost_csv(path: str, provider: str) -> list[BillLine]:
    """A cost export as bill lines (columns: see the module docstring). Errors name the file, row and column."""
    with open(path, newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh)
        header = {h.strip().lower(): h for h in reader.fieldnames or []}

        def pick(names: tuple[str, ...]) -> str | None:
            return next((header[n] for n in names if n in header), None)

        # Anthropic's report states amounts in cents; an OpenAI export's "amount" is USD.
        usd_names = USD_COLUMNS if provider == "anthropic" else (*USD_COLUMNS, "amount")
        day_col, usd_col = pick(DAY_COLUMNS), pick(usd_names)
        cent_col = pick(CENT_COLUMNS) if provider == "anthropic" else None
        model_col, ws_col = pick(MODEL_COLUMNS), pick(WORKSPACE_COLUMNS)
        if day_col is None or (usd_col is None and cent_col is None) or model_col is None:
            raise ValueError(f"{path}: needs a day column ({', '.join(DAY_COLUMNS)}), a cost column "
                             f"({', '.join(USD_COLUMNS + CENT_COLUMNS)}) and a model column "
                             f"({', '.join(MODEL_COLUMNS)}); found {', '.join(header) or 'no header'}")
        lines = []
        for n, rec in enumerate(reader, 2):
            col = usd_col or cent_col
            assert col is not None
            try:
                value = Decimal((rec[col] or "0").replace("$", "").replace(",", "").strip() or "0")
                day = _iso_day(rec[day_col])
            except (InvalidOperation, ValueError):
                raise ValueError(f"{path}:{n}: {col}={rec[col]!r} / {day_col}={rec[day_col]!r} is not a "
                                 "number / date") from None
            if usd_col is None:
                value /= CENTS
            model = rec[model_col] or ""
            if model_col == header.get("line_item"):
                model = _model_of_line_item(model)
            lines.append(BillLine(day, provider, model or "unknown", (rec[ws_col] or None) if ws_col else None,
                                  value))
        return lines
