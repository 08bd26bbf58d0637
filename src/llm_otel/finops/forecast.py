"""Driver-based month-end forecast: tasks per day x cost per task, per task type, with an interval.

A straight line through spend hides why spend moves; finance asks "how many tasks of each
kind, at what unit cost". For each task type we estimate, from the trailing window of
daily history before the cut-off:

- tasks per day, with day-of-week factors once the window holds two full weeks (the
  seasonality the data supports; with less, a flat rate);
- cost per task (mean over the window);

and project the remaining days of the month. The 90% interval comes from the spread of
daily spend around the model (residual standard deviation x sqrt(days remaining) x 1.645,
days treated as independent, which is conservative for smooth workloads).

Accuracy on past months (when data allows): forecast each past month from its 15th day
and compare with its actual total: ``1 - |actual - forecast| / actual``.
"""

from __future__ import annotations

import calendar
import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

from llm_otel.processor.ledger import TaskRow

WINDOW_DAYS = 28
Z90 = 1.645


@dataclass(frozen=True)
class DailyPoint:
    day: date
    task_type: str
    tasks: int
    spend: Decimal


@dataclass(frozen=True)
class Forecast:
    month: str  # YYYY-MM
    as_of: date
    actual_to_date: Decimal
    forecast_total: Decimal
    low: Decimal
    high: Decimal
    by_task_type: dict[str, Decimal]
    seasonal: bool
    history_days: int


def _day(ns: int) -> date:
    return datetime.fromtimestamp(ns / 1e9, timezone.utc).date()


def daily_points(tasks: Sequence[TaskRow]) -> list[DailyPoint]:
    """Tasks and spend per (day, task type), by the day each task started."""
    acc: dict[tuple[date, str], list[Decimal]] = defaultdict(list)
    for t in tasks:
        start = t.start_ns or t.first_call_ns
        if start is None:
            continue
        acc[(_day(start), t.task_type or "unattributed")].append(t.cost)
    return [DailyPoint(d, k, len(v), sum(v, Decimal(0))) for (d, k), v in sorted(acc.items())]


def forecast_month(points: Sequence[DailyPoint], as_of: date) -> Forecast:
    """Forecast of the month containing ``as_of`` from history up to and including ``as_of``."""
    month_start = as_of.replace(day=1)
    days_in_month = calendar.monthrange(as_of.year, as_of.month)[1]
    month_end = month_start + timedelta(days=days_in_month)
    remaining = [as_of + timedelta(days=i) for i in range(1, (month_end - as_of).days)]
    window_start = as_of - timedelta(days=WINDOW_DAYS - 1)
    history = [p for p in points if window_start <= p.day <= as_of]
    first_day = min((p.day for p in history), default=as_of)
    span_days = (as_of - first_day).days + 1
    seasonal = span_days >= 14
    actual = sum((p.spend for p in points if month_start <= p.day <= as_of), Decimal(0))

    by_type: dict[str, Decimal] = {}
    variance = 0.0
    for task_type in sorted({p.task_type for p in history}):
        rows = {p.day: p for p in history if p.task_type == task_type}
        days = [first_day + timedelta(days=i) for i in range(span_days)]
        counts = [rows[d].tasks if d in rows else 0 for d in days]
        spends = [float(rows[d].spend) if d in rows else 0.0 for d in days]
        total_tasks = sum(counts)
        if total_tasks == 0:
            continue
        rate = total_tasks / span_days
        unit = sum(spends) / total_tasks
        factors = [1.0] * 7
        if seasonal:
            for wd in range(7):
                wd_counts = [c for d, c in zip(days, counts, strict=True) if d.weekday() == wd]
                factors[wd] = (sum(wd_counts) / len(wd_counts)) / rate if wd_counts and rate else 1.0
        fitted = [rate * factors[d.weekday()] * unit for d in days]
        residuals = [s - f for s, f in zip(spends, fitted, strict=True)]
        if len(residuals) > 1:
            variance += sum(r * r for r in residuals) / (len(residuals) - 1)
        projected = sum(rate * factors[d.weekday()] * unit for d in remaining)
        by_type[task_type] = Decimal(str(round(projected, 9)))
    projected_total = sum(by_type.values(), Decimal(0))
    half_width = Decimal(str(round(Z90 * math.sqrt(variance * len(remaining)), 9)))
    total = actual + projected_total
    return Forecast(
        month=f"{as_of.year:04d}-{as_of.month:02d}",
        as_of=as_of,
        actual_to_date=actual,
        forecast_total=total,
        low=max(actual, total - half_width),
        high=total + half_width,
        by_task_type=by_type,
        seasonal=seasonal,
        history_days=span_days if history else 0,
    )


def past_accuracy(points: Sequence[DailyPoint], before: date, cut_day: int = 15) -> dict[str, float]:
    """Accuracy of forecasts made on day ``cut_day`` of each complete past month that has data."""
    months = sorted({(p.day.year, p.day.month) for p in points if p.day < before.replace(day=1)})
    out: dict[str, float] = {}
    for year, month in months:
        days = calendar.monthrange(year, month)[1]
        actual = sum((p.spend for p in points if (p.day.year, p.day.month) == (year, month)), Decimal(0))
        if actual <= 0:
            continue
        fc = forecast_month(points, date(year, month, min(cut_day, days)))
        out[f"{year:04d}-{month:02d}"] = 1 - float(abs(actual - fc.forecast_total) / actual)
    return out
