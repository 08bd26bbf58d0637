"""Priced call -> ledger row, and ledger row -> what it contributes to counters and to its task.

The same :func:`contributions` runs on a row about to be inserted and on a row read back
(the record a richer one replaces), so a replacement's delta is exactly new minus old.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, fields
from decimal import Decimal
from typing import Any

from llm_otel import semconv
from llm_otel.pricing.cost import ZERO as _PRICING_ZERO
from llm_otel.processor.ledger.dialect import EXACT, Dialect
from llm_otel.processor.ledger.model import CallRow, CounterDelta, PricedCall, TaskRow, richness
from llm_otel.processor.ledger.validate import BUCKET_TOKEN_TYPE

ZERO = Decimal(0)
_NO_SPLITS = (None, None, None, None)

CALL_COLUMNS: tuple[str, ...] = tuple(f.name for f in fields(CallRow))
TASK_COLUMNS: tuple[str, ...] = tuple(f.name for f in fields(TaskRow))

CALL_DEC = frozenset(
    {f"{p}_{b}" for p in ("cost", "list_cost") for b in ("input", "cache_read", "cache_write", "output", "total")}
    | {"cache_savings", "cache_write_premium"}
)
CALL_BOOL = frozenset({"counted", "usage_estimated", "cost_estimated", "stream_complete", "late"})
TASK_DEC = frozenset({"budget_usd", "cost", "list_cost", "cache_savings", "cache_write_premium"})
TASK_BOOL = frozenset({"has_span", "finalized", "anomaly_runaway", "anomaly_retry_loop", "anomaly_context_blowup"})

#: Task columns a call adds to (all additive, so deltas from any replica commute).
TASK_SUMS = (
    "calls",
    "error_calls",
    "unpriced_calls",
    "tokens_input",
    "tokens_cache_read",
    "tokens_cache_write",
    "tokens_output",
    "tokens_reasoning",
    "cost",
    "list_cost",
    "cache_savings",
    "cache_write_premium",
)


def _uncached(inclusive: int | None, cache_read: int | None, cache_write: int | None) -> int | None:
    if inclusive is None:
        return None
    return max(0, inclusive - (cache_read or 0) - (cache_write or 0))


# One cost_buckets JSON object, built by hand (hot path: ~3x cheaper than json.dumps). Amounts go in
# as dec_text(d) == format(d, "f"): exact and without exponent (never %f, which would go through float).
_BUCKET_JSON = (
    '{"bucket":"%s","quantity":%d,"unit_price_per_mtok":"%s","amount":"%s",'
    '"list_unit_price_per_mtok":"%s","list_amount":"%s","model":%s,"context_tier":%s}'
)


def dec_text(value: Decimal) -> str:
    """``format(value, "f")``: exact, never an exponent. Hot path: ``str`` is ~2x cheaper and gives
    the same text whenever it writes no exponent (exponent <= 0 and not tiny), the common case."""
    s = str(value)
    return format(value, "f") if "E" in s else s


def call_values(pc: PricedCall, recorded_ns: int) -> dict[str, Any]:
    """The row for one priced call, as Python values (Decimal money, bool flags).

    Hot path (per call; benchmarks/processor_throughput.py): no per-call allocation beyond the row.
    """
    r, c = pc.record, pc.cost
    u = r.usage
    cache_write = u.cache_write_tokens
    if cache_write is None:
        splits = (u.cache_write_5m_tokens, u.cache_write_1h_tokens, u.cache_write_30m_tokens, u.cache_write_12h_tokens)
        if splits != _NO_SPLITS:
            cache_write = sum(s or 0 for s in splits)
    cost = dict.fromkeys(semconv.TOKEN_TYPES, ZERO)
    list_cost = dict.fromkeys(semconv.TOKEN_TYPES, ZERO)
    parts = []
    for b in c.buckets:
        tt = BUCKET_TOKEN_TYPE[b.bucket]  # check_call() let only known bucket names through
        amount, list_amount = b.amount, b.list_amount
        prev = cost[tt]
        # The first bucket of a type is the amount itself (what ZERO + amount gives, without the
        # context call); a zero (maybe -0) amount still goes through the exact sum.
        cost[tt] = amount if prev is ZERO and amount else EXACT.add(prev, amount)
        prev = list_cost[tt]
        list_cost[tt] = list_amount if prev is ZERO and list_amount else EXACT.add(prev, list_amount)
        parts.append(
            _BUCKET_JSON
            % (
                b.bucket,
                b.quantity,
                dec_text(b.unit_price_per_mtok),
                dec_text(amount),
                dec_text(b.list_unit_price_per_mtok),
                dec_text(list_amount),
                "null" if b.model is None else json.dumps(b.model),
                "null" if b.context_tier is None else json.dumps(b.context_tier),
            )
        )
    rflags, cflags = r.flags, c.flags
    flags = ",".join(sorted(set(rflags) | set(cflags))) if rflags or cflags else ""
    its = u.iterations
    return {
        "trace_id": r.trace_id,
        "span_id": r.span_id,
        "parent_span_id": r.parent_span_id,
        "start_ns": r.start_ns,
        "end_ns": r.end_ns,
        "recorded_ns": recorded_ns,
        "provider": r.provider,
        "operation": r.operation,
        "request_model": r.request_model,
        "response_model": r.response_model,
        "model": r.model,
        "response_id": r.response_id,
        "counted": True,
        "superseded_by": None,
        "richness": richness(r, c),
        "tokens_input": _uncached(u.input_tokens, u.cache_read_tokens, cache_write),
        "tokens_cache_read": u.cache_read_tokens,
        "tokens_cache_write": cache_write,
        "tokens_cache_write_5m": u.cache_write_5m_tokens,
        "tokens_cache_write_1h": u.cache_write_1h_tokens,
        "tokens_cache_write_30m": u.cache_write_30m_tokens,
        "tokens_cache_write_12h": u.cache_write_12h_tokens,
        "tokens_output": u.output_tokens,
        "tokens_reasoning": u.reasoning_tokens,
        "tokens_iterations_input": sum(
            _uncached(i.input_tokens, i.cache_read_tokens, i.cache_write_tokens) or 0 for i in its
        )
        if its
        else 0,
        "tokens_iterations_cache_read": sum(i.cache_read_tokens for i in its) if its else 0,
        "tokens_iterations_cache_write": sum(i.cache_write_tokens for i in its) if its else 0,
        "tokens_iterations_output": sum(i.output_tokens for i in its) if its else 0,
        "iterations": json.dumps(
            [
                {
                    "kind": i.kind,
                    "model": i.model,
                    "input_tokens": i.input_tokens,
                    "output_tokens": i.output_tokens,
                    "cache_read_tokens": i.cache_read_tokens,
                    "cache_write_tokens": i.cache_write_tokens,
                }
                for i in its
            ]
        )
        if its
        else None,
        "usage_estimated": u.estimated,
        "cost_input": cost["input"],
        "cost_cache_read": cost["cache_read"],
        "cost_cache_write": cost["cache_write"],
        "cost_output": cost["output"],
        "cost_total": c.total,
        "list_cost_input": list_cost["input"],
        "list_cost_cache_read": list_cost["cache_read"],
        "list_cost_cache_write": list_cost["cache_write"],
        "list_cost_output": list_cost["output"],
        "list_cost_total": c.list_total,
        "cache_savings": c.cache_savings,
        "cache_write_premium": getattr(c, "cache_write_premium", ZERO),
        "cost_buckets": "[" + ",".join(parts) + "]",
        "cost_source": c.source,
        "cost_estimated": c.estimated,
        "unpriced_reason": c.unpriced_reason,
        "data_version": c.data_version or None,
        "billing_provider": c.provider,
        "priced_model": c.model,
        "service_tier": r.service_tier,
        "task_id": r.task_id,
        "task_type": r.task_type,
        "team": r.team,
        "agent_name": r.agent_name,
        "agent_id": r.agent_id,
        "prompt_template": r.prompt_template,
        "prompt_version": r.prompt_version,
        "tools_count": r.tools_count,
        "tools_bytes": r.tools_bytes,
        "messages_count": r.messages_count,
        "error_type": r.error_type,
        "dialect": r.dialect,
        "flags": flags,
        "stream_complete": r.stream_complete,
        "late": False,
        "service_name": r.service_name,
    }


CALL_INT = frozenset(
    c
    for c in CALL_COLUMNS
    if c.startswith("tokens_") or c.endswith("_ns") or c in ("richness", "tools_count", "tools_bytes", "messages_count")
)
#: PostgreSQL type of each ledger_calls column, in CALL_COLUMNS order (pinned against the schema by a test).
CALL_PG_TYPES = tuple(
    "numeric" if c in CALL_DEC else "boolean" if c in CALL_BOOL else "bigint" if c in CALL_INT else "text"
    for c in CALL_COLUMNS
)
_CALL_DEC_INDEX = tuple(i for i, c in enumerate(CALL_COLUMNS) if c in CALL_DEC)


def encode_call(values: dict[str, Any], dialect: Dialect) -> list[Any]:
    """Column values in CALL_COLUMNS order, as the driver takes them.

    Hot path (per call): relies on ``call_values`` building its dict in CALL_COLUMNS order
    (pinned by a test) instead of looking up 66 keys.
    """
    row = list(values.values())
    if not dialect.enc_is_identity:
        enc = dialect.enc
        zero = enc(ZERO)
        for i in _CALL_DEC_INDEX:
            v = row[i]
            # About half the money columns of a call are the shared zero constants: encode them once.
            row[i] = zero if v is ZERO or v is _PRICING_ZERO else enc(v)
    return row


def decode(row: Mapping[str, Any], dialect: Dialect, decs: frozenset[str], bools: frozenset[str]) -> dict[str, Any]:
    """A driver row back to Python values (Decimal money, bool flags)."""
    out = dict(row)
    for k, v in row.items():
        if v is None:
            continue
        if k in decs:
            out[k] = dialect.dec(v)
        elif k in bools:
            out[k] = bool(v)
    return out


def call_row(row: Mapping[str, Any], dialect: Dialect) -> CallRow:
    return CallRow(**decode(row, dialect, CALL_DEC, CALL_BOOL))


def task_row(row: Mapping[str, Any], dialect: Dialect) -> TaskRow:
    values = decode(row, dialect, TASK_DEC, TASK_BOOL)
    return TaskRow(**{k: values[k] for k in TASK_COLUMNS if k in values})


@dataclass(slots=True)
class Contribution:
    """What one counted call adds to the counters and to its task (``task``: TASK_SUMS order)."""

    counters: CounterDelta
    task: tuple[Any, ...]


_ONE = Decimal(1)
_TOKENS, _COST = semconv.METRIC_TOKENS, semconv.METRIC_COST


def contributions(v: Mapping[str, Any]) -> Contribution:
    """Counter and task increments of one counted call row (Python values).

    Hot path (per counted call; benchmarks/processor_throughput.py): unrolled over the four token
    types, in the order (tokens, cost) per type that the counters have always been built in.
    """
    provider, model, team, task_type = v["provider"], v["model"], v["team"], v["task_type"]
    counters: CounterDelta = {}
    t_in = (v["tokens_input"] or 0) + v["tokens_iterations_input"]
    t_cr = (v["tokens_cache_read"] or 0) + v["tokens_iterations_cache_read"]
    t_cw = (v["tokens_cache_write"] or 0) + v["tokens_iterations_cache_write"]
    t_out = (v["tokens_output"] or 0) + v["tokens_iterations_output"]
    for tt, n, amount in (
        ("input", t_in, v["cost_input"]),
        ("cache_read", t_cr, v["cost_cache_read"]),
        ("cache_write", t_cw, v["cost_cache_write"]),
        ("output", t_out, v["cost_output"]),
    ):
        if n:
            counters[(_TOKENS, (provider, model, team, task_type, tt))] = Decimal(n)
        if amount:
            counters[(_COST, (provider, model, team, task_type, tt))] = amount
    error = bool(v["error_type"])
    counters[(semconv.METRIC_CALLS, (provider, model, team, task_type, "error" if error else "ok"))] = _ONE
    savings = v["cache_savings"]
    if savings:
        counters[(semconv.METRIC_CACHE_SAVINGS, (provider, model, team, task_type))] = savings
    unpriced = v["cost_source"] == "unpriced"
    if unpriced:
        reason = v["unpriced_reason"] or "unknown"
        counters[(semconv.METRIC_UNPRICED_CALLS, (provider, model, reason))] = _ONE
    cost_total = v["cost_total"]
    if v["prompt_template"] is not None and cost_total:
        key = (semconv.METRIC_PROMPT_COST, (v["prompt_template"], v["prompt_version"], provider, model))
        counters[key] = cost_total
    task = (
        1,
        int(error),
        int(unpriced),
        t_in,
        t_cr,
        t_cw,
        t_out,
        v["tokens_reasoning"] or 0,
        cost_total,
        v["list_cost_total"],
        savings,
        v["cache_write_premium"],
    )
    return Contribution(counters, task)


def add_into(target: CounterDelta, source: CounterDelta, sign: int = 1) -> None:
    """target += sign * source, exactly; entries that reach zero are dropped."""
    for k, amount in source.items():
        total = EXACT.add(target.get(k, ZERO), amount if sign > 0 else -amount)
        if total:
            target[k] = total
        else:
            target.pop(k, None)
