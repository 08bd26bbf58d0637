"""Shared pieces of the ledger tests: backends (SQLite file, real PostgreSQL schema) and call builders.

Costs are built here from fixed per-million-token rates, not through the pricing engine,
so the ledger tests pin the ledger's arithmetic and nothing else.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from decimal import Decimal
from itertools import count
from pathlib import Path

import pytest

from llm_otel.pricing.cost import BucketCost, Cost
from llm_otel.pricing.usage import Usage
from llm_otel.processor.ledger import PricedCall
from llm_otel.processor.record import CallRecord

PG_URL = os.environ.get("LLM_OTEL_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
PG_HOWTO = (
    "PostgreSQL ledger tests need a server at 127.0.0.1:5432 with database 'test' and user 'postgres' "
    "(no password), or LLM_OTEL_TEST_PG=postgresql://...; e.g. `apt-get install postgresql && "
    "sudo -u postgres createdb test` with trust auth for 127.0.0.1. CI runs them."
)
T0 = 1_767_225_600 * 10**9  # 2026-01-01T00:00:00Z in ns

RATES = {  # USD per million tokens: input, cache_read, cache_write_5m, output
    "claude-sonnet-4-5": (Decimal("3"), Decimal("0.3"), Decimal("3.75"), Decimal("15")),
    "gpt-4o": (Decimal("2.5"), Decimal("1.25"), Decimal("0"), Decimal("10")),
}
_ids = count(1)


def pg_available() -> str | None:
    """None when the test PostgreSQL answers, else why not."""
    try:
        import psycopg

        with psycopg.connect(PG_URL, connect_timeout=3):
            return None
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"


_PG_REASON = pg_available()


def pg_schema_url() -> Iterator[str]:
    """A fresh schema in the test database, dropped afterwards."""
    if _PG_REASON is not None:
        pytest.skip(f"{PG_HOWTO} ({_PG_REASON})")
    import psycopg

    schema = f"ledger_test_{uuid.uuid4().hex[:12]}"
    sep = "&" if "?" in PG_URL else "?"
    try:
        yield f"{PG_URL}{sep}schema={schema}"
    finally:
        with psycopg.connect(PG_URL, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'ledger.db'}"


def new_span_id() -> str:
    return f"{next(_ids):016x}"


def price(model: str, usage: Usage) -> Cost:
    """Exact cost of ``usage`` at RATES (list = effective); unknown model -> unpriced."""
    if model not in RATES:
        return Cost(Decimal(0), Decimal(0), "unpriced", unpriced_reason="unknown_model", model=model)
    r_in, r_cr, r_cw, r_out = RATES[model]
    cr = usage.cache_read_tokens or 0
    cw = usage.cache_write_tokens or 0
    quantities = {
        "input": (usage.input_tokens or 0) - cr - cw,
        "cache_read": cr,
        "cache_write_5m": cw,
        "output": usage.output_tokens or 0,
    }
    rates = {"input": r_in, "cache_read": r_cr, "cache_write_5m": r_cw, "output": r_out}
    buckets = tuple(
        BucketCost(b, q, rates[b], q * rates[b] / Decimal(1_000_000), rates[b], q * rates[b] / Decimal(1_000_000))
        for b, q in quantities.items()
        if q
    )
    total = sum((b.amount for b in buckets), Decimal(0))
    savings = cr * (r_in - r_cr) / Decimal(1_000_000)
    return Cost(total, total, "list", buckets, cache_savings=savings, data_version="test-1", model=model)


def call(
    *,
    trace_id: str | None = None,
    span_id: str | None = None,
    response_id: str | None = "resp",
    provider: str = "anthropic",
    model: str = "claude-sonnet-4-5",
    input_tokens: int | None = 1000,
    output_tokens: int | None = 100,
    cache_read: int | None = None,
    cache_write: int | None = None,
    task_id: str | None = "task-1",
    task_type: str | None = "review",
    team: str | None = "secops",
    dialect: str = "llm_otel",
    start_ns: int = T0,
    error_type: str | None = None,
    prompt_template: str | None = None,
    cost: Cost | None = None,
) -> PricedCall:
    usage = Usage(
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        cache_read_tokens=cache_read,
        cache_write_tokens=cache_write,
    )
    record = CallRecord(
        trace_id=trace_id or uuid.uuid4().hex,
        span_id=span_id or new_span_id(),
        start_ns=start_ns,
        end_ns=start_ns + 1_000_000,
        provider=provider,
        operation="chat",
        request_model=model,
        response_model=model,
        response_id=response_id,
        usage=usage,
        dialect=dialect,
        task_id=task_id,
        task_type=task_type,
        team=team,
        error_type=error_type,
        prompt_template=prompt_template,
    )
    return PricedCall(record, cost if cost is not None else price(model, usage))


def workload(seed: int, responses: int, plain: int, tasks: int = 7) -> list[PricedCall]:
    """Deterministic traffic with duplicates built in: each response reported by three
    instrumentations of different richness, plus calls that carry no response id."""
    import random

    rnd = random.Random(seed)
    out = []
    for i in range(responses):
        task = f"task-{i % tasks}"
        inp, cr, outp = rnd.randint(100, 50_000), rnd.randint(0, 90), rnd.randint(1, 4000)
        cached = inp * cr // 100
        model = rnd.choice(["claude-sonnet-4-5", "gpt-4o"])
        provider = "anthropic" if model.startswith("claude") else "openai"
        common = {
            "response_id": f"resp-{i}",
            "model": model,
            "provider": provider,
            "input_tokens": inp,
            "output_tokens": outp,
            "start_ns": T0 + i,
        }
        out.append(call(trace_id=f"{i:032x}", span_id=f"{1:016x}", cache_read=cached, task_id=task, **common))
        out.append(
            call(
                trace_id=f"{i:032x}",
                span_id=f"{2:016x}",
                dialect="openlit",
                task_id=None,
                task_type=None,
                team=None,
                **common,
            )
        )
        out.append(
            call(
                trace_id=f"{i:032x}",
                span_id=f"{3:016x}",
                dialect="openinference",
                cache_read=cached,
                task_id=task,
                **common,
            )
        )
    for j in range(plain):
        out.append(
            call(
                trace_id=f"{10**6 + j:032x}",
                span_id=f"{1:016x}",
                response_id=None,
                input_tokens=rnd.randint(1, 9999),
                task_id=f"task-{j % tasks}",
                start_ns=T0 + j,
            )
        )
    return out


def replay(url: str, calls: list[PricedCall], seed: int, batch: int, replica: str = "") -> dict:
    """One replica: deliver ``calls`` in a shuffled order, in batches; return the sum of its deltas
    (and check they equal the replica's own persisted totals)."""
    import random

    from llm_otel.processor.ledger import open_ledger

    order = list(calls)
    random.Random(seed).shuffle(order)
    total: dict = {}
    with open_ledger(url, replica=replica) as led:
        for k in range(0, len(order), batch):
            for o in led.record_calls(order[k : k + batch]):
                for key, v in o.delta.items():
                    total[key] = total.get(key, Decimal(0)) + v
        total = {k: v for k, v in total.items() if v}
        assert flat_totals(led) == total, "a replica's own totals differ from the deltas it returned"
    return total


def recomputed_totals(ledger: object) -> dict:
    """Counter totals recomputed from the counted call rows: must equal ``ledger.totals()``."""
    from dataclasses import asdict

    from llm_otel.processor.ledger.rows import add_into, contributions

    out: dict = {}
    for row in ledger.iter_calls(0, 2**63 - 1):  # type: ignore[attr-defined]
        add_into(out, contributions(asdict(row)).counters)
    return out


def flat_totals(ledger: object, *, all_replicas: bool = False) -> dict:
    series = ledger.totals(all_replicas=all_replicas).items()  # type: ignore[attr-defined]
    return {(m, labels): v for m, s in series for labels, v in s.items()}
