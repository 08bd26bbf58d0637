"""Builds real ledger rows for analysis tests: CallRecords priced and written to a SQLite ledger."""

from __future__ import annotations

import itertools
from datetime import datetime, timezone
from pathlib import Path

from llm_otel.pricing import Usage, price
from llm_otel.processor.ledger import CallRow, Ledger, PricedCall, open_ledger
from llm_otel.processor.record import CallRecord

_ids = itertools.count(1)
T0 = 1_780_000_000_000_000_000


def call(
    task_id: str,
    *,
    input_tokens: int,
    output_tokens: int = 100,
    cache_read: int = 0,
    error: str | None = None,
    tools_bytes: int | None = None,
    messages: int | None = None,
    model: str = "gpt-4o-mini",
    offset_ms: int = 0,
) -> CallRecord:
    n = next(_ids)
    return CallRecord(
        trace_id=f"{n:032x}",
        span_id=f"{n:016x}",
        start_ns=T0 + offset_ms * 1_000_000,
        end_ns=T0 + (offset_ms + 5) * 1_000_000,
        provider="openai",
        operation="chat",
        request_model=model,
        response_model=model,
        response_id=f"chatcmpl-{n}",
        usage=Usage(input_tokens=input_tokens, output_tokens=output_tokens, cache_read_tokens=cache_read),
        dialect="llm_otel",
        error_type=error,
        task_id=task_id,
        task_type="t",
        team="x",
        tools_bytes=tools_bytes,
        messages_count=messages,
    )


def write(ledger: Ledger, records: list[CallRecord]) -> list[CallRow]:
    at = datetime.fromtimestamp(T0 / 1e9, timezone.utc)
    priced = [PricedCall(r, price(r.usage, provider=r.provider, model=r.model or "", at=at)) for r in records]
    ledger.record_calls(priced)
    return ledger.calls_for_task(records[0].task_id or "")


def sqlite_ledger(tmp_path: Path) -> Ledger:
    return open_ledger(f"sqlite:///{tmp_path / 'ledger.db'}")
