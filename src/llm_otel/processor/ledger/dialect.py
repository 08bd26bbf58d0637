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


_CLAIM_HEAD = "INSERT INTO ledger_responses (provider, response_id, trace_id, span_id, richness, start_ns)"
# The no-op DO UPDATE locks an existing arbiter row and returns it: one statement for "claim or read".
_CLAIM_TAIL = (
    "ON CONFLICT (provider, response_id) DO UPDATE SET provider = excluded.provider "
    "RETURNING provider, response_id, trace_id, span_id, richness"
)
_CLAIM_TYPES = ("text", "text", "text", "text", "bigint", "bigint")


class LedgerError(RuntimeError):
    """The ledger could not complete a write; nothing of the failed transaction was kept."""


class Dialect(ABC):
    """One database backend: how to connect, run a transaction, and spell the few things that differ."""

    name: str
    dec_type: str
    float_type: str
    for_update: str
    enc_is_identity = False  # the driver takes Decimal as is (skip per-value encoding)

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
    def transaction(self, conn: Any, *, readonly: bool = False) -> AbstractContextManager[Cursor]:
        """A transaction; commits durably on exit, rolls back on an exception.

        ``readonly``: the body only reads (SQLite then does not take the write lock)."""

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

    def upsert_rows(
        self, cur: Cursor, head: str, tail: str, rows: Sequence[Sequence[Any]], types: Sequence[str]
    ) -> list[Row]:
        """Run ``{head} VALUES (?, ...) {tail}`` for every row, rows in the given order (that is the
        lock order); returns every RETURNING row, in no promised order (map them by key).

        ``types`` are the PostgreSQL column types (``text``, ``bigint``, ``numeric``, ``boolean``).
        This version runs one statement per row; PostgreSQL overrides it with one ``unnest``.
        """
        if not rows:
            return []
        q = self.sql(f"{head} VALUES ({', '.join('?' * len(rows[0]))}) {tail}")
        out: list[Row] = []
        for r in rows:
            cur.execute(q, r)
            out.extend(cur.fetchall())
        return out

    def insert_new(
        self,
        cur: Cursor,
        insert_head: str,
        keys: Sequence[tuple[str, str]],
        rows: Sequence[Sequence[Any]],
        types: Sequence[str],
    ) -> list[bool]:
        """Insert call rows unless their (trace id, span id) exists; True per row inserted.

        ``ON CONFLICT DO NOTHING``: the conflict check and the insert are one statement, so this
        is correct under concurrent writers (a concurrent insert of the same key waits for the
        other transaction, then counts as a conflict).
        """
        tail = "ON CONFLICT (trace_id, span_id) DO NOTHING RETURNING trace_id, span_id"
        inserted = {(r["trace_id"], r["span_id"]) for r in self.upsert_rows(cur, insert_head, tail, rows, types)}
        return [k in inserted for k in keys]

    def claim_responses(self, cur: Cursor, rows: Sequence[Sequence[Any]]) -> list[Row]:
        """Claim-or-read the arbiter row of each (provider, response id, trace id, span id, richness,
        start); returns the row now holding each key (locked until commit), in no promised order."""
        return self.upsert_rows(cur, _CLAIM_HEAD, _CLAIM_TAIL, rows, _CLAIM_TYPES)

    def many(self, cur: Cursor, query: str, rows: Sequence[Sequence[Any]]) -> None:
        if rows:
            cur.executemany(self.sql(query), rows)


@lru_cache(maxsize=256)
def to_pyformat(query: str) -> str:
    """``?`` placeholders to psycopg's ``%s`` (the shared SQL never contains a literal ``?`` or ``%``)."""
    return query.replace("%", "%%").replace("?", "%s")
