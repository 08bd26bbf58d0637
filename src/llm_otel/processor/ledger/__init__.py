"""The ledger: a durable, exactly-once record of priced LLM calls and tasks (SQLite or PostgreSQL).

``open_ledger(url)`` is the entry point; docs/ledger.md is the schema reference. The processor
writes through :meth:`Ledger.record_calls` and the task methods; the FinOps layer reads
through the query methods (``iter_calls``, ``iter_tasks``, ``totals``).
"""

from __future__ import annotations

from llm_otel.processor.ledger.core import Ledger, to_ns
from llm_otel.processor.ledger.dialect import Dialect, LedgerError
from llm_otel.processor.ledger.model import (
    ANOMALY_KINDS,
    COUNTER_LABELS,
    CallOutcome,
    CallRow,
    CounterDelta,
    PricedCall,
    TaskEconomics,
    TaskRow,
    TaskSpanOutcome,
    better,
    richness,
)
from llm_otel.processor.ledger.schema import CURRENT_VERSION, SchemaTooNew


def open_ledger(url: str, *, retention_days: int | None = None, replica: str = "") -> Ledger:
    """Open (creating and migrating as needed) the ledger at ``url``.

    ``sqlite:///relative/path.db``, ``sqlite:////absolute/path.db`` (query ``?synchronous=normal``
    trades power-loss durability for speed), or ``postgresql://user@host:port/db`` (query
    ``?schema=NAME`` to use a schema other than the role's search_path). ``retention_days``:
    call rows older than that are deleted by :meth:`Ledger.apply_retention` and calls that
    old are no longer accepted; tasks and counter totals are kept forever. ``replica``: this
    processor's stable identity when several share one ledger (e.g. the pod name of a
    StatefulSet; the same identity Prometheus scrapes it as): counter totals are kept per
    replica so each resumes its own after a restart.
    """
    return Ledger(dialect_for(url), retention_days=retention_days, replica=replica)


def dialect_for(url: str) -> Dialect:
    """The backend for a ledger URL (without connecting)."""
    if url.startswith("sqlite:"):
        from llm_otel.processor.ledger.sqlite import SQLiteDialect

        return SQLiteDialect(url)
    elif url.startswith(("postgresql://", "postgres://")):
        from llm_otel.processor.ledger.postgres import PostgresDialect

        return PostgresDialect(url)
    raise ValueError(f"ledger URL {url!r}: expected sqlite:///PATH or postgresql://USER@HOST:PORT/DB")


__all__ = [
    "ANOMALY_KINDS",
    "COUNTER_LABELS",
    "CURRENT_VERSION",
    "CallOutcome",
    "CallRow",
    "CounterDelta",
    "Ledger",
    "LedgerError",
    "PricedCall",
    "SchemaTooNew",
    "TaskEconomics",
    "TaskRow",
    "TaskSpanOutcome",
    "better",
    "dialect_for",
    "open_ledger",
    "richness",
    "to_ns",
]
