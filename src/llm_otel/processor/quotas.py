"""Quotas: month-to-date use per (team, task type) from the ledger, served at ``GET /v1/quotas``.

The state is computed from the ledger, not from this process's counters, so every replica
sharing one PostgreSQL ledger serves the same numbers. It is recomputed at most once per
``quota-ttl-s`` (one grouped query over this month's counted calls) however many SDKs poll.
The SDK (``llm_otel.sdk.quota``) polls it in the background and enforces it before each call.
Response shape (docs/processor.md#quotas)::

    {"quotas": [{"team": "secops", "task_type": null, "limit_usd": 500.0, "used_usd": 12.5,
                 "mode": "hard", "exceeded": false, "period": "2026-11"}, ...],
     "as_of": "2026-11-30T07:30:00Z"}
"""

from __future__ import annotations

import asyncio
import calendar
import hmac
import json
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from llm_otel.processor.config import Quota
from llm_otel.processor.http11 import Request, Response
from llm_otel.processor.ledger.dialect import EXACT, Cursor, Dialect

log = logging.getLogger("llm_otel.processor.quotas")

QUOTAS_PATH = "/v1/quotas"
UNATTRIBUTED = "unattributed"
JSON = "application/json"


@dataclass(frozen=True, slots=True)
class Usage:
    """Month-to-date spend and billed tokens of one (team, task type) as the ledger has it."""

    usd: Decimal
    tokens: int


def month_bounds(now_s: float) -> tuple[str, int, int]:
    """The UTC calendar month containing ``now_s``: ("YYYY-MM", start ns, end ns), end exclusive."""
    t = time.gmtime(now_s)
    start = calendar.timegm((t.tm_year, t.tm_mon, 1, 0, 0, 0))
    ny, nm = (t.tm_year + 1, 1) if t.tm_mon == 12 else (t.tm_year, t.tm_mon + 1)
    end = calendar.timegm((ny, nm, 1, 0, 0, 0))
    return f"{t.tm_year:04d}-{t.tm_mon:02d}", start * 1_000_000_000, end * 1_000_000_000


def usage_by_team_task_type(cur: Cursor, d: Dialect, since_ns: int, until_ns: int) -> dict[tuple[str, str], Usage]:
    """Counted calls started in ``[since, until)`` summed per (team, task type); None is ``unattributed``.

    Tokens are billed tokens: uncached input + cache reads + cache writes + output, plus
    Anthropic iterations. Cost is ``cost_total`` summed exactly (SQLite: ``dec_sum``).
    """
    cost = "dec_sum(cost_total)" if d.name == "sqlite" else "SUM(cost_total)"
    tokens = " + ".join(
        f"COALESCE({c}, 0)"
        for c in (
            "tokens_input", "tokens_cache_read", "tokens_cache_write", "tokens_output",
            "tokens_iterations_input", "tokens_iterations_cache_read", "tokens_iterations_cache_write",
            "tokens_iterations_output",
        )
    )  # fmt: skip
    cur.execute(
        d.sql(
            f"SELECT team, task_type, {cost} AS usd, SUM({tokens}) AS tokens FROM ledger_calls "
            "WHERE counted AND start_ns >= ? AND start_ns < ? GROUP BY team, task_type"
        ),
        (since_ns, until_ns),
    )
    out: dict[tuple[str, str], Usage] = {}
    for r in cur.fetchall():
        key = (r["team"] or UNATTRIBUTED, r["task_type"] or UNATTRIBUTED)
        usd = d.dec(r["usd"]) if r["usd"] is not None else Decimal(0)
        prev = out.get(key)
        if prev is not None:  # null and "unattributed" land on the same key
            usd, toks = EXACT.add(prev.usd, usd), prev.tokens + int(r["tokens"] or 0)
        else:
            toks = int(r["tokens"] or 0)
        out[key] = Usage(usd, toks)
    return out


