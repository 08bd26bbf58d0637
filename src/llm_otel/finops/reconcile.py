"""``llm-otel reconcile``: the ledger's estimate against the provider's bill, per day, model and workspace.

The bill comes from the providers' organization cost reports, read through their official
clients' admin resources, or from CSV exports (``finops.bill_sources``). Both sides are reduced to
``(UTC day, billing provider, model family, workspace)`` keys and compared:
``drift = ledger - bill`` (positive: the ledger estimates more than was billed) and
``drift_ratio = drift / bill``.

Models are compared without their dated snapshot suffix (``gpt-4o-mini-2024-07-18`` and
``gpt-4o-mini`` are one model), because bills and spans name snapshots differently.
Workspaces (Anthropic) and projects (OpenAI) are the provider's; the ledger knows teams. With a
workspace map (``{workspace or project id: team}``) each ledger call is put in its team's
workspace (``unmapped`` when its team has none); without one, both sides are compared per
day and model only (workspace ``*``).

Usage reports, when read, add token counts to the same keys (``bill_tokens`` against the ledger's
``ledger_tokens``): token drift means calls missing from (or doubled in) the ledger, cost drift
with matching tokens means prices. Money is Decimal; the ledger side is the calls' effective
cost (contracts applied, committed capacity at its marginal price: the commitment's fee is not a
per-call charge).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from decimal import Decimal
from typing import Any

from llm_otel.finops.focus import model_family
from llm_otel.processor.ledger import CallRow

SCHEMA = "llm-otel.reconcile/1"
ZERO = Decimal(0)
ALL = "*"
UNMAPPED = "unmapped"


@dataclass(frozen=True)
class BillLine:
    """One line of a provider's cost report: a day's cost of one model (or line item) in one workspace."""

    day: date
    provider: str  # billing entity: openai, anthropic
    model: str  # as billed; "unknown" for non-model costs (web search, code execution, ...)
    workspace: str | None  # Anthropic workspace id / OpenAI project id; None when not reported
    cost_usd: Decimal
    tokens: int | None = None  # from a usage report (then cost_usd is 0): billed tokens, input inclusive + output


@dataclass
class DriftRow:
    day: str
    provider: str
    model: str
    workspace: str
    ledger_usd: Decimal = ZERO
    bill_usd: Decimal = ZERO
    ledger_calls: int = 0
    ledger_tokens: int = 0
    bill_tokens: int | None = None  # None: no usage report for this row's provider

    @property
    def token_drift_ratio(self) -> float | None:
        """(ledger - bill) / bill tokens: calls the ledger missed (or double-counted) show here, not prices."""
        if not self.bill_tokens:
            return None
        return (self.ledger_tokens - self.bill_tokens) / self.bill_tokens

    @property
    def drift_usd(self) -> Decimal:
        return self.ledger_usd - self.bill_usd

    @property
    def drift_ratio(self) -> float | None:
        return float(self.drift_usd / self.bill_usd) if self.bill_usd else None


@dataclass
class Reconciliation:
    since: datetime
    until: datetime
    sources: list[str]
    tolerance: float
    rows: list[DriftRow] = field(default_factory=list)

    def summary(self, dims: Sequence[str]) -> list[DriftRow]:
        """Rows summed over every dimension not in ``dims`` (day, provider, model, workspace)."""
        acc: dict[tuple[str, ...], DriftRow] = {}
        for r in self.rows:
            day, provider, model, workspace = (
                getattr(r, d) if d in dims else ALL for d in ("day", "provider", "model", "workspace"))
            key = (day, provider, model, workspace)
            s = acc.get(key)
            if s is None:
                s = acc[key] = DriftRow(day, provider, model, workspace)
            s.ledger_usd += r.ledger_usd
            s.bill_usd += r.bill_usd
            s.ledger_calls += r.ledger_calls
            s.ledger_tokens += r.ledger_tokens
            if r.bill_tokens is not None:
                s.bill_tokens = (s.bill_tokens or 0) + r.bill_tokens
        return [acc[k] for k in sorted(acc)]

    def over_tolerance(self, row: DriftRow) -> bool:
        """Drift beyond ``tolerance`` x bill (any drift on a line the bill does not have)."""
        if not row.bill_usd:
            return row.ledger_usd != 0
        return abs(row.drift_usd) > Decimal(str(self.tolerance)) * abs(row.bill_usd)


def _day(ns: int) -> str:
    return datetime.fromtimestamp(ns / 1e9, timezone.utc).date().isoformat()


def reconcile(
    bill: Iterable[BillLine],
    calls: Iterable[CallRow],
    *,
    since: datetime,
    until: datetime,
    sources: Sequence[str] = (),
    workspace_map: Mapping[str, str] | None = None,
    tolerance: float = 0.02,
) -> Reconciliation:
    """Drift per (day, provider, model family, workspace) between ledger calls and bill lines.

    Only providers that appear in the bill are compared (a ledger with Azure calls reconciled
    against the OpenAI bill does not count the Azure calls as drift).
    """
    team_workspace: dict[str, str] = {}
    for workspace, team in (workspace_map or {}).items():
        team_workspace.setdefault(team, workspace)
    by_workspace = bool(workspace_map)
    rows: dict[tuple[str, str, str, str], DriftRow] = {}

    def row(day: str, provider: str, model: str, workspace: str) -> DriftRow:
        key = (day, provider, model, workspace)
        r = rows.get(key)
        if r is None:
            r = rows[key] = DriftRow(*key)
        return r

    providers: set[str] = set()
    token_providers: set[str] = set()
    for line in bill:
        day_start = datetime(line.day.year, line.day.month, line.day.day, tzinfo=timezone.utc)
        if not (since.date() <= line.day and day_start < until):  # the bill's days that overlap the period
            continue
        providers.add(line.provider)
        workspace = (line.workspace or "default") if by_workspace else ALL
        r = row(line.day.isoformat(), line.provider, model_family(line.model), workspace)
        r.bill_usd += line.cost_usd
        if line.tokens is not None:
            token_providers.add(line.provider)
            r.bill_tokens = (r.bill_tokens or 0) + line.tokens
    for call in calls:
        provider = call.billing_provider or call.provider
        if provider not in providers:
            continue
        workspace = team_workspace.get(call.team or "", UNMAPPED) if by_workspace else ALL
        model = model_family(call.priced_model or call.model or "unknown")
        r = row(_day(call.start_ns), provider, model, workspace)
        r.ledger_usd += call.cost_total  # 0 for an unpriced call: its tokens still count below
        r.ledger_calls += 1
        r.ledger_tokens += call_tokens(call)
    for r in rows.values():
        if r.provider in token_providers and r.bill_tokens is None:
            r.bill_tokens = 0
    return Reconciliation(since, until, list(sources), tolerance, [rows[k] for k in sorted(rows)])


def call_tokens(call: CallRow) -> int:
    """Billed tokens of a ledger call: inclusive input + output, Anthropic iterations included."""
    return ((call.tokens_input or 0) + (call.tokens_cache_read or 0) + (call.tokens_cache_write or 0)
            + (call.tokens_output or 0) + call.tokens_iterations_input + call.tokens_iterations_cache_read
            + call.tokens_iterations_cache_write + call.tokens_iterations_output)


def _money(v: Decimal) -> str:
    return f"{v.quantize(Decimal('1e-9')):f}"


def row_json(rec: Reconciliation, r: DriftRow) -> dict[str, Any]:
    return {
        "day": r.day,
        "provider": r.provider,
        "model": r.model,
        "workspace": r.workspace,
        "ledger_usd": _money(r.ledger_usd),
        "bill_usd": _money(r.bill_usd),
        "drift_usd": _money(r.drift_usd),
        "drift_ratio": None if r.drift_ratio is None else round(r.drift_ratio, 6),
        "ledger_calls": r.ledger_calls,
        "ledger_tokens": r.ledger_tokens,
        "bill_tokens": r.bill_tokens,
        "token_drift_ratio": None if r.token_drift_ratio is None else round(r.token_drift_ratio, 6),
        "over_tolerance": rec.over_tolerance(r),
    }


def to_json(rec: Reconciliation) -> dict[str, Any]:
    """The ``llm-otel.reconcile/1`` document (docs/finops.md)."""
    return {
        "schema": SCHEMA,
        "since": rec.since.isoformat(),
        "until": rec.until.isoformat(),
        "sources": rec.sources,
        "tolerance": rec.tolerance,
        "totals": [row_json(rec, r) for r in rec.summary(["provider"])],
        "by_day": [row_json(rec, r) for r in rec.summary(["day", "provider"])],
        "by_model": [row_json(rec, r) for r in rec.summary(["provider", "model"])],
        "by_workspace": [row_json(rec, r) for r in rec.summary(["provider", "workspace"])],
        "rows": [row_json(rec, r) for r in rec.rows],
    }


def render_table(rec: Reconciliation) -> str:
    """Aligned tables: totals per provider, then every row; rows beyond tolerance are marked ``!``."""
    from tabulate import tabulate

    def usd(v: Decimal) -> str:
        return f"-${-v:,.4f}" if v < 0 else f"${v:,.4f}"

    def line(r: DriftRow) -> list[str]:
        ratio = "-" if r.drift_ratio is None else f"{r.drift_ratio:+.2%}"
        tokens = "-" if r.token_drift_ratio is None else f"{r.token_drift_ratio:+.2%}"
        return [r.day, r.provider, r.model, r.workspace, usd(r.ledger_usd), usd(r.bill_usd), usd(r.drift_usd),
                ratio, tokens, "!" if rec.over_tolerance(r) else ""]

    headers = ["day", "provider", "model", "workspace", "ledger", "bill", "drift", "drift %", "tokens drift %", ""]
    align = ["left"] * 4 + ["right"] * 5 + ["left"]
    out = [f"llm-otel reconcile {rec.since.date()} .. {rec.until.date()} ({', '.join(rec.sources)}; "
           f"tolerance {rec.tolerance:.1%})", ""]
    out.append(tabulate([line(r) for r in rec.summary(["provider"])], headers=headers, colalign=align,
                        disable_numparse=True))
    out += ["", tabulate([line(r) for r in rec.rows], headers=headers, colalign=align, disable_numparse=True)]
    return "\n".join(out) + "\n"
