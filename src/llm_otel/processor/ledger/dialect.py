"""The small differences between SQLite and PostgreSQL, behind one interface the shared SQL uses.

Shared SQL is written with ``?`` placeholders, ``{dec}``/``{float}`` column types in DDL,
and :meth:`Dialect.add` for exact decimal addition. Everything else (ON CONFLICT,
RETURNING, COALESCE, CASE) is spelled the same on both.
"""

from __future__ import annotations

import decimal
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager
from decimal import Decimal
from functools import lru_cache
from typing import Any

Cursor = Any  # sqlite3.Cursor or psycopg.Cursor with dict rows
Row = dict[str, Any]

#: Decimal arithmetic done in Python (SQLite sums, deltas) must never round: 80 digits, and
#: an exception rather than a silently rounded amount.
EXACT = decimal.Context(prec=80, traps=[decimal.Inexact, decimal.InvalidOperation, decimal.Overflow])


def exact_sum(values: Iterator[Decimal] | Sequence[Decimal]) -> Decimal:
    """Sum Decimals with no rounding (raises ``decimal.Inexact`` rather than round)."""
    total = Decimal(0)
    for v in values:
        total = EXACT.add(total, v)
    return total


class LedgerError(RuntimeError):
    """The ledger could not complete a write; nothing of the failed transaction was kept."""


class Dialect(ABC):
    """One database backend: how to connect, run a transaction, and spell the few things that differ."""

    name: str
    dec_type: str
    float_type: str
    for_update: str

    def ddl(self, stmt: str) -> str:
        return stmt.format(dec=self.dec_type, float=self.float_type)

    def sql(self, query: str) -> str:
        return query

    @abstractmethod
    def add(self, a: str, b: str) -> str:
        """SQL expression for the exact sum of two decimal columns/expressions."""

    @abstractmethod
    def enc(self, value: Decimal) -> Any:
        """A Decimal as the driver must receive it for a ``{dec}`` column."""

    @abstractmethod
    def dec(self, value: Any) -> Decimal:
        """A ``{dec}`` column value as the driver returned it, as Decimal."""

    @abstractmethod
    def connect(self) -> Any: ...

    @abstractmethod
    def transaction(self, conn: Any) -> AbstractContextManager[Cursor]:
        """A write transaction; commits durably on exit, rolls back on an exception."""

    @abstractmethod
    def retryable(self, exc: BaseException) -> bool:
        """True for errors that a fresh attempt of the same transaction may not meet (deadlock, busy)."""

    @abstractmethod
    def broken(self, conn: Any) -> bool:
        """True when the connection is unusable and must be reopened."""

    @abstractmethod
    def migration_lock(self, cur: Cursor) -> None:
        """Serialize schema migration between processes sharing the database."""

    @abstractmethod
    def table_exists(self, cur: Cursor, name: str) -> bool: ...

    def many_returning(self, cur: Cursor, query: str, rows: Sequence[Sequence[Any]]) -> list[Row | None]:
        """Run ``query`` once per row, in order; return each run's first RETURNING row (or None)."""
        out: list[Row | None] = []
        q = self.sql(query)
        for r in rows:
            cur.execute(q, r)
            out.append(cur.fetchone())
        return out

    def many(self, cur: Cursor, query: str, rows: Sequence[Sequence[Any]]) -> None:
        if rows:
            cur.executemany(self.sql(query), rows)


@lru_cache(maxsize=256)
def to_pyformat(query: str) -> str:
    """``?`` placeholders to psycopg's ``%s`` (the shared SQL never contains a literal ``?`` or ``%``)."""
    return query.replace("%", "%%").replace("?", "%s")