def quota_state(quotas: Sequence[Quota], usage: dict[tuple[str, str], Usage], period: str) -> list[dict[str, Any]]:
    """One JSON-ready entry per quota: its limit, what is used, and whether it is spent (used >= limit)."""
    out = []
    for q in quotas:
        used_usd, used_tokens = Decimal(0), 0
        for (team, task_type), u in usage.items():
            if team == q.team and (q.task_type is None or task_type == q.task_type):
                used_usd = EXACT.add(used_usd, u.usd)
                used_tokens += u.tokens
        used: float | int = float(used_usd) if q.unit == "usd" else used_tokens
        limit: float | int = q.limit if q.unit == "usd" else int(q.limit)
        out.append(
            {
                "team": q.team,
                "task_type": q.task_type,
                f"limit_{q.unit}": limit,
                f"used_{q.unit}": used,
                "mode": q.mode,
                "exceeded": used >= limit,
                "period": period,
            }
        )
    return out


class QuotaBoard:
    """Serves ``GET /v1/quotas``: the quotas' live state, recomputed from the ledger at most every ``ttl_s``.

    Authenticated like the OTLP endpoints (the same bearer token, compared in constant time).
    A ledger failure answers 503 (the SDK keeps its last good state: it fails open).
    """

    def __init__(
        self,
        ledger: Any,
        quotas: Sequence[Quota],
        *,
        ttl_s: float = 5.0,
        auth_token: str | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.ledger = ledger
        self.quotas = tuple(quotas)
        self.ttl_s = ttl_s
        self.expected_auth = f"Bearer {auth_token}".encode() if auth_token else None
        self.clock = clock
        self._body: bytes | None = None
        self._expires = 0.0
        self._lock = asyncio.Lock()

    def compute(self) -> dict[str, Any]:
        """The state now, straight from the ledger (blocking: one read transaction)."""
        now = self.clock()
        period, lo, hi = month_bounds(now)
        usage: dict[tuple[str, str], Usage] = {}
        if self.quotas:
            # The ledger's own transaction runner: its lock, retries and reconnects.
            usage = self.ledger._run(
                lambda cur: usage_by_team_task_type(cur, self.ledger.dialect, lo, hi), readonly=True
            )
        as_of = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now))
        return {"quotas": quota_state(self.quotas, usage, period), "as_of": as_of, "period": period}

    async def body(self) -> bytes:
        """The cached JSON body, recomputed off the event loop when older than ``ttl_s``."""
        async with self._lock:  # concurrent pollers share one recomputation
            if self._body is None or time.monotonic() >= self._expires:
                state = await asyncio.get_running_loop().run_in_executor(None, self.compute)
                self._body = json.dumps(state, separators=(",", ":")).encode()
                self._expires = time.monotonic() + self.ttl_s
            return self._body

    async def handle(self, req: Request) -> Response:
        if req.method != "GET":
            return Response(405, b"use GET\n")
        if self.expected_auth is not None:
            got = req.headers.get("authorization", "").encode("latin-1", "replace")
            if not hmac.compare_digest(got, self.expected_auth):
                return Response(401, b'{"error":"missing or wrong bearer token"}', JSON)
        try:
            return Response(200, await self.body(), JSON, [("Cache-Control", "no-store")])
        except Exception as exc:
            log.warning("quota state unavailable", extra={"error": f"{type(exc).__name__}: {exc}"[:300]})
            return Response(503, b'{"error":"quota state unavailable: ledger failing"}', JSON)

    def route(self, inner: Callable[[Request], Awaitable[Response]]) -> Callable[[Request], Awaitable[Response]]:
        """``inner`` with ``/v1/quotas`` answered here (to serve quotas beside the OTLP receiver)."""

        async def handler(req: Request) -> Response:
            if req.path.split("?", 1)[0] == QUOTAS_PATH:
                return await self.handle(req)
            return await inner(req)

        return handler
