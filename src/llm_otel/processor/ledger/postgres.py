"""PostgreSQL backend (psycopg 3): exact NUMERIC money, row locks for replicas sharing one ledger.

URL: any libpq ``postgresql://`` URL; an extra query parameter ``schema=NAME`` puts the
ledger's tables in that schema (created if missing). Durability: a commit returns after
the WAL is flushed as long as the server keeps ``synchronous_commit`` on (its default);
the ledger refuses to run with it off rather than answer exporters success too early.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import psycopg
from psycopg import errors
from psycopg.rows import dict_row

from llm_otel.processor.ledger.dialect import Cursor, Dialect, LedgerError, Row, to_pyformat

# Any fixed key works; it only has to be the same for every llm-otel process.
_MIGRATION_LOCK_KEY = 0x6C6C6D6F74656C  # "llmotel"
_SCHEMA_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")


class PostgresDialect(Dialect):
    name = "postgresql"
    dec_type = "NUMERIC"
    float_type = "DOUBLE PRECISION"
    for_update = " FOR UPDATE"
    enc_is_identity = True

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        query = parse_qsl(parts.query)
        schema = [v for k, v in query if k == "schema"]
        self.schema = schema[-1] if schema else None
        if self.schema is not None and not _SCHEMA_NAME.match(self.schema):
            raise ValueError(f"ledger URL: schema must be a plain SQL identifier, got {self.schema!r}")
        rest = [(k, v) for k, v in query if k != "schema"]
        self.conninfo = urlunsplit(parts._replace(query=urlencode(rest)))

    def sql(self, query: str) -> str:
        return to_pyformat(query)

    def add(self, a: str, b: str) -> str:
        return f"({a} + {b})"

    def enc(self, value: Decimal) -> Decimal:
        return value

    def dec(self, value: Any) -> Decimal:
        return value if isinstance(value, Decimal) else Decimal(value)

    def connect(self) -> psycopg.Connection[Any]:
        try:
            conn = psycopg.connect(self.conninfo, autocommit=True, row_factory=dict_row)
        except psycopg.OperationalError as exc:
            raise LedgerError(f"cannot connect to the PostgreSQL ledger: {exc}".strip()) from exc
        row = conn.execute("SHOW synchronous_commit").fetchone()
        if row and str(next(iter(row.values()))).lower() == "off":
            conn.close()
            raise LedgerError(
                "PostgreSQL has synchronous_commit=off: commits would not be durable when the "
                "processor answers Export success; set it to on for the ledger's database or role"
            )
        if self.schema:
            if not self._schema_exists(conn):
                with contextlib.suppress(errors.UniqueViolation):  # another replica created it just now
                    conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{self.schema}"')
            conn.execute(f'SET search_path TO "{self.schema}"')
        return conn

    def _schema_exists(self, conn: psycopg.Connection[Any]) -> bool:
        row = conn.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s", (self.schema,)).fetchone()
        return row is not None

    @contextmanager
    def transaction(self, conn: psycopg.Connection[Any], *, readonly: bool = False) -> Iterator[Cursor]:
        with conn.transaction(), conn.cursor() as cur:
            yield cur

    def retryable(self, exc: BaseException) -> bool:
        return isinstance(
            exc,
            (errors.DeadlockDetected, errors.SerializationFailure, errors.LockNotAvailable),
        )

    def broken(self, conn: Any) -> bool:
        return bool(conn.closed or conn.broken)

    def migration_lock(self, cur: Cursor) -> None:
        cur.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATION_LOCK_KEY,))

    def table_exists(self, cur: Cursor, name: str) -> bool:
        cur.execute("SELECT to_regclass(%s) IS NOT NULL AS x", (name,))
        row = cur.fetchone()
        return bool(row and row["x"])

    def upsert_rows(
        self, cur: Cursor, head: str, tail: str, rows: Sequence[Sequence[Any]], types: Sequence[str]
    ) -> list[Row]:
        """All rows in one statement: one array parameter per column, ``unnest`` back to rows.

        Hot path: one round trip and ~no per-row driver work, where executemany costs a
        statement per row and multi-row VALUES makes psycopg parse tens of thousands of
        placeholders. ``ORDER BY ord`` keeps the caller's (sorted) row order = lock order.
        """
        if not rows:
            return []
        names = [f"c{i}" for i in range(len(types))]
        arrays = ", ".join(f"%b::{t}[]" for t in types)
        query = (
            f"{head} SELECT {', '.join(names)} FROM unnest({arrays}) WITH ORDINALITY "
            f"AS u({', '.join(names)}, ord) ORDER BY ord {tail}"
        )
        cur.execute(query, [list(col) for col in zip(*rows, strict=True)])
        return cur.fetchall() if cur.description is not None else []
