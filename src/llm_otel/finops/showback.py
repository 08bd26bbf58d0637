"""Showback: spend and cost per task grouped by team, task type, model, ...; computed from ledger rows.

Pure functions over ``CallRow`` / ``TaskRow`` so the demo, ``llm-otel report`` and the
tests all compute the same numbers the same way. Money stays ``Decimal``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from llm_otel.processor.ledger import ANOMALY_KINDS, CallRow, TaskRow
from llm_otel.semconv import UNATTRIBUTED

ZERO = Decimal(0)
CALL_DIMENSIONS = ("team", "task_type", "model", "agent", "provider")
TASK_DIMENSIONS = ("team", "task_type")


def percentile(sorted_values: Sequence[Decimal], q: float) -> Decimal:
    """Linear-interpolated percentile (q in [0, 1]) of an ascending sequence; 0 when empty."""
    if not sorted_values:
        return ZERO
    if len(sorted_values) == 1:
        return sorted_values[0]
    pos = Decimal(str(q)) * (len(sorted_values) - 1)
    lo = int(pos)
    hi = min(lo + 1, len(sorted_values) - 1)
    frac = pos - lo
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * frac


@dataclass
class TaskCostStats:
    tasks: int = 0
    mean: Decimal = ZERO
    p50: Decimal = ZERO
    p95: Decimal = ZERO
    max: Decimal = ZERO
    ok_tasks: int = 0
    cost_per_successful_task: Decimal | None = None
    # Context economics (issue 7), from what the processor stored on each task row.
    turns: int = 0
    tokens_resent: int = 0
    tool_tokens: int = 0
    task_input_tokens: int = 0
    anomalies: dict[str, int] = field(default_factory=dict)

    @classmethod
    def of(cls, tasks: Sequence[TaskRow]) -> TaskCostStats:
        costs = sorted(t.cost for t in tasks)
        ok = [t for t in tasks if t.status == "ok"]
        n = len(costs)
        return cls(
            tasks=n,
            mean=(sum(costs, ZERO) / n) if n else ZERO,
            p50=percentile(costs, 0.5),
            p95=percentile(costs, 0.95),
            max=costs[-1] if costs else ZERO,
            ok_tasks=len(ok),
            # Spend of all tasks divided by the successful ones: failures are part of what success cost.
            cost_per_successful_task=(sum(costs, ZERO) / len(ok)) if ok else None,
            turns=sum(t.turns or 0 for t in tasks),
            tokens_resent=sum(t.tokens_resent or 0 for t in tasks),
            tool_tokens=sum(t.tool_tokens or 0 for t in tasks),
            task_input_tokens=sum(t.tokens_input + t.tokens_cache_read + t.tokens_cache_write for t in tasks),
            anomalies={k: n for k in ANOMALY_KINDS if (n := sum(1 for t in tasks if k in t.anomalies))},
        )

    @property
    def resent_share(self) -> float:
        """Share of the tasks' input tokens that re-sent earlier context."""
        return self.tokens_resent / self.task_input_tokens if self.task_input_tokens else 0.0

    @property
    def tool_share(self) -> float:
        """Share of the tasks' input tokens spent on tool definitions (estimated from their bytes)."""
        return min(1.0, self.tool_tokens / self.task_input_tokens) if self.task_input_tokens else 0.0


@dataclass
class Group:
    key: tuple[str, ...]
    spend: Decimal = ZERO
    list_spend: Decimal = ZERO
    calls: int = 0
    error_calls: int = 0
    unpriced_calls: int = 0
    input_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    output_tokens: int = 0
    cache_savings: Decimal = ZERO
    unattributed_spend: Decimal = ZERO
    task_ids: set[str] = field(default_factory=set)
    task_stats: TaskCostStats = field(default_factory=TaskCostStats)

    @property
    def cache_hit_rate(self) -> float:
        """Cache-read tokens over inclusive input tokens."""
        return self.cache_read_tokens / self.input_tokens if self.input_tokens else 0.0

    @property
    def unattributed_share(self) -> float:
        return float(self.unattributed_spend / self.spend) if self.spend else 0.0

    @property
    def unpriced_share(self) -> float:
        return self.unpriced_calls / self.calls if self.calls else 0.0


def _dim(row: CallRow, dim: str) -> str:
    value = {
        "team": row.team,
        "task_type": row.task_type,
        "model": row.model,
        "agent": row.agent_name,
        "provider": row.provider,
    }[dim]
    return value or UNATTRIBUTED


def group_calls(calls: Iterable[CallRow], tasks: Iterable[TaskRow], by: Sequence[str]) -> list[Group]:
    """Aggregates calls into groups keyed by ``by``; task statistics come from the tasks seen in each group."""
    for dim in by:
        if dim not in CALL_DIMENSIONS:
            raise ValueError(f"cannot group by {dim!r}: choose from {', '.join(CALL_DIMENSIONS)}")
    task_by_id = {t.task_id: t for t in tasks}
    groups: dict[tuple[str, ...], Group] = {}
    for row in calls:
        key = tuple(_dim(row, d) for d in by)
        g = groups.get(key)
        if g is None:
            g = groups[key] = Group(key)
        g.spend += row.cost_total
        g.list_spend += row.list_cost_total
        g.calls += 1
        g.error_calls += row.error_type is not None
        g.unpriced_calls += row.cost_source == "unpriced"
        g.input_tokens += row.inclusive_input_tokens
        g.cache_read_tokens += row.tokens_cache_read or 0
        g.cache_write_tokens += row.tokens_cache_write or 0
        g.output_tokens += row.tokens_output or 0
        g.cache_savings += row.cache_savings
        if row.task_id is None:
            g.unattributed_spend += row.cost_total
        else:
            g.task_ids.add(row.task_id)
    for g in groups.values():
        g.task_stats = TaskCostStats.of([task_by_id[t] for t in g.task_ids if t in task_by_id])
    return sorted(groups.values(), key=lambda g: g.spend, reverse=True)
