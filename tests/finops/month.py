"""A generated month of ledger data with known totals, written through the real ledger API."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

from llm_otel.pricing import Usage, price
from llm_otel.processor.ledger import PricedCall, open_ledger
from llm_otel.processor.record import CallRecord, TaskSpanRecord

MONTH_START = datetime(2026, 10, 1, tzinfo=timezone.utc)
TEAMS = {"secops": ("policy-review", "gpt-4o-mini", "openai"), "support": ("ticket-triage", "claude-haiku-4-5",
                                                                         "anthropic")}


@dataclass
class Truth:
    spend: dict[tuple[str, str], Decimal] = field(default_factory=dict)
    tasks: dict[tuple[str, str], int] = field(default_factory=dict)
    calls: dict[tuple[str, str], int] = field(default_factory=dict)
    task_costs: dict[tuple[str, str], list[Decimal]] = field(default_factory=dict)
    cache_read: int = 0
    inclusive_input: int = 0
    unattributed: Decimal = Decimal(0)


def write_month(path: Path, *, seed: int = 11, days: int = 30) -> tuple[str, Truth]:
    url = f"sqlite:///{path}"
    rng = random.Random(seed)
    truth = Truth()
    n = 0
    with open_ledger(url) as ledger:
        for day in range(days):
            base = MONTH_START + timedelta(days=day, hours=9)
            for team, (task_type, model, provider) in TEAMS.items():
                for t in range(rng.randint(2, 5)):
                    task_id = f"{team}-{day}-{t}"
                    start = base + timedelta(minutes=t * 7)
                    calls = []
                    for k in range(rng.randint(1, 4)):
                        n += 1
                        inp = rng.randint(800, 6000)
                        read = rng.choice([0, inp // 2])
                        usage = Usage(input_tokens=inp, output_tokens=rng.randint(50, 500), cache_read_tokens=read)
                        at = start + timedelta(seconds=k * 3)
                        rec = CallRecord(
                            trace_id=f"{n:032x}", span_id=f"{n:016x}", start_ns=int(at.timestamp() * 1e9),
                            end_ns=int(at.timestamp() * 1e9) + 10**9, provider=provider, operation="chat",
                            request_model=model, response_model=model, response_id=f"r-{n}", usage=usage,
                            dialect="llm_otel", task_id=task_id, task_type=task_type, team=team,
                        )
                        cost = price(usage, provider=provider, model=model, at=at)
                        calls.append(PricedCall(rec, cost))
                        key = (team, task_type)
                        truth.spend[key] = truth.spend.get(key, Decimal(0)) + cost.total
                        truth.calls[key] = truth.calls.get(key, 0) + 1
                        truth.cache_read += read
                        truth.inclusive_input += inp
                    ledger.record_calls(calls)
                    status = "error" if rng.random() < 0.1 else "ok"
                    ledger.upsert_task_span(TaskSpanRecord(
                        trace_id=calls[0].record.trace_id, span_id=f"{n + 10**9:016x}", task_id=task_id,
                        task_type=task_type, team=team, status=status,
                        start_ns=int(start.timestamp() * 1e9), end_ns=int(start.timestamp() * 1e9) + 20 * 10**9,
                    ))
                    ledger.finalize_task(task_id)
                    key = (team, task_type)
                    truth.tasks[key] = truth.tasks.get(key, 0) + 1
                    truth.task_costs.setdefault(key, []).append(sum((c.cost.total for c in calls), Decimal(0)))
            # One unattributed call a day.
            n += 1
            at = base + timedelta(hours=3)
            usage = Usage(input_tokens=1000, output_tokens=100)
            rec = CallRecord(trace_id=f"{n:032x}", span_id=f"{n:016x}", start_ns=int(at.timestamp() * 1e9),
                             end_ns=int(at.timestamp() * 1e9) + 10**9, provider="openai", operation="chat",
                             request_model="gpt-4o-mini", response_model="gpt-4o-mini", response_id=f"r-{n}",
                             usage=usage, dialect="llm_otel")
            cost = price(usage, provider="openai", model="gpt-4o-mini", at=at)
            ledger.record_calls([PricedCall(rec, cost)])
            truth.unattributed += cost.total
            truth.inclusive_input += 1000
    return url, truth
